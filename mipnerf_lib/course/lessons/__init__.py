"""The figures and widgets of each lesson, one module per notebook (named like its solutions).

A notebook cell calls one function here; the cells that derive a formula stay in the notebook.
Every figure builder ``*_figure(...) -> (fig, update)`` draws a first view and returns a function
that updates its artists in place (for :func:`mipnerf_lib.course.widgets.interactive_figure`);
every ``*_widget()`` wraps that builder with the lesson's sliders.

* :mod:`.rays_and_cones` (01): a checkerboard seen by point samples and by pixel footprints.
* :mod:`.frustums_as_gaussians` (02): a frustum's points against its Gaussian.
* :mod:`.integrated_positional_encoding` (03): features fading with the footprint; aliasing.
* :mod:`.the_mlp` (04): the activations of density and colour.
* :mod:`.volume_rendering` (05): coarse and fine sampling with resample padding.

:data:`WIDGETS` lists every lesson's widget builders (``benchmarks/widget_latency.py`` times them).
"""

from __future__ import annotations

import importlib

__all__ = ["WIDGETS", "widget_builders"]

WIDGETS = {
    "01_rays_and_cones": ("rays_and_cones", "footprint_widget"),
}
"""``{notebook stem: (lesson module, widget builder)}``."""


def widget_builders():
    """``{notebook stem: builder}`` for every lesson widget (imports the lesson modules)."""
    return {stem: getattr(importlib.import_module(f"{__name__}.{module}"), name)
            for stem, (module, name) in WIDGETS.items()}
