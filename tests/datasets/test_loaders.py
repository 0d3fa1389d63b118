"""Tests of mipnerf_lib.datasets on tiny generated scenes (and the real lego scene if present)."""

import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import jax
import numpy as np
import pytest
from PIL import Image

from mipnerf_lib import camera, datasets
from mipnerf_lib.datasets import DatasetError, multiscale, synthetic_scene

LEGO = Path(__file__).resolve().parents[3] / "shared" / "data" / "nerf_synthetic" / "lego"
SIZE = 16  # the Blender scene is SIZE x SIZE; its multiscale version has 3 levels
# Jitted once per shape: much faster to compile than op-by-op eager calls.
generate_rays = jax.jit(camera.generate_rays, static_argnums=(1, 2))
ndc_radii = jax.jit(camera.ndc_radii)


def config(**overrides):
    base = dict(dataset_loader="blender", batching="all_images", batch_size=64,
                white_bkgd=True, near=2.0, far=6.0, factor=0, llffhold=8, spherify=False,
                render_path=False)
    base.update(overrides)
    return SimpleNamespace(**base)


def llff_config(**overrides):
    return config(**{"dataset_loader": "llff", "near": 0.0, "far": 1.0, "factor": 1, **overrides})


@pytest.fixture(scope="session")
def scenes(tmp_path_factory):
    """Generated once: a Blender scene, its 3-level multiscale version and an LLFF capture."""
    root = tmp_path_factory.mktemp("scenes")
    blender = synthetic_scene.make_scene(root / "blender", width=SIZE, n_train=4, n_val=2,
                                         n_test=2, seed=0, supersample=2)
    multi = root / "multi"
    multiscale.convert_to_nerfdata(blender, multi, n_down=3)
    llff = synthetic_scene.make_llff_scene(root / "llff", width=32, n_views=10, seed=0,
                                           supersample=2)
    return SimpleNamespace(blender=blender, multi=multi, llff=llff)


@pytest.fixture
def blender_copy(scenes, tmp_path):
    """A private copy of the Blender scene that a test may break."""
    return Path(shutil.copytree(scenes.blender, tmp_path / "scene"))


def read_rgba(path):
    return np.array(Image.open(path), dtype=np.float32) / 255.0


# ----------------------------------------------------------------------------- Blender


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


def test_config_errors(scenes):
    with pytest.raises(ValueError, match="dataset_loader"):
        datasets.get_dataset("train", scenes.blender, config(dataset_loader="colmap"))
    with pytest.raises(ValueError, match="batching"):
        datasets.get_dataset("train", scenes.blender, config(batching="patches"))
    with pytest.raises(ValueError, match="split"):
        datasets.get_dataset("training", scenes.blender, config())
    with pytest.raises(ValueError, match="render_path"):
        datasets.get_dataset("test", scenes.blender, config(render_path=True))


# ----------------------------------------------------------------------------- bad inputs


def _edit_json(path, edit):
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))


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
        lambda d: _edit_json(d / "transforms_val.json", lambda m: m.pop("camera_angle_x")),
        r"transforms_val\.json: missing key 'camera_angle_x'"),
    "no frames": (
        lambda d: _edit_json(d / "transforms_val.json", lambda m: m.pop("frames")),
        r"transforms_val\.json: missing key 'frames'"),
    "no transform_matrix": (
        lambda d: _edit_json(d / "transforms_val.json",
                             lambda m: m["frames"][1].pop("transform_matrix")),
        r"transforms_val\.json: frames\[1\]: missing key 'transform_matrix'"),
    "no file_path": (
        lambda d: _edit_json(d / "transforms_val.json", lambda m: m["frames"][0].pop("file_path")),
        r"transforms_val\.json: frames\[0\]: missing key 'file_path'"),
    "missing image": (
        lambda d: (d / "val" / "r_1.png").unlink(),
        r"frames\[1\]: image .*val/r_1\.png not found"),
    "3x3 matrix": (
        lambda d: _edit_json(d / "transforms_val.json", _set_matrix(np.eye(3).tolist())),
        r"transforms_val\.json: frames\[1\]\.transform_matrix: expected a 4x4 or 3x4 matrix, "
        r"got shape \(3, 3\)"),
    "non-finite matrix": (
        lambda d: _edit_json(d / "transforms_val.json",
                             _set_matrix([[float("nan")] * 4] + np.eye(4)[1:].tolist())),
        r"transforms_val\.json: frames\[1\]\.transform_matrix: contains non-finite"),
    "empty split": (
        lambda d: _edit_json(d / "transforms_val.json", lambda m: m.update(frames=[])),
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
        lambda d: _edit_json(d / "transforms_val.json", _scale_rotation(1.01)),
        r"frames\[1\]\.transform_matrix: the rotation part is not a rotation \(scaled or "
        r"sheared: max\|R\^T R - I\| = 0\.0201, det R = 1\.01;"),
    "mirrored camera": (
        lambda d: _edit_json(d / "transforms_val.json", _scale_rotation(-1.0)),
        r"frames\[1\]\.transform_matrix: the rotation part is not a rotation \(mirrored"),
    "singular camera": (
        lambda d: _edit_json(d / "transforms_val.json", _scale_rotation(0.0)),
        r"frames\[1\]\.transform_matrix: the rotation part is not a rotation \(singular"),
    "boolean camera_angle_x": (
        lambda d: _edit_json(d / "transforms_val.json", lambda m: m.update(camera_angle_x=True)),
        r"transforms_val\.json: camera_angle_x: expected a number, got True"),
    "boolean matrix": (
        lambda d: _edit_json(d / "transforms_val.json",
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


def test_real_blender_poses_pass_the_rotation_check():
    """The lego scene's poses (float32-rounded numbers) are rotations to ~1e-6."""
    lego = Path("/work/shared/data/nerf_synthetic/lego")
    if not lego.is_dir():
        pytest.skip("no lego data here")
    from mipnerf_lib.datasets.files import read_blender_split

    for split in ("train", "val", "test"):
        assert len(read_blender_split(lego, split).camtoworlds) > 0


@pytest.mark.parametrize("case", sorted(BAD_BLENDER))
def test_bad_blender_input_raises_dataset_error_naming_the_file(blender_copy, case):
    breaker, pattern = BAD_BLENDER[case]
    breaker(blender_copy)
    with pytest.raises(DatasetError, match=pattern):
        datasets.get_dataset("val", blender_copy, config())


def test_missing_data_folder(tmp_path):
    with pytest.raises(DatasetError, match=r"nowhere: data folder not found"):
        datasets.get_dataset("train", tmp_path / "nowhere", config())


def test_dataset_error_is_a_value_error():
    assert issubclass(DatasetError, ValueError)


@pytest.fixture
def multi_copy(scenes, tmp_path):
    return Path(shutil.copytree(scenes.multi, tmp_path / "multi"))


BAD_MULTICAM = {
    "no metadata.json": (
        lambda d: (d / "metadata.json").unlink(),
        r"metadata\.json: file not found\. Make multiscale data"),
    "split missing": (
        lambda d: _edit_json(d / "metadata.json", lambda m: m.pop("val")),
        r"metadata\.json: no 'val' split \(found: train, test\)"),
    "key missing": (
        lambda d: _edit_json(d / "metadata.json", lambda m: m["val"].pop("pix2cam")),
        r"metadata\.json: \['val'\]: missing key\(s\) \['pix2cam'\]"),
    "lengths differ": (
        lambda d: _edit_json(d / "metadata.json", lambda m: m["val"]["lossmult"].pop()),
        r"metadata\.json: \['val'\]: 'lossmult' has 5 entries, 'file_path' has 6"),
    "size mismatch": (
        lambda d: _edit_json(d / "metadata.json", lambda m: m["val"]["width"].__setitem__(0, 32)),
        r"000_d0\.png: image is 16x16 but .*metadata\.json says 32x16"),
    "bad cam2world": (
        lambda d: _edit_json(d / "metadata.json",
                             lambda m: m["val"]["cam2world"].__setitem__(2, [[1.0, 2.0]])),
        r"metadata\.json: \['val'\]\['cam2world'\]\[2\]: expected a 4x4 or 3x4 matrix"),
    "mirrored cam2world": (
        lambda d: _edit_json(d / "metadata.json", lambda m: m["val"]["cam2world"].__setitem__(
            2, (np.array(m["val"]["cam2world"][2]) * [[-1, 1, 1, 1]]).tolist())),
        r"\['cam2world'\]\[2\]: the rotation part is not a rotation \(mirrored"),
    "near >= far": (
        lambda d: _edit_json(d / "metadata.json", lambda m: m["val"]["far"].__setitem__(1, 2.0)),
        r"\['val'\], image 1: near=2 and far=2 must satisfy 0 <= near < far"),
    "zero lossmult": (
        lambda d: _edit_json(d / "metadata.json",
                             lambda m: m["val"]["lossmult"].__setitem__(4, 0.0)),
        r"\['val'\], image 4: lossmult=0 must be > 0"),
    "label gap": (
        lambda d: _edit_json(d / "metadata.json", lambda m: m["val"].update(
            label=[0 if x == 0 else x + 4 for x in m["val"]["label"]])),
        r"\['label'\]: the levels present are \[0, 5, 6\]; labels must be 0, 1"),
    "fractional label": (
        lambda d: _edit_json(d / "metadata.json", lambda m: m["val"]["label"].__setitem__(1, 0.5)),
        r"\['label'\]\[1\]: expected an integer, got 0\.5"),
    "singular pix2cam": (
        lambda d: _edit_json(d / "metadata.json",
                             lambda m: m["val"]["pix2cam"].__setitem__(
                                 0, np.zeros((3, 3)).tolist())),
        r"\['val'\], image 0: pix2cam .* is singular"),
    "pix2cam of another size": (
        lambda d: _edit_json(d / "metadata.json", lambda m: m["val"]["pix2cam"].__setitem__(
            1, multiscale.pix2cam_list(m["val"]["focal"][1], 4 * m["val"]["width"][1],
                                       4 * m["val"]["height"][1]))),
        r"\['val'\], image 1: pix2cam puts the principal point at \(16, 16\), outside the 8 x 8"),
    "pix2cam vs focal": (
        lambda d: _edit_json(d / "metadata.json", lambda m: m["val"]["focal"].__setitem__(
            0, 2 * m["val"]["focal"][0])),
        r"\['val'\], image 0: pix2cam's focal .* differs from focal="),
    "boolean width": (
        lambda d: _edit_json(d / "metadata.json", lambda m: m["val"]["width"].__setitem__(0, True)),
        r"\['val'\]\['width'\]\[0\]: expected a number, got True"),
}


@pytest.mark.parametrize("case", sorted(BAD_MULTICAM))
def test_bad_multicam_input_raises_dataset_error(multi_copy, case):
    breaker, pattern = BAD_MULTICAM[case]
    breaker(multi_copy)
    with pytest.raises(DatasetError, match=pattern):
        datasets.get_dataset("val", multi_copy, config(dataset_loader="multicam"))


@pytest.fixture
def llff_copy(scenes, tmp_path):
    return Path(shutil.copytree(scenes.llff, tmp_path / "llff"))


BAD_LLFF = {
    "no poses_bounds.npy": (
        lambda d: (d / "poses_bounds.npy").unlink(),
        r"poses_bounds\.npy: file not found"),
    "wrong shape": (
        lambda d: np.save(d / "poses_bounds.npy", np.ones((10, 15))),
        r"poses_bounds\.npy: expected shape \[N, 17\] .* got \(10, 15\)"),
    "count mismatch": (
        lambda d: (d / "images" / "image009.png").unlink(),
        r"poses_bounds\.npy has 10 poses but .*images has 9 images"),
    "non-finite": (
        lambda d: np.save(d / "poses_bounds.npy",
                          np.where(np.eye(10, 17) > 0, np.inf, np.load(d / "poses_bounds.npy"))),
        r"poses_bounds\.npy: contains non-finite"),
    "no image folder": (
        lambda d: shutil.rmtree(d / "images"),
        r"images: image folder not found"),
    "mirrored pose": (
        lambda d: np.save(d / "poses_bounds.npy", _llff_mirror(np.load(d / "poses_bounds.npy"))),
        r"poses_bounds\.npy: image 3's pose: the rotation part is not a rotation \(mirrored"),
    "stale images_N": (
        lambda d: shutil.copytree(d / "images", d / "images_2"),  # full size, not halved
        r"image000\.png: the images of .*images_2 are 32x24, but .*poses_bounds\.npy says "
        r"the full resolution is 32x24, i\.e\. 16x12 at factor 2"),
}


def _llff_mirror(rows):
    rows = rows.copy()
    rows[3, 0:15:5] *= -1  # the first rotation column of image 3
    return rows


def test_llff_folders_named_like_images_are_not_images(llff_copy):
    (llff_copy / "images" / "thumbs.png").mkdir()
    ds = datasets.get_dataset("train", llff_copy, llff_config())
    assert ds.n_examples == 8


@pytest.mark.parametrize("case", sorted(BAD_LLFF))
def test_bad_llff_input_raises_dataset_error(llff_copy, case):
    breaker, pattern = BAD_LLFF[case]
    breaker(llff_copy)
    with pytest.raises(DatasetError, match=pattern):
        datasets.get_dataset("train", llff_copy, llff_config(factor=2 if "images_N" in case
                                                             else 1))


# ----------------------------------------------------------------------------- Multicam


def test_multicam_reads_converter_output(scenes):
    ds = datasets.get_dataset("train", scenes.multi, config(dataset_loader="multicam"))
    n_levels, n_views = 3, 4
    assert ds.n_examples == n_levels * n_views
    np.testing.assert_array_equal(ds.labels, np.tile(np.arange(n_levels), n_views))
    np.testing.assert_array_equal(ds.widths, np.tile([16, 8, 4], n_views))
    np.testing.assert_allclose(ds.lossmults, 4.0 ** ds.labels)
    np.testing.assert_allclose(ds.focals[1::3], ds.focals[0::3] / 2, rtol=1e-6)
    np.testing.assert_allclose(ds.focals[2::3], ds.focals[0::3] / 4, rtol=1e-6)
    assert ds.images.shape == (n_views * (256 + 64 + 16), 3)
    for i in range(ds.n_examples):  # per-ray lossmult = 4 ** level
        np.testing.assert_array_equal(ds.image_rays(i).lossmult, 4.0 ** ds.labels[i])
    batch = ds.batch_at(0)
    assert set(np.unique(batch["rays"].lossmult)) <= {1.0, 4.0, 16.0}
    with pytest.raises(AttributeError, match="per-image sizes"):
        ds.focal
    single = datasets.get_dataset("train", scenes.multi,
                                  config(dataset_loader="multicam", batching="single_image"))
    b = single.batch_at(7)
    assert b["pixels"].shape == (64, 3) and len(np.unique(b["rays"].lossmult)) == 1


def test_multicam_level0_rays_equal_blender_rays(scenes):
    blender = datasets.get_dataset("test", scenes.blender, config())
    multi = datasets.get_dataset("test", scenes.multi, config(dataset_loader="multicam"))
    assert isinstance(multi.images, list) and len(multi.images) == 6
    for i in range(blender.n_examples):
        level0 = multi.image_rays(3 * i)
        for name in ("origins", "directions", "viewdirs", "radii"):
            np.testing.assert_allclose(getattr(level0, name), getattr(blender.rays, name)[i],
                                       atol=1e-6, err_msg=name)
        # Level-0 pixels went through uint8 once more (truncation), so they agree to 1/255.
        np.testing.assert_allclose(multi.images[3 * i], blender.images[i], atol=1.01 / 255)


# ----------------------------------------------------------------------------- LLFF


def test_llff_split_sizes_shapes_and_ndc_range(scenes):
    train = datasets.get_dataset("train", scenes.llff, llff_config())
    test = datasets.get_dataset("test", scenes.llff, llff_config())
    assert (train.n_examples, test.n_examples) == (8, 2)  # images 0 and 8 are held out
    assert (test.h, test.w) == (24, 32) and test.images.shape == (2, 24, 32, 3)
    assert train.images.shape == (8 * 24 * 32, 3)
    rays = test.rays
    # NDC: origins on the near plane z = -1, and t = 1 reaches z = +1 (infinity).
    np.testing.assert_allclose(rays.origins[..., 2], -1.0, atol=1e-5)
    np.testing.assert_allclose(rays.origins[..., 2] + rays.directions[..., 2], 1.0, atol=1e-5)
    assert np.all(rays.radii > 0) and np.all(rays.near == 0) and np.all(rays.far == 1)
    # viewdirs are the world-space (unnormalised) directions, as in google/mipnerf.
    world = generate_rays(test.camtoworlds, test.w, test.h, test.focal, 0.0, 1.0)
    np.testing.assert_allclose(rays.viewdirs, np.asarray(world.directions), atol=1e-6)
    np.testing.assert_allclose(rays.radii, np.asarray(ndc_radii(rays.origins)), atol=1e-7)
    # Held-out pixels are the images 0 and 8 of the folder.
    img8 = np.array(Image.open(scenes.llff / "images" / "image008.png"), np.float32) / 255
    np.testing.assert_allclose(test.images[1], img8, atol=1e-7)


def test_llff_poses_are_recentred_and_rescaled(scenes):
    pb = np.load(scenes.llff / "poses_bounds.npy")
    both = [datasets.get_dataset(s, scenes.llff, llff_config()) for s in ("train", "test")]
    c2w = np.concatenate([d.camtoworlds for d in both])
    np.testing.assert_allclose(c2w[:, 3], [[0, 0, 0, 1]] * 10, atol=0)
    rot = c2w[:, :3, :3]
    np.testing.assert_allclose(rot @ rot.transpose(0, 2, 1), np.broadcast_to(np.eye(3), rot.shape),
                               atol=1e-5)
    assert np.linalg.norm(c2w[:, :3, 3].mean(0)) < 1e-5  # recentred on the mean camera
    # Scale 1 / (0.75 min bound): the spread of the camera centres scales by that factor.
    raw = pb[:, :15].reshape(-1, 3, 5)[:, :, 3]
    order = np.r_[np.setdiff1d(np.arange(10), [0, 8]), [0, 8]]
    scale = 1 / (0.75 * pb[:, 15:].min())
    np.testing.assert_allclose(np.linalg.norm(c2w[:, :3, 3] - c2w[0, :3, 3], axis=1),
                               scale * np.linalg.norm(raw[order] - raw[order][0], axis=1),
                               rtol=1e-4, atol=1e-6)


def test_llff_factor_uses_images_folder_or_downsamples(scenes, llff_copy):
    down = datasets.get_dataset("test", scenes.llff, llff_config(factor=2))
    img0 = np.array(Image.open(scenes.llff / "images" / "image000.png"), np.float32) / 255
    np.testing.assert_allclose(down.images[0], img0.reshape(12, 2, 16, 2, 3).mean((1, 3)),
                               atol=1e-6)
    full = datasets.get_dataset("test", scenes.llff, llff_config())
    assert down.focal == pytest.approx(full.focal / 2)
    # An images_2 folder, when present, is used as is.
    (llff_copy / "images_2").mkdir()
    for i in range(10):
        Image.new("RGB", (16, 12), (i, 100, 200)).save(llff_copy / "images_2" / f"{i:03d}.png")
    pre = datasets.get_dataset("test", llff_copy, llff_config(factor=2))
    np.testing.assert_allclose(pre.images[1, 0, 0], np.array([8, 100, 200]) / 255, atol=1e-7)


def test_llff_spherify_and_render_path(scenes):
    sph = [datasets.get_dataset(s, scenes.llff, llff_config(spherify=True, near=0.1, far=3.0))
           for s in ("train", "test")]
    centres = np.concatenate([d.camtoworlds[:, :3, 3] for d in sph])
    assert np.sqrt(np.mean(np.sum(centres**2, -1))) == pytest.approx(1.0, rel=1e-5)
    assert np.all(sph[1].rays.near == 0.1)  # world-space rays, not NDC
    np.testing.assert_allclose(np.linalg.norm(sph[1].rays.viewdirs, axis=-1), 1.0, rtol=1e-6)
    path = datasets.get_dataset("test", scenes.llff, llff_config(render_path=True))
    assert path.n_examples == 120 and path.render_poses.shape == (120, 4, 4)
    first = next(iter(path))
    assert set(first) == {"rays"} and first["rays"].origins.shape == (24, 32, 3)


# ----------------------------------------------------------------------------- real data


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
