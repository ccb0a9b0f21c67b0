"""Pictures, each drawn on its own :class:`matplotlib.figure.Figure` (no pyplot, no backend
switch), returned to the caller and saved atomically where asked:

- :mod:`semgen.viz.atlas`: the pattern atlas (``PATTERNS/atlas.png``), data from :mod:`semgen.discovery.atlas`
- :mod:`semgen.viz.gallery`: the corruption gallery (``semgen show-transforms``)
- :mod:`semgen.viz.montage`: the phantom cohort's montage (``phantoms/montage.png``)
- :mod:`semgen.viz.training`: ``curves.png`` and the restoration triplets of pre-training
- :mod:`semgen.viz.results`: the bar chart and label-efficiency curves of ``semgen compare``
"""
