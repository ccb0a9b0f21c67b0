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


@dataclass(frozen=True)
class Method:
    """One pre-training method: configuration, not code.

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
    warmup_epochs: int
    description: str

    @property
    def needs_discovery(self) -> bool:
        """True when the method trains on discovered patterns (self-discovery must run first)."""
        return self.data == "patterns"

    @property
    def joint(self) -> bool:
        """True when both branches train (and so a classification-only warm-up applies)."""
        return self.classification and self.restoration


def _semantics(base: str, schedule: str, what: str) -> Method:
    return Method(
        name=f"{base}+semantics",
        schedule=schedule,
        classification=True,
        restoration=True,
        data="patterns",
        warmup_epochs=PUBLISHED_WARMUP_EPOCHS,
        description=f"{what} restoration of discovered patterns plus self-classification (Fig. 2 add-on)",
    )


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "semantic-genesis",
            "semantic-genesis",
            True,
            True,
            "patterns",
            PUBLISHED_WARMUP_EPOCHS,
            "self-discovery + self-classification + self-restoration with all four corruptions (the paper)",
        ),
        Method(
            "self-classification",
            "semantic-genesis",
            True,
            False,
            "patterns",
            0,
            "classify corrupted pattern crops only (the published --exp en)",
        ),
        Method(
            "self-restoration",
            "semantic-genesis",
            False,
            True,
            "patterns",
            0,
            "restore corrupted pattern crops only, no classification head",
        ),
        Method(
            "models-genesis",
            "models-genesis",
            False,
            True,
            "subvolumes",
            0,
            "restore random sub-volumes under the Models Genesis schedule (no discovery)",
        ),
        Method(
            "inpainting",
            "inpainting",
            False,
            True,
            "subvolumes",
            0,
            "in-painting of random sub-volumes (Pathak et al.; Fig. 2 base)",
        ),
        Method(
            "context-restoration",
            "context-restoration",
            False,
            True,
            "subvolumes",
            0,
            "context restoration / patch shuffling of random sub-volumes (Chen et al.; Fig. 2 base)",
        ),
        _semantics("inpainting", "inpainting", "in-painting"),
        _semantics("context-restoration", "context-restoration", "context"),
        _semantics("models-genesis", "models-genesis", "Models Genesis"),
    )
}


def get_method(name: str) -> Method:
    """The registered method called ``name``; ``ValueError`` listing the known ones otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown pre-training method {name!r}; known: {', '.join(METHODS)}") from None
