"""Camera intrinsics in transforms files (colmap2nerf / nerfstudio style) and invalid focals.

``fl_x``/``fl_y``/``cx``/``cy`` are honoured: each pixel's ray is checked against the pinhole
model written out in NumPy here; lens distortion, per-frame intrinsics, a principal point
outside the image, a size that disagrees with the images, and non-positive focal lengths
(Blender and LLFF) are refused with the file named.
"""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from mipnerf_lib import datasets
from mipnerf_lib.datasets import DatasetError, multiscale, synthetic_scene
from tests.datasets.helpers import config

SIZE = 16




@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    root = tmp_path_factory.mktemp("intrinsics")
    return synthetic_scene.make_scene(root / "blender", width=SIZE, n_train=2, n_val=1,
                                      n_test=2, seed=0, supersample=1)


@pytest.fixture
def scene_copy(scene, tmp_path):
    return Path(shutil.copytree(scene, tmp_path / "scene"))


def edit_all(folder, **keys):
    """Add ``keys`` at the top level of every transforms file (``None`` deletes the key)."""
    for path in folder.glob("transforms_*.json"):
        meta = json.loads(path.read_text())
        for k, v in keys.items():
            if v is None:
                meta.pop(k, None)
            else:
                meta[k] = v
        path.write_text(json.dumps(meta))
    return folder


def pinhole_directions(c2w, width, height, fl_x, fl_y, cx, cy):
    """The pinhole model in NumPy: ``[H, W, 3]`` world directions (camera looks down -z)."""
    x, y = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5, indexing="xy")
    cam = np.stack([(x - cx) / fl_x, -(y - cy) / fl_y, -np.ones_like(x)], -1)
    return cam @ np.asarray(c2w)[:3, :3].T


def focal_of(folder):
    angle = json.loads((folder / "transforms_test.json").read_text())["camera_angle_x"]
    return 0.5 * SIZE / math.tan(0.5 * angle)


def test_centred_intrinsics_give_the_same_rays_as_camera_angle_x(scene, scene_copy):
    """fl_x = the angle's focal, cx = W/2, cy = H/2: the rays of the plain Blender file."""
    f = focal_of(scene)
    plain = datasets.get_dataset("test", scene, config())
    edit_all(scene_copy, fl_x=f, fl_y=f, cx=SIZE / 2, cy=SIZE / 2, w=SIZE, h=SIZE,
             k1=0.0, k2=0.0, p1=0.0, p2=0.0)
    given = datasets.get_dataset("test", scene_copy, config())
    assert given.focal == pytest.approx(f)
    for a, b in zip(plain.rays, given.rays):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("factor", [0, 2])
def test_off_centre_principal_point_and_non_square_pixels_are_honoured(scene_copy, factor):
    f = focal_of(scene_copy)
    fl_x, fl_y, cx, cy = f * 1.1, f * 0.9, SIZE / 2 + 2.5, SIZE / 2 - 1.75
    edit_all(scene_copy, fl_x=fl_x, fl_y=fl_y, cx=cx, cy=cy, w=SIZE, h=SIZE,
             camera_angle_x=None)
    ds = datasets.get_dataset("test", scene_copy, config(factor=factor))
    k = max(factor, 1)
    frames = json.loads((scene_copy / "transforms_test.json").read_text())["frames"]
    for i, frame in enumerate(frames):
        rays = ds.image_rays(i)
        directions = np.asarray(rays.directions)
        want = pinhole_directions(frame["transform_matrix"], SIZE // k, SIZE // k,
                                  fl_x / k, fl_y / k, cx / k, cy / k)
        np.testing.assert_allclose(directions.reshape(want.shape), want, atol=2e-6)
        np.testing.assert_allclose(np.asarray(rays.origins).reshape(-1, 3)[0],
                                   np.asarray(frame["transform_matrix"])[:3, 3], atol=1e-6)


def test_the_converter_keeps_the_principal_point_at_every_level(scene_copy, tmp_path):
    f = focal_of(scene_copy)
    cx, cy = SIZE / 2 + 2.0, SIZE / 2 - 1.0
    edit_all(scene_copy, fl_x=f, fl_y=f, cx=cx, cy=cy)
    meta = json.loads(multiscale.convert_to_nerfdata(scene_copy, tmp_path / "ms",
                                                     n_down=2).read_text())
    for j, pix2cam in zip(meta["test"]["label"], meta["test"]["pix2cam"]):
        k = 2.0**j
        np.testing.assert_allclose(
            pix2cam, [[k / f, 0, -cx / f], [0, -k / f, cy / f], [0, 0, -1]], rtol=1e-12)
    ds = datasets.get_dataset("test", tmp_path / "ms", config(dataset_loader="multicam"))
    assert ds.size > 0


@pytest.mark.parametrize("keys, message", [
    ({"k1": 0.12}, "lens distortion k1=0.12 is not supported"),
    ({"p2": -0.01, "k1": 0.0}, "lens distortion p2=-0.01"),
    ({"fl_x": -300.0}, "fl_x must be positive"),
    ({"fl_x": 0}, "fl_x must be positive"),
    ({"fl_x": "wide"}, "fl_x: expected a number"),
    ({"cx": -4.0, "fl_x": 20.0}, "principal point cx=-4.0 lies outside"),
    ({"cy": 40.0, "fl_x": 20.0, "h": SIZE}, "principal point cy=40.0 lies outside"),
    ({"cx": 40.0, "fl_x": 20.0}, "principal point cx=40.0 lies outside"),
    ({"w": 2 * SIZE, "fl_x": 20.0}, f"w={2 * SIZE} but the images are {SIZE}x{SIZE}"),
    ({"cx": 8.0, "camera_angle_x": None}, "no focal length"),
])
def test_bad_intrinsics_are_refused_naming_the_file(scene_copy, keys, message):
    edit_all(scene_copy, **keys)
    with pytest.raises(DatasetError, match="transforms_train.json") as err:
        datasets.get_dataset("train", scene_copy, config())
    assert message in str(err.value)


def test_per_frame_intrinsics_are_refused(scene_copy):
    path = scene_copy / "transforms_train.json"
    meta = json.loads(path.read_text())
    meta["frames"][1]["fl_x"] = 30.0
    path.write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match=r"frames\[1\]: per-frame intrinsics \(fl_x\)"):
        datasets.get_dataset("train", scene_copy, config())


def test_missing_camera_angle_and_focal(scene_copy):
    edit_all(scene_copy, camera_angle_x=None)
    with pytest.raises(DatasetError, match="missing key 'camera_angle_x' \\(or fl_x\\)"):
        datasets.get_dataset("train", scene_copy, config())


@pytest.mark.parametrize("row, value", [(2, -50.0), (2, 0.0), (0, -32.0)])
def test_llff_non_positive_focal_or_size_is_refused(tmp_path, row, value):
    """The hwf column of poses_bounds.npy holds height (row 0), width, focal (row 2)."""
    folder = synthetic_scene.make_llff_scene(tmp_path / "llff", width=16, n_views=4, seed=0,
                                             supersample=1)
    pb = np.load(folder / "poses_bounds.npy")
    poses = pb[:, :15].reshape(-1, 3, 5)
    poses[2, row, 4] = value  # image 2
    pb[:, :15] = poses.reshape(-1, 15)
    np.save(folder / "poses_bounds.npy", pb)
    llff = config(dataset_loader="llff", near=0.0, far=1.0, factor=1)
    with pytest.raises(DatasetError, match="poses_bounds.npy: image 2's height/width/focal"):
        datasets.get_dataset("train", folder, llff)
