"""course.widgets: the widget builders (matplotlib's Agg backend)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mipnerf_lib.course import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_interactive_plot_calls_the_function_and_redraws_on_change():
    from mipnerf_lib.course import widgets

    calls = []

    def plot(scale, degree, show):
        calls.append((scale, degree, show))
        fig, ax = plots.new_figure()
        ax.plot([0, scale], [0, degree])
        plt.show()

    ui = widgets.interactive_plot(
        plot,
        scale=widgets.log_slider("footprint", 0.1, 0.01, 1.0),
        degree=widgets.int_slider("max degree", 4, 1, 10),
        show=widgets.checkbox("diag", True),
    )
    assert calls == [(pytest.approx(0.1), 4, True)]
    ui.controls["degree"].value = 6
    assert calls[-1][1] == 6
    assert "mipnerf-footprint" in ui.controls["scale"]._dom_classes
    assert "mipnerf-max-degree" in ui.controls["degree"]._dom_classes
    assert ui.controls["scale"].description == "footprint"
    assert ui.controls["scale"].continuous_update is False
    assert "mipnerf-output" in ui.out._dom_classes


def test_interactive_figure_builds_once_and_updates_the_artists_in_place():
    from mipnerf_lib.course import widgets

    built, updates = [], []

    def make_figure(level, size):
        fig, ax = plots.new_figure(size=(2.0, 2.0))
        image = ax.imshow(np.zeros((size, size)), vmin=0, vmax=1, extent=(0, 1, 1, 0))
        built.append(fig)

        def update(level, size):
            updates.append((level, size))
            image.set_data(np.full((size, size), level))

        update(level, size)
        return fig, update

    ui = widgets.interactive_figure(
        make_figure,
        level=widgets.float_slider("level", 0.0, 0.0, 1.0),
        size=widgets.int_slider("size", 4, 2, 8),
    )
    assert len(built) == 1 and ui.fig is built[0]
    assert not plt.fignum_exists(ui.fig.number)  # the widget shows it, not %matplotlib inline
    first = bytes(ui.image.value)
    assert first.startswith(b"\x89PNG")
    ui.controls["level"].value = 1.0
    ui.controls["size"].value = 6  # another shape: the same figure still takes it
    assert len(built) == 1 and updates[-2:] == [(1.0, 4), (1.0, 6)]
    assert bytes(ui.image.value) != first
    np.testing.assert_array_equal(ui.fig.axes[0].images[0].get_array(), np.ones((6, 6)))
    assert "mipnerf-output" in ui.out._dom_classes and "mipnerf-interactive" in ui._dom_classes
    assert "mipnerf-level" in ui.controls["level"]._dom_classes
    with pytest.raises(ValueError, match="at least one control"):
        widgets.interactive_figure(make_figure)


def test_widget_builders_validate_their_ranges():
    from mipnerf_lib.course import widgets

    with pytest.raises(ValueError, match="outside"):
        widgets.float_slider("x", 5.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="min > 0"):
        widgets.log_slider("x", 1.0, 0.0, 2.0)
    with pytest.raises(ValueError, match="at least one control"):
        widgets.interactive_plot(lambda: None)
    assert widgets.css_class("Max degree (L)") == "mipnerf-max-degree-l"
    assert widgets.dropdown("shape", ["cone", "cylinder"]).value == "cone"
    assert widgets.float_slider("t0", 2.0, 1.0, 3.0).step == pytest.approx(0.02)
