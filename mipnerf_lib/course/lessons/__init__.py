"""The figures and widgets of each lesson, one module per notebook (named like its solutions).

A notebook cell calls one function here; the cells that derive a formula stay in the notebook.
A static figure's builder returns the figure; an interactive one, ``*_figure(...) -> (fig,
update)``, draws a first view and returns a function that updates its artists in place (for
:func:`mipnerf_lib.course.widgets.interactive_figure`); every ``*_widget(...)`` wraps that
builder with the lesson's sliders. A widget that needs a function the notebook derives (02's
frustum sampler, 04's activations, 05's NumPy resampling) takes it as an argument; its module's
``example_widget()`` builds the same widget with the module's own copy, so that the widget can
be built without running the notebook.

* :mod:`.data_and_cameras` (00): every camera of a scene's splits.
* :mod:`.rays_and_cones` (01): a checkerboard seen by point samples and by pixel footprints.
* :mod:`.frustums_as_gaussians` (02): a frustum's points against its Gaussian.
* :mod:`.integrated_positional_encoding` (03): features fading with the footprint; aliasing.
* :mod:`.the_mlp` (04): the activations of density and colour.
* :mod:`.volume_rendering` (05): coarse and fine sampling with resample padding.
* :mod:`.training_on_many_devices` (06): a checkpoint's render of a test view (its programs on
  simulated devices are in :mod:`mipnerf_lib.course.demos`).

:data:`WIDGETS` lists every lesson's widget, as a builder that takes no argument
(``benchmarks/widget_latency.py`` times them, ``tests/course/test_lessons.py`` builds them).
"""

from __future__ import annotations

import importlib

__all__ = ["WIDGETS", "widget_builders"]

WIDGETS = {
    "01_rays_and_cones": ("rays_and_cones", "footprint_widget"),
    "02_frustums_as_gaussians": ("frustums_as_gaussians", "example_widget"),
    "03_integrated_positional_encoding": ("integrated_positional_encoding", "aliasing_widget"),
    "04_the_mlp": ("the_mlp", "example_widget"),
    "05_volume_rendering_and_resampling": ("volume_rendering", "example_widget"),
}
"""``{notebook stem: (lesson module, widget builder without arguments)}``."""


def widget_builders():
    """``{notebook stem: builder}`` for every lesson widget (imports the lesson modules)."""
    return {stem: getattr(importlib.import_module(f"{__name__}.{module}"), name)
            for stem, (module, name) in WIDGETS.items()}
