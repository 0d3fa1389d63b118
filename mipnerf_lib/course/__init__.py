"""The course helpers: the plots, widgets and graders that the notebooks use.

* :mod:`~mipnerf_lib.course.style`: the one figure style of the course (resolution, font
  sizes) and :func:`~mipnerf_lib.course.style.new_figure`.
* :mod:`~mipnerf_lib.course.plots`: every plot of the course, by topic: Gaussians, cones,
  cameras, weights along a ray, images; ``plots.training`` (training curves, ``LivePlot``,
  per-scale plots, crops), ``plots.cameras3d`` (plotly 3D) and ``plots.aliasing`` (notebook 08).
* :mod:`~mipnerf_lib.course.widgets`: the ipywidgets builders.
* :mod:`~mipnerf_lib.course.graders`: the ``check_*`` graders of the exercises, one module
  per notebook.

This subpackage imports matplotlib and ipywidgets; nothing else in :mod:`mipnerf_lib` does,
and the core never imports the course (``import mipnerf_lib`` stays free of them). Import
what you need explicitly: ``from mipnerf_lib.course import graders, plots, widgets``.
"""
