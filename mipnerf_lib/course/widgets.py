"""ipywidgets builders for the notebooks.

A notebook widget is always a *pure plotting function* plus sliders:

    plot_footprint(resolution=64, distance=4.0)          # a plain call: CI executes it
    widgets.interactive_plot(
        plot_footprint,
        resolution=widgets.int_slider("resolution", 64, 8, 256, 8),
        distance=widgets.float_slider("distance", 4.0, 1.0, 20.0, 0.5),
    )

:func:`interactive_plot` re-runs the function inside an ``Output`` area whenever a control
changes (``ipywidgets.interactive_output``), so a figure drawn with ``plt.show()`` under
``%matplotlib inline`` appears there as a PNG image.

Every control gets a CSS class ``mipnerf-<description>`` (e.g. ``mipnerf-footprint``) and
the output area ``mipnerf-output``, so a browser test can find them without relying on
layout. Sliders default to ``continuous_update=False``: the plot is redrawn when the
handle is released (or moved with the keyboard), not on every pixel of a drag.

A widget that must answer fast uses :func:`interactive_figure` instead: the figure is built
once, and a slider change only updates its artists (``AxesImage.set_data``,
``Line2D.set_data``, ``Text.set_text``) and re-renders that one figure into an ``Image``
widget inside the output area, so no figure, axes, ticks or layout is rebuilt per update:

    def footprint_figure(resolution=64, distance=4.0):
        fig, ax = plots.new_figure()
        image = ax.imshow(render(resolution, distance))
        def update(resolution, distance):
            image.set_data(render(resolution, distance))
        return fig, update

    widgets.interactive_figure(footprint_figure, resolution=..., distance=...)

This module imports ipywidgets, which nothing outside :mod:`mipnerf_lib.course` does.
"""

from __future__ import annotations

import io
import math
import re

import ipywidgets as W
import matplotlib.pyplot as plt
from IPython.display import display

__all__ = [
    "css_class",
    "float_slider",
    "log_slider",
    "int_slider",
    "checkbox",
    "dropdown",
    "interactive_plot",
    "interactive_figure",
    "figure_png",
]

_STYLE = {"description_width": "initial"}
_LAYOUT = {"width": "330px"}


def css_class(description: str) -> str:
    """The CSS class given to the control labelled ``description``: ``mipnerf-<slug>``."""
    slug = re.sub(r"[^a-z0-9]+", "-", description.lower()).strip("-")
    return f"mipnerf-{slug}"


def _finish(widget, description):
    widget.add_class(css_class(description))
    return widget


def _slider(cls, description, value, lo, hi, continuous_update, **kwargs):
    """A slider of class ``cls`` labelled ``description``, range-checked, styled and tagged."""
    if not lo <= value <= hi:
        raise ValueError(f"slider {description!r}: value {value} is outside [{lo}, {hi}].")
    widget = cls(
        value=value,
        description=description,
        continuous_update=continuous_update,
        style=_STYLE,
        layout=_LAYOUT,
        **kwargs,
    )
    return _finish(widget, description)


def float_slider(description, value, min, max, step=None, continuous_update=False, readout_format=".3g"):
    """A ``FloatSlider`` (default step: 1/100 of the range)."""
    step = (max - min) / 100 if step is None else step
    return _slider(W.FloatSlider, description, value, min, max, continuous_update,
                   min=min, max=max, step=step, readout_format=readout_format)


def log_slider(description, value, min, max, steps_per_decade=10, continuous_update=False, readout_format=".3g"):
    """A ``FloatLogSlider`` between ``min`` and ``max`` (values, not exponents; base 10)."""
    if min <= 0:
        raise ValueError(f"log slider {description!r} needs min > 0, got {min}.")
    return _slider(W.FloatLogSlider, description, value, min, max, continuous_update, base=10,
                   min=math.log10(min), max=math.log10(max), step=1.0 / steps_per_decade,
                   readout_format=readout_format)


def int_slider(description, value, min, max, step=1, continuous_update=False):
    """An ``IntSlider``."""
    return _slider(W.IntSlider, description, value, min, max, continuous_update, min=min, max=max, step=step)


def checkbox(description, value=False):
    """A ``Checkbox``."""
    return _finish(W.Checkbox(value=value, description=description, style=_STYLE, indent=False), description)


def dropdown(description, options, value=None):
    """A ``Dropdown`` over ``options`` (a list, or a dict of label -> value)."""
    value = (list(options.values()) if isinstance(options, dict) else list(options))[0] if value is None else value
    return _finish(W.Dropdown(options=options, value=value, description=description, style=_STYLE), description)


def interactive_plot(plot_fn, columns=2, **controls):
    """Controls plus an output area that re-runs ``plot_fn(**values)`` on every change.

    Args:
      plot_fn: a function of keyword arguments named like ``controls`` that draws a
        matplotlib figure and calls ``plt.show()`` (anything it displays appears below
        the controls).
      columns: controls per row.
      **controls: ``name=widget`` pairs, e.g. from :func:`float_slider`.

    Returns:
      An ``ipywidgets.VBox`` (display it as a cell's last expression). It has the
      attributes ``controls`` (the dict) and ``out`` (the ``Output``).
    """
    out = W.interactive_output(plot_fn, controls) if _check_controls(controls) else None
    return _controls_box(controls, columns, out)


def figure_png(fig) -> bytes:
    """``fig`` rendered as PNG bytes at its own resolution (what ``%matplotlib inline`` shows)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi)
    return buffer.getvalue()


def _check_controls(controls) -> bool:
    """Raise a ValueError unless ``controls`` is a non-empty dict of value widgets."""
    if not controls:
        raise ValueError("an interactive plot needs at least one control, e.g. x=float_slider('x', 1, 0, 2).")
    for name, widget in controls.items():
        if not isinstance(widget, W.ValueWidget):
            raise ValueError(f"control {name!r} must be an ipywidgets value widget, got {type(widget).__name__}.")
    return True


def _controls_box(controls, columns, out):
    """The controls in rows of ``columns`` above the output area ``out``."""
    out.add_class("mipnerf-output")
    items = list(controls.values())
    rows = [W.HBox(items[i : i + columns]) for i in range(0, len(items), columns)]
    box = W.VBox(rows + [out])
    box.add_class("mipnerf-interactive")
    box.controls = controls
    box.out = out
    return box


def interactive_figure(make_figure, columns=2, **controls):
    """Controls plus one figure that is built once and updated in place on every change.

    Args:
      make_figure: a function of keyword arguments named like ``controls`` that builds a
        figure for those values and returns ``(fig, update)``, where ``update(**values)``
        changes the figure's artists (image data, line data, texts) to show new values. It
        must not call ``plt.show()``.
      columns: controls per row.
      **controls: ``name=widget`` pairs, e.g. from :func:`float_slider`.

    Returns:
      An ``ipywidgets.VBox`` (display it as a cell's last expression) with the attributes
      ``controls`` (the dict), ``out`` (the ``Output`` holding the figure), ``image`` (the
      ``Image`` widget showing the figure as PNG), ``fig`` and ``refresh`` (call it to
      update the figure from the controls' current values; it returns the PNG bytes). An
      exception raised by ``update`` is shown inside ``out``.
    """
    _check_controls(controls)
    out = W.Output()
    box = _controls_box(controls, columns, out)
    values = {name: widget.value for name, widget in controls.items()}
    fig, update = make_figure(**values)
    if not callable(update):
        raise ValueError("make_figure must return (fig, update) with update a function of the controls.")
    plt.close(fig)  # not shown again by %matplotlib inline at the end of the cell: the widget shows it
    image = W.Image(value=figure_png(fig), format="png", layout={"max_width": "100%", "height": "auto"})
    image.add_class("mipnerf-figure")
    with out:
        display(image)

    def refresh(_change=None):
        png = None
        with out:  # an exception appears in the output area, below the figure
            update(**{name: widget.value for name, widget in controls.items()})
            png = figure_png(fig)
            image.value = png
        return png

    for widget in controls.values():
        widget.observe(refresh, names="value")
    box.image, box.fig, box.refresh = image, fig, refresh
    return box
