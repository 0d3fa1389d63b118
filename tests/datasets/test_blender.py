"""The Blender loader (``mipnerf_lib.datasets.blender``) on a tiny generated scene (and the
real lego scene if present): batches, rays, compositing, downsampling, and bad inputs."""

import json
import math

import numpy as np
import pytest
from PIL import Image

from mipnerf_lib import datasets
from mipnerf_lib.datasets import DatasetError
from tests.datasets.helpers import LEGO, SIZE, config, edit_json, generate_rays, read_rgba


@pytest.mark.parametrize("batching", ["all_images", "single_image"])
def test_blender_train_batch_shapes_and_dtypes(scenes, batching):
    ds = datasets.get_dataset("train", scenes.blender, config(batching=batching))
    assert ds.n_examples == 4 and (ds.h, ds.w) == (SIZE, SIZE)
    assert ds.images.shape == (4 * SIZE * SIZE, 3)
    assert ds.rays.origins.shape == (4 * SIZE * SIZE, 3) and ds.rays.radii.shape[-1] == 1
    batch = next(ds)
    assert batch["pixels"].shape == (64, 3) and batch["pixels"].dtype == np.float32
    for field, channels in zip(batch["rays"], (3, 3, 3, 1, 1, 1, 1)):
        assert field.shape == (64, channels) and field.dtype == np.float32
    assert np.all(batch["rays"].near == 2.0) and np.all(batch["rays"].far == 6.0)
    assert np.all(batch["rays"].lossmult == 1.0)
    assert 0.0 <= batch["pixels"].min() and batch["pixels"].max() <= 1.0
    for array in (ds.images, *ds.rays):
        assert array.flags["C_CONTIGUOUS"] and array.dtype == np.float32
    if batching == "single_image":  # one camera centre per batch
        origins = batch["rays"].origins
        np.testing.assert_array_equal(origins, np.repeat(origins[:1], 64, 0))


def test_batches_reproducible_for_a_seed_and_resumable(scenes):
    cfg = config()
    a = datasets.get_dataset("train", scenes.blender, cfg, seed=3)
    b = datasets.get_dataset("train", scenes.blender, cfg, seed=3)
    c = datasets.get_dataset("train", scenes.blender, cfg, seed=4)
    first = [next(a) for _ in range(4)]  # next() is batch_at of an internal step counter
    for k, batch in enumerate(first):
        np.testing.assert_array_equal(batch["pixels"], b.batch_at(k)["pixels"])
        np.testing.assert_array_equal(batch["rays"].directions, b.batch_at(k)["rays"].directions)
    assert not np.array_equal(first[0]["pixels"], c.batch_at(0)["pixels"])
    # Resuming at step 4 is asking for batch 4: the batch an uninterrupted run sees next.
    np.testing.assert_array_equal(next(a)["pixels"], b.batch_at(4)["pixels"])


def test_blender_rays_match_camera_generate_rays(scenes):
    meta = json.loads((scenes.blender / "transforms_test.json").read_text())
    ds = datasets.get_dataset("test", scenes.blender, config())
    focal = 0.5 * SIZE / math.tan(0.5 * meta["camera_angle_x"])
    assert ds.focal == pytest.approx(focal)
    c2w = np.array([f["transform_matrix"] for f in meta["frames"]], np.float32)
    expected = generate_rays(c2w, SIZE, SIZE, focal, 2.0, 6.0)
    for got, want in zip(ds.rays, expected):
        np.testing.assert_allclose(got, np.asarray(want), atol=1e-6)


def test_eval_split_yields_whole_images_in_order(scenes):
    ds = datasets.get_dataset("val", scenes.blender, config())
    items = list(ds)
    assert len(items) == 2 == ds.n_examples
    for i, item in enumerate(items):
        assert item["pixels"].shape == (SIZE, SIZE, 3)
        assert item["rays"].viewdirs.shape == (SIZE, SIZE, 3)
        np.testing.assert_array_equal(item["pixels"], ds.images[i])
    # next() cycles through the split, as the paper's code does.
    order = [next(ds)["rays"].origins[0, 0] for _ in range(3)]
    np.testing.assert_array_equal(order[0], order[2])
    assert not np.array_equal(order[0], order[1])


@pytest.mark.parametrize("white_bkgd", [True, False])
def test_compositing_on_white(scenes, white_bkgd):
    ds = datasets.get_dataset("test", scenes.blender, config(white_bkgd=white_bkgd))
    rgba = read_rgba(scenes.blender / "test" / "r_0.png")
    rgb, alpha = rgba[..., :3], rgba[..., 3:]
    want = rgb * alpha + (1 - alpha) if white_bkgd else rgb
    np.testing.assert_allclose(ds.images[0], want, atol=1e-7)
    assert (alpha == 0).any()  # the test sees background pixels


def test_factor_2_is_a_box_mean_before_compositing(scenes):
    ds = datasets.get_dataset("test", scenes.blender, config(factor=2))
    assert (ds.h, ds.w) == (SIZE // 2, SIZE // 2)
    rgba = read_rgba(scenes.blender / "test" / "r_1.png")
    small = rgba.reshape(SIZE // 2, 2, SIZE // 2, 2, 4).mean((1, 3))
    want = small[..., :3] * small[..., 3:] + 1 - small[..., 3:]
    np.testing.assert_allclose(ds.images[1], want, atol=1e-6)
    full = datasets.get_dataset("test", scenes.blender, config())
    assert ds.focal == pytest.approx(full.focal / 2)


def test_factor_that_does_not_divide_the_size_raises(scenes):
    with pytest.raises(DatasetError, match=r"r_0\.png: size 16x16 is not divisible .* 3"):
        datasets.get_dataset("test", scenes.blender, config(factor=3))


def _set_matrix(value):
    def edit(meta):
        meta["frames"][1]["transform_matrix"] = value
    return edit


BAD_BLENDER = {
    "missing split file": (
        lambda d: (d / "transforms_val.json").unlink(),
        r"transforms_val\.json: file not found"),
    "malformed json": (
        lambda d: (d / "transforms_val.json").write_text('{"camera_angle_x": 0.7,\n "frames": [}'),
        r"transforms_val\.json: malformed JSON at line 2, column"),
    "no camera_angle_x": (
        lambda d: edit_json(d / "transforms_val.json", lambda m: m.pop("camera_angle_x")),
        r"transforms_val\.json: missing key 'camera_angle_x'"),
    "no frames": (
        lambda d: edit_json(d / "transforms_val.json", lambda m: m.pop("frames")),
        r"transforms_val\.json: missing key 'frames'"),
    "no transform_matrix": (
        lambda d: edit_json(d / "transforms_val.json",
                             lambda m: m["frames"][1].pop("transform_matrix")),
        r"transforms_val\.json: frames\[1\]: missing key 'transform_matrix'"),
    "no file_path": (
        lambda d: edit_json(d / "transforms_val.json", lambda m: m["frames"][0].pop("file_path")),
        r"transforms_val\.json: frames\[0\]: missing key 'file_path'"),
    "missing image": (
        lambda d: (d / "val" / "r_1.png").unlink(),
        r"frames\[1\]: image .*val/r_1\.png not found"),
    "3x3 matrix": (
        lambda d: edit_json(d / "transforms_val.json", _set_matrix(np.eye(3).tolist())),
        r"transforms_val\.json: frames\[1\]\.transform_matrix: expected a 4x4 or 3x4 matrix, "
        r"got shape \(3, 3\)"),
    "non-finite matrix": (
        lambda d: edit_json(d / "transforms_val.json",
                             _set_matrix([[float("nan")] * 4] + np.eye(4)[1:].tolist())),
        r"transforms_val\.json: frames\[1\]\.transform_matrix: contains non-finite"),
    "empty split": (
        lambda d: edit_json(d / "transforms_val.json", lambda m: m.update(frames=[])),
        r"transforms_val\.json: 'frames' is empty"),
    "mixed sizes": (
        lambda d: Image.new("RGBA", (8, 8)).save(d / "val" / "r_1.png"),
        r"val/r_1\.png: image size 8x8 .* differs from .*r_0\.png \(16x16\)"),
    "grayscale image": (
        lambda d: Image.new("L", (SIZE, SIZE)).save(d / "val" / "r_0.png"),
        r"val/r_0\.png: expected an 8-bit RGB or RGBA image .* mode 'L' with 1 channel"),
    "corrupt image": (
        lambda d: (d / "val" / "r_0.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken"),
        r"val/r_0\.png: cannot read the image"),
    # Camera matrices must be rotations (files.ROTATION_TOL = 1e-3) with det +1.
    "scaled camera": (
        lambda d: edit_json(d / "transforms_val.json", _scale_rotation(1.01)),
        r"frames\[1\]\.transform_matrix: the rotation part is not a rotation \(scaled or "
        r"sheared: max\|R\^T R - I\| = 0\.0201, det R = 1\.01;"),
    "mirrored camera": (
        lambda d: edit_json(d / "transforms_val.json", _scale_rotation(-1.0)),
        r"frames\[1\]\.transform_matrix: the rotation part is not a rotation \(mirrored"),
    "singular camera": (
        lambda d: edit_json(d / "transforms_val.json", _scale_rotation(0.0)),
        r"frames\[1\]\.transform_matrix: the rotation part is not a rotation \(singular"),
    "boolean camera_angle_x": (
        lambda d: edit_json(d / "transforms_val.json", lambda m: m.update(camera_angle_x=True)),
        r"transforms_val\.json: camera_angle_x: expected a number, got True"),
    "boolean matrix": (
        lambda d: edit_json(d / "transforms_val.json",
                             _set_matrix(np.eye(4, dtype=bool).tolist())),
        r"frames\[1\]\.transform_matrix: not a numeric matrix"),
    "rgb among rgba": (
        lambda d: Image.open(d / "val" / "r_1.png").convert("RGB").save(d / "val" / "r_1.png"),
        r"val/r_1\.png: an RGB image \(no alpha\) among RGBA ones \(e\.g\. .*val/r_0\.png\)"),
}


def _scale_rotation(k):
    """Scale the first rotation column of frame 1 by ``k`` (k=-1 mirrors, k=0 flattens)."""
    def edit(meta):
        m = np.array(meta["frames"][1]["transform_matrix"])
        m[:3, 0] *= k
        meta["frames"][1]["transform_matrix"] = m.tolist()
    return edit


def test_rgb_images_alone_or_without_white_bkgd_are_fine(blender_copy):
    """An RGB image among RGBA ones is refused only where it matters (white_bkgd)."""
    path = blender_copy / "val" / "r_1.png"
    Image.open(path).convert("RGB").save(path)
    ds = datasets.get_dataset("val", blender_copy, config(white_bkgd=False))
    assert ds.images.shape[0] == 2


@pytest.mark.parametrize("case", sorted(BAD_BLENDER))
def test_bad_blender_input_raises_dataset_error_naming_the_file(blender_copy, case):
    breaker, pattern = BAD_BLENDER[case]
    breaker(blender_copy)
    with pytest.raises(DatasetError, match=pattern):
        datasets.get_dataset("val", blender_copy, config())


@pytest.mark.skipif(not LEGO.is_dir(), reason=f"{LEGO} not present")
def test_lego_val_split_at_factor_8():
    ds = datasets.get_dataset("val", LEGO, config(factor=8))
    meta = json.loads((LEGO / "transforms_val.json").read_text())
    n = len(meta["frames"])
    assert ds.images.shape == (n, 100, 100, 3)
    assert ds.focal == pytest.approx(50 / math.tan(0.5 * meta["camera_angle_x"]))
    c2w = np.array(meta["frames"][0]["transform_matrix"], np.float32)
    np.testing.assert_allclose(ds.rays.origins[0, 50, 50], c2w[:3, 3], atol=1e-6)
    np.testing.assert_allclose(ds.images[0, 0, 0], 1.0)  # corner: background on white
    assert ds.images.mean() < 0.95  # but the object is there
