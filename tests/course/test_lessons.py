"""course.lessons: every lesson's figure builders draw, every registered widget builds without its
notebook and answers a slider change, and the modules' copies of notebook code match the library
(matplotlib's Agg backend)."""

import matplotlib

matplotlib.use("Agg")

import os  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mipnerf_lib import datasets, gaussians, rendering, sampling  # noqa: E402
from mipnerf_lib.course import lessons  # noqa: E402
from mipnerf_lib.course.lessons import (  # noqa: E402
    data_and_cameras,
    frustums_as_gaussians,
    integrated_positional_encoding,
    rays_and_cones,
    the_mlp,
    training_on_many_devices,
    volume_rendering,
)

NOTEBOOKS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "notebooks")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("stem", sorted(lessons.WIDGETS))
def test_every_registered_notebook_uses_its_lesson_module(stem):
    module, _ = lessons.WIDGETS[stem]
    nb = nbformat.read(os.path.join(NOTEBOOKS, stem + ".ipynb"), as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert f"from mipnerf_lib.course.lessons import {module} as lesson" in code
    assert "widgets.interactive_figure(" not in code  # the widget is built by the lesson module


@pytest.mark.slow
@pytest.mark.parametrize("stem", sorted(lessons.WIDGETS))
def test_widget_builds_without_its_notebook_and_answers_every_control(stem):
    box = lessons.widget_builders()[stem]()  # outside a kernel an exception in update propagates
    assert bytes(box.image.value).startswith(b"\x89PNG") and box.controls
    for name, control in box.controls.items():
        before = bytes(box.image.value)
        if isinstance(control.value, bool):
            control.value = not control.value
        elif hasattr(control, "base"):  # a log slider: its value is 10**position
            control.value = control.value * 2
        else:
            control.value = type(control.value)(min(control.value + 2 * control.step, control.max))
        assert bytes(box.image.value) != before, f"{stem}: moving {name!r} did not redraw the figure"


def test_cameras_figure_draws_one_collection_per_split(tmp_path):
    scene = datasets.default_scene_dir("blender", width=16, cache_dir=tmp_path)
    splits = {s: datasets.read_blender_split(scene, s) for s in ("train", "val", "test")}
    fig = data_and_cameras.cameras_figure(splits, "cameras")
    ax = fig.axes[0]
    assert len(ax.collections) == 3 + 1  # one per split, and the origin
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        f"{s} ({len(splits[s].camtoworlds)})" for s in ("train", "val", "test")]


def test_checkpoint_figure_draws_truth_render_distance_and_opacity():
    rng = np.random.default_rng(0)
    gt, rgb = rng.uniform(size=(8, 8, 3)), rng.uniform(-0.1, 1.1, size=(8, 8, 3))
    distance, acc = rng.uniform(2, 6, (8, 8)), rng.uniform(size=(8, 8))
    fig = training_on_many_devices.checkpoint_figure(gt, rgb, distance, acc, "step 3")
    assert [ax.get_title() for ax in fig.axes] == ["ground truth", "step 3", "distance", "accumulated opacity"]
    assert fig.axes[1].images[0].get_array().max() <= 1  # clipped for display


def test_ray_bundle_figure_draws_rays_from_the_camera_centre():
    from mipnerf_lib import camera, poses

    pose = poses.look_at((3.0, -2.5, 1.5))
    rays = camera.generate_rays(pose, 8, 6, 7.0, near=2.0, far=6.0)
    fig = rays_and_cones.ray_bundle_figure(pose, 7.0, 8, 6, rays.origins, rays.directions, every=5)
    ax = fig.axes[0]
    assert ax.name == "3d" and all(label for label in (ax.get_xlabel(), ax.get_ylabel(), ax.get_zlabel()))
    # each drawn ray is two segments, the first of which starts at the camera centre
    starts = [np.asarray(line.get_data_3d())[:, 0] for line in ax.lines[0:20:2]]
    np.testing.assert_allclose(starts, np.broadcast_to(pose[:3, 3], (10, 3)), atol=1e-6)


@pytest.mark.slow
def test_trained_ray_figure_shows_an_empty_space_and_a_surface():
    fig = the_mlp.trained_ray_figure(the_mlp._activate, resolution=16, pixel=(9, 6), num_samples=64)
    raw_ax, density_ax, weights_ax = fig.axes[1:]
    assert raw_ax.get_ylabel() == "raw density" and weights_ax.get_ylabel() == "weights"
    assert "expected depth" in weights_ax.get_xlabel()


def test_frustums_figures_draw():
    d = frustums_as_gaussians.TILTED
    t_vals = jnp.linspace(1.0, 5.0, 6)
    means, covs = gaussians.cast_rays(t_vals, jnp.zeros(3), jnp.float32(d), jnp.float32([0.2]), "cone", diag=False)
    fig = frustums_as_gaussians.ray_gaussians_figure(d, 0.2, t_vals, means, covs)
    assert len(fig.axes) == 2 and fig.axes[1].name == "3d"
    fig, update = frustums_as_gaussians.frustum_figure(frustums_as_gaussians._sample_frustum, d)
    n_lines = len(fig.axes[0].lines)
    update(1.0, 1.0, 0.3, True)  # t1 <= t0 is widened, not an error; the shapes are replaced, not added
    assert len(fig.axes[0].lines) == n_lines and fig.axes[0].get_title() == "diagonal covariance"


def test_sample_frustum_copy_has_the_frustums_moments():
    d, t0, t1, radius = frustums_as_gaussians.TILTED, 2.0, 3.5, 0.15
    pts = frustums_as_gaussians._sample_frustum(np.random.default_rng(0).uniform(size=(3, 200_000)), d, t0, t1, radius)
    t = pts @ d / (d @ d)
    across = (pts - t[:, None] * d) @ np.array([0.0, 1.0, 0.0])  # y is perpendicular to d
    np.testing.assert_allclose((t.mean(), t.var(), across.var()), gaussians.frustum_moments(t0, t1, radius), rtol=1e-2)


@pytest.mark.slow
def test_integrated_positional_encoding_figures_draw():
    fig = integrated_positional_encoding.footprints_figure(footprints=(0.004, 0.1), max_deg=4)
    assert len([ax for ax in fig.axes if ax.images]) == 6  # 3 rows x 2 footprints
    fig, update = integrated_positional_encoding.aliasing_figure(footprint=0.05, max_deg=8)
    update(0.002, 3)
    assert len(fig.axes[3].lines[0].get_xdata()) == 3  # one point per degree
    pe, ipe, truth = integrated_positional_encoding.render_pattern(0.002, 8)
    assert pe.shape == ipe.shape == truth.shape == (64, 64)


def test_volume_rendering_figures_draw():
    rgb, distance, acc = np.full((4, 4, 3), 0.5), np.full((4, 4), 3.0), np.linspace(0, 1, 16).reshape(4, 4)
    assert len(volume_rendering.toy_render_figure(rgb, distance, acc).axes) >= 3
    t, w, blurred, fine = volume_rendering._coarse_and_fine_np(16, 0.01)
    fig = volume_rendering.inverse_cdf_figure(t, w, blurred, fine)
    assert len(fig.axes[1].lines) == 1 + len(fine)  # the CDF and one path per level
    fig, update = volume_rendering.resampling_figure(volume_rendering._coarse_and_fine_np, 8, 0.01)
    update(64, 0.5)
    assert fig.axes[0].get_title().startswith("65 fine fence posts")


def test_toy_scene_sphere_is_dense_inside_and_empty_outside():
    density, colour = volume_rendering.scene(jnp.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.5]]))
    assert density.shape == (2, 1) and colour.shape == (2, 3)
    assert float(density[0, 0]) > 50 and float(density[1, 0]) < 1e-3


@pytest.mark.parametrize("num_samples", [8, 32])
def test_volume_rendering_numpy_copy_matches_the_library(num_samples):
    t, w, blurred, fine = volume_rendering._coarse_and_fine_np(num_samples, 0.01)
    tj = jnp.linspace(2.0, 6.0, num_samples + 1)
    mids = 0.5 * (tj[1:] + tj[:-1])
    density = jnp.where((mids > 2.8) & (mids < 3.3), 1.5, 0.0) + jnp.where(mids > 4.5, 30.0, 0.0)
    d = jnp.array([0.0, 0.0, -1.0])
    wj = rendering.volumetric_rendering(jnp.zeros((num_samples, 3)), density[:, None], tj, d, False)[3]
    fine_j, _ = sampling.resample_along_rays(jax.random.PRNGKey(0), jnp.zeros(3), d, jnp.array([0.001]), tj, wj,
                                             randomized=False, ray_shape="cone", stop_grad=True, resample_padding=0.01)
    for ours, lib in zip((t, w, blurred, fine), (tj, wj, sampling.blur_weights(wj, 0.01), fine_j)):
        np.testing.assert_allclose(ours, lib, rtol=1e-4, atol=1e-4)
