"""Pre-training objectives (paper Sec. 2): each method is configuration over one loop.

A :class:`Method` says which corruption schedule restores what, whether the
classification (self-classification, Sec. 2.2) and restoration (self-restoration,
Sec. 2.3) branches are on, where the training crops come from (the discovered
anatomical patterns of Sec. 2.1, or random sub-volumes of the cohort as in Models
Genesis), and how many warm-up epochs train the classification branch alone.
An :class:`Objective` turns a batch into ``{"loss", "loss_rec", "loss_cls", "acc", ...}``;
the loop only calls ``backward`` on ``loss``.
"""

from semgen.tasks.methods import METHODS, Method, get_method, register_method

__all__ = ["METHODS", "BranchNet", "Method", "Objective", "get_method", "register_method"]


def __getattr__(name: str):
    # the objective needs torch; the registry alone does not (``semgen pretrain --help`` lists it)
    if name in ("BranchNet", "Objective"):
        from semgen.tasks import objective

        return getattr(objective, name)
    raise AttributeError(f"module 'semgen.tasks' has no attribute {name!r}")
