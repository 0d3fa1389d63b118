"""The LLFF loader (``mipnerf_lib.datasets.llff``) on a tiny generated capture: splits, NDC
rays, pose normalisation, downsampling, spherify and the render path, and bad inputs."""

import shutil

import numpy as np
import pytest
from PIL import Image

from mipnerf_lib import datasets
from mipnerf_lib.datasets import DatasetError
from tests.datasets.helpers import generate_rays, llff_config, ndc_radii


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
