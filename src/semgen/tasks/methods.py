"""The method registry: Semantic Genesis, its ablations, and the add-ons of the paper's Fig. 2.

| method | crops | corruption schedule | classification | restoration |
|---|---|---|---|---|
| ``semantic-genesis`` | patterns | ``semantic-genesis`` (elastic + one of four) | yes | yes |
| ``self-classification`` | patterns | ``semantic-genesis`` (as the published ``--exp en``) | yes | no |
| ``self-restoration`` | patterns | ``semantic-genesis`` | no | yes |
| ``models-genesis`` | sub-volumes | ``models-genesis`` | no | yes |
| ``inpainting`` | sub-volumes | ``inpainting`` | no | yes |
| ``context-restoration`` | sub-volumes | ``context-restoration`` | no | yes |
| ``<base>+semantics`` | patterns | the base's schedule | yes | yes |

``self-classification`` trains the classifier on corrupted crops, as the published
``--exp en`` stage does (its loader always applies the Semantic Genesis corruptions).
"""

from __future__ import annotations

from dataclasses import dataclass

# the paper (Sec. 3): "we first train classification branch for 20 epochs, then jointly"
PUBLISHED_WARMUP_EPOCHS = 20
DATA_KINDS = ("patterns", "subvolumes")


@dataclass(frozen=True, kw_only=True)
class Method:
    """One pre-training method: configuration, not code (built with keywords only).

    ``schedule`` names a corruption schedule of :data:`semgen.transforms.SCHEDULES`.
    ``data`` is ``"patterns"`` (crops of the discovered anatomical patterns, labelled by
    class; needs self-discovery) or ``"subvolumes"`` (random sub-volumes inside the body
    mask of cohort scans, unlabelled). ``warmup_epochs`` is the published number of
    epochs that train the classification branch alone before joint training (0 when the
    method has a single branch).
    """

    name: str
    schedule: str
    classification: bool
    restoration: bool
    data: str
    warmup_epochs: int = 0
    description: str

    def __post_init__(self) -> None:
        if self.data not in DATA_KINDS:
            raise ValueError(f"method {self.name}: data must be one of {', '.join(DATA_KINDS)}, got {self.data!r}")
        if not (self.classification or self.restoration):
            raise ValueError(f"method {self.name}: needs a classification or a restoration branch (or both)")
        if self.warmup_epochs and not (self.classification and self.restoration):
            raise ValueError(f"method {self.name}: a classification warm-up needs both branches")

    @property
    def needs_discovery(self) -> bool:
        """True when the method trains on discovered patterns (self-discovery must run first)."""
        return self.data == "patterns"

    @property
    def joint(self) -> bool:
        """True when both branches train (and so a classification-only warm-up applies)."""
        return self.classification and self.restoration


METHODS: dict[str, Method] = {}


def register_method(**fields: object) -> Method:
    """Build a :class:`Method` from keyword ``fields`` and add it to :data:`METHODS` under its
    name (``ValueError`` if the name is taken or a field is wrong)."""
    method = Method(**fields)  # type: ignore[arg-type]
    if method.name in METHODS:
        raise ValueError(f"a pre-training method called {method.name!r} is already registered")
    METHODS[method.name] = method
    return method


register_method(
    name="semantic-genesis",
    schedule="semantic-genesis",
    classification=True,
    restoration=True,
    data="patterns",
    warmup_epochs=PUBLISHED_WARMUP_EPOCHS,
    description="self-discovery + self-classification + self-restoration with all four corruptions (the paper)",
)
register_method(
    name="self-classification",
    schedule="semantic-genesis",
    classification=True,
    restoration=False,
    data="patterns",
    description="classify corrupted pattern crops only (the published --exp en)",
)
register_method(
    name="self-restoration",
    schedule="semantic-genesis",
    classification=False,
    restoration=True,
    data="patterns",
    description="restore corrupted pattern crops only, no classification head",
)
register_method(
    name="models-genesis",
    schedule="models-genesis",
    classification=False,
    restoration=True,
    data="subvolumes",
    description="restore random sub-volumes under the Models Genesis schedule (no discovery)",
)
register_method(
    name="inpainting",
    schedule="inpainting",
    classification=False,
    restoration=True,
    data="subvolumes",
    description="in-painting of random sub-volumes (Pathak et al.; Fig. 2 base)",
)
register_method(
    name="context-restoration",
    schedule="context-restoration",
    classification=False,
    restoration=True,
    data="subvolumes",
    description="context restoration / patch shuffling of random sub-volumes (Chen et al.; Fig. 2 base)",
)
for _base, _what in (("inpainting", "in-painting"), ("context-restoration", "context"), ("models-genesis", "Models Genesis")):
    register_method(
        name=f"{_base}+semantics",
        schedule=METHODS[_base].schedule,
        classification=True,
        restoration=True,
        data="patterns",
        warmup_epochs=PUBLISHED_WARMUP_EPOCHS,
        description=f"{_what} restoration of discovered patterns plus self-classification (Fig. 2 add-on)",
    )


def get_method(name: str) -> Method:
    """The registered method called ``name``; ``ValueError`` listing the known ones otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown pre-training method {name!r}; known: {', '.join(METHODS)}") from None
