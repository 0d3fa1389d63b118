"""``prepare``: photos with known cameras -> COLMAP -> LLFF / Blender datasets the loaders read.

The photos are rendered by the library's ray tracer (:mod:`mipnerf_lib.prepare.synthetic`)
from known cameras, once per module; structure from motion runs once per format (the Blender
one through the command line). Recovered camera centres are compared with the true ones after
the best similarity transform, as a fraction of the scene radius (the cameras' distance 4 from
the origin, which all objects lie within 1.3 of).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pycolmap")

from mipnerf_lib import datasets, training  # noqa: E402
from mipnerf_lib.__main__ import main  # noqa: E402
from mipnerf_lib.prepare import PrepareError, prepare  # noqa: E402
from mipnerf_lib.prepare.align import centre_errors, similarity_align  # noqa: E402
from mipnerf_lib.prepare.sfm import import_pycolmap  # noqa: E402
from mipnerf_lib.prepare.synthetic import render_capture  # noqa: E402
from tests.conftest import FAST, REPO, tiny_config  # noqa: E402

RADIUS = 4.0


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    orbit_c2w, _ = render_capture(root / "orbit", "orbit", n=24)
    forward_c2w, _ = render_capture(root / "forward", "forward", n=16)
    return {"root": root, "orbit": orbit_c2w, "forward": forward_c2w}


@pytest.fixture(scope="module")
def blender_run(photos):
    """The Blender dataset, written by the command line in a subprocess."""
    out = photos["root"] / "orbit_blender"
    env = {**os.environ, "PYTHONPATH": REPO}
    proc = subprocess.run([sys.executable, "-m", "mipnerf_lib", "prepare", "--images",
                           str(photos["root"] / "orbit"), "--out", str(out), "--format",
                           "blender", "--no_progress"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    return out, proc


@pytest.fixture(scope="module")
def llff_run(photos):
    out = photos["root"] / "forward_llff"
    return prepare(photos["root"] / "forward", out, "llff", downscale=(2, 4), progress=False)


def _rotation_errors_deg(rec_c2w, true_c2w):
    _, rot, _ = similarity_align(rec_c2w[:, :3, 3], true_c2w[:, :3, 3])
    rel = np.einsum("ij,njk->nik", rot, rec_c2w[:, :3, :3])
    cos = (np.einsum("nij,nij->n", rel, true_c2w[:, :3, :3]) - 1) / 2
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def test_blender_cli_recovers_the_orbit(blender_run, photos):
    out, proc = blender_run
    assert proc.returncode == 0, proc.stderr
    assert "registered 24/24 photos (100%)" in proc.stdout
    assert "mean reprojection error" in proc.stdout and "sparse points" in proc.stdout
    assert (out / "cameras.png").is_file() and Image.open(out / "cameras.png").size[0] > 600
    frames = {}
    for split in ("train", "val", "test"):
        meta = json.loads((out / f"transforms_{split}.json").read_text())
        assert abs(meta["camera_angle_x"] - 0.6911112070083618) < 0.01  # the true FOV
        for f in meta["frames"]:
            assert (out / (f["file_path"] + ".png")).is_file()
            frames[f["file_path"].rsplit("/", 1)[1]] = np.array(f["transform_matrix"])
    assert len(frames) >= 0.9 * 24
    idx = [int(name[5:8]) for name in sorted(frames)]
    rec = np.stack([frames[n] for n in sorted(frames)])
    errors, _ = centre_errors(rec[:, :3, 3], photos["orbit"][idx, :3, 3])
    assert errors.max() < 0.01 * RADIUS, errors / RADIUS
    assert _rotation_errors_deg(rec, photos["orbit"][idx]).max() < 1.0
    # Centred and scaled to the blender preset's near/far: the cameras sit around the origin.
    dist = np.linalg.norm(rec[:, :3, 3], axis=1)
    assert 2.0 < dist.min() and dist.max() < 6.0


def test_llff_recovers_the_forward_facing_capture(llff_run, photos):
    result = llff_run
    assert result.sfm.registered_fraction >= 0.9
    pb = np.load(result.out / "poses_bounds.npy")
    assert pb.shape == (len(result.names), 17)
    idx = [int(name[5:8]) for name in result.names]
    mats = pb[:, :15].reshape(-1, 3, 5)
    # LLFF's [down, right, back] columns -> OpenGL [right, up, back].
    rec = np.concatenate([mats[:, :, 1:2], -mats[:, :, 0:1], mats[:, :, 2:4]], 2)
    errors, _ = centre_errors(rec[:, :, 3], photos["forward"][idx, :3, 3])
    assert errors.max() < 0.01 * RADIUS, errors / RADIUS
    assert _rotation_errors_deg(rec, photos["forward"][idx]).max() < 1.0
    # Bounds (0.1/99.9 percentiles of the points' depths): the scene's surfaces lie 2.6 (the
    # sphere) to about 7.5 (the wall seen by the top rows) from the cameras; most points are on
    # the wall.
    scale, _, _ = similarity_align(rec[:, :, 3], photos["forward"][idx, :3, 3])
    near, far = scale * pb[:, 15], scale * pb[:, 16]
    assert np.all(near > 2.3) and np.all(far < 8.0) and np.all(far > near + 0.3)
    for factor in (2, 4):
        assert len(list((result.out / f"images_{factor}").glob("*.png"))) == len(result.names)
    assert "mean reprojection error" in result.summary()


def test_the_loaders_read_both_layouts_and_train(blender_run, llff_run, tmp_path):
    out, proc = blender_run
    assert proc.returncode == 0, proc.stderr
    config = tiny_config(dataset_loader="blender", batching="single_image")
    test = datasets.get_dataset("test", str(out), config)
    # 256x256 photos, focal 355.6 px; undistortion may trim a pixel or two.
    assert test.h == test.w and 250 <= test.w <= 256 and abs(test.focal - 355.6) < 3
    batch = datasets.get_dataset("train", str(out), config).batch_at(0)
    assert np.all(np.isfinite(batch["pixels"])) and batch["pixels"].shape[-1] == 3

    config = tiny_config(dataset_loader="llff", factor=2, near=0.0, far=1.0, white_bkgd=False,
                         ray_shape="cylinder", max_steps=2, save_every=2, print_every=1)
    train = datasets.get_dataset("train", str(llff_run.out), config)
    sfm = llff_run.sfm  # cropped to multiples of 4 (the downscales 2 and 4), read at factor 2
    assert (train.h, train.w) == (sfm.height // 4 * 4 // 2, sfm.width // 4 * 4 // 2)
    result = training.train(config, train_dir=str(tmp_path / "llff"), dataset=train,
                            progress=False, compiler_options=FAST)
    assert result.step == 2 and np.isfinite(result.history[-1]["loss"])


# ----------------------------------------------------------------------------- errors
def _cli(args, capsys):
    code = main(["prepare", "--no_progress", *map(str, args)])
    err = capsys.readouterr().err.strip()
    return code, err


def _copy(photos, names, folder, kind="orbit"):
    folder.mkdir()
    for name in names:
        Image.open(photos["root"] / kind / name).save(folder / name)
    return folder


def test_a_folder_without_images(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("no photos here")
    code, err = _cli(["--images", tmp_path, "--out", tmp_path / "out"], capsys)
    assert code == 2 and "no images" in err and "notes.txt" in err and len(err.splitlines()) == 1


def test_mixed_sizes_and_orientations(photos, tmp_path, capsys):
    folder = _copy(photos, [f"image{i:03d}.png" for i in range(4)], tmp_path / "sizes")
    Image.open(folder / "image002.png").resize((128, 128)).save(folder / "image002.png")
    code, err = _cli(["--images", folder, "--out", tmp_path / "o1"], capsys)
    assert code == 2 and "different sizes" in err and "image002.png" in err

    folder = tmp_path / "exif"
    folder.mkdir()
    for i in range(4):
        img = Image.open(photos["root"] / "orbit" / f"image{i:03d}.png")
        exif = Image.Exif()
        exif[274] = 6 if i == 3 else 1
        img.save(folder / f"image{i:03d}.jpg", exif=exif)
    code, err = _cli(["--images", folder, "--out", tmp_path / "o2"], capsys)
    assert code == 2 and "EXIF orientations" in err and "image003.jpg" in err


def test_too_few_matches(tmp_path, capsys):
    folder = tmp_path / "flat"
    folder.mkdir()
    for i in range(4):  # featureless: no SIFT keypoints at all
        Image.new("RGB", (96, 96), (40 * i, 90, 200)).save(folder / f"flat{i}.png")
    code, err = _cli(["--images", folder, "--out", tmp_path / "out"], capsys)
    assert code == 2 and "too few matches" in err and "flat0.png: 0" in err
    assert len(err.splitlines()) == 1


def test_unregistered_photos_are_listed(photos, tmp_path, capsys):
    """Four photos that register and two featureless ones: 67% < --min_registered 75%."""
    folder = _copy(photos, [f"image{i:03d}.png" for i in range(4)], tmp_path / "some")
    for i in range(2):
        Image.new("RGB", (256, 256), (200, 90 * i, 90)).save(folder / f"flat{i}.png")
    code, err = _cli(["--images", folder, "--out", tmp_path / "out"], capsys)
    assert code == 2 and "only 4 of 6 photos (67%) registered" in err
    assert "not registered: flat0.png, flat1.png" in err and len(err.splitlines()) == 1


def test_a_split_reconstruction_keeps_the_largest_model(photos, tmp_path):
    """Ten photos and the same ten mirrored (SIFT does not match mirror images): two models
    of ten; the largest is kept, the others' photos are left out and listed."""
    names = [f"image{i:03d}.png" for i in range(10)]
    folder = _copy(photos, names, tmp_path / "two")
    for name in names:
        Image.open(folder / name).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(
            folder / f"mirror_{name}")
    result = prepare(folder, tmp_path / "out", "llff", min_registered=0.4, progress=False)
    assert len(result.names) == 10 and len(result.sfm.unregistered) == 10
    assert any("split into 2 models" in n and "left out" in n for n in result.notes)
    kept_mirrored = result.names[0].startswith("mirror_")
    assert all(n.startswith("mirror_") == kept_mirrored for n in result.names)
    assert "registered 10/20 photos (50%); not registered" in result.summary()


def test_missing_pycolmap_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pycolmap", None)
    with pytest.raises(PrepareError, match=r"pip install -e '\.\[colmap\]'"):
        import_pycolmap()


def test_bad_arguments(tmp_path, capsys):
    code, err = _cli(["--images", tmp_path, "--out", tmp_path / "o", "--downscale", "0"], capsys)
    assert code == 2 and "--downscale" in err
    code, err = _cli(["--images", tmp_path, "--out", tmp_path / "o", "--camera_model", "FISH"],
                     capsys)
    assert code == 2


# ----------------------------------------------------------------------------- writers
def test_centred_crop_centres_the_principal_point():
    from mipnerf_lib.prepare.write import centred_crop

    assert centred_crop(200, 150, (100.0, 75.0)) == (0, 0, 200, 150)
    assert centred_crop(200, 150, (100.0, 75.0), multiple=8) == (0, 3, 200, 147)
    x0, y0, x1, y1 = centred_crop(200, 150, (110.0, 70.0))
    assert abs(110.0 - x0 - 0.5 * (x1 - x0)) <= 0.5 and abs(70.0 - y0 - 0.5 * (y1 - y0)) <= 0.5
    with pytest.raises(PrepareError, match="off-centre"):
        centred_crop(200, 150, (0.2, 75.0))


def test_writers_resample_non_square_pixels_and_crop(tmp_path):
    """A fake reconstruction: fx != fy (the rows are resampled), an off-centre principal point
    (the images are cropped around it); the LLFF loader then reads the result."""
    from mipnerf_lib.prepare.sfm import SfmResult
    from mipnerf_lib.prepare.write import write_llff

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    names = [f"p{i}.png" for i in range(3)]
    for name in names:
        Image.fromarray(rng.integers(0, 255, (100, 120, 3), np.uint8)).save(photos / name)
    c2w = np.stack([np.eye(4)] * 3)
    c2w[:, 0, 3] = [0.0, 0.1, 0.2]
    sfm = SfmResult(names=names, image_dir=photos, c2w=c2w, width=120, height=110,
                    resize=(120, 110), focal=100.0, principal_point=(64.0, 55.0),
                    points=np.zeros((0, 3)), depths=[np.linspace(2, 5, 50)] * 3,
                    unregistered=[], n_images=3, mean_reprojection_error=0.1,
                    camera_model="PINHOLE", camera_params=[100.0, 90.9, 64.0, 50.0])
    poses_bounds, box, notes = write_llff(sfm, tmp_path / "out", factors=(2,))
    # Rows resampled 100 -> 110 (square pixels), columns cropped to 8..120 around cx = 64.
    assert box == (8, 0, 120, 110) and "cropped" in notes[0]
    assert Image.open(tmp_path / "out" / "images" / "p0.png").size == (112, 110)
    assert Image.open(tmp_path / "out" / "images_2" / "p0.png").size == (56, 55)
    np.testing.assert_allclose(poses_bounds[0, [4, 9, 14]], [110, 112, 100])
    np.testing.assert_allclose(poses_bounds[:, 15:], [[2.003, 4.997]] * 3, atol=1e-3)
    config = tiny_config(dataset_loader="llff", factor=2, near=0.0, far=1.0, white_bkgd=False)
    train = datasets.get_dataset("train", str(tmp_path / "out"), config)
    assert (train.h, train.w, train.focal) == (55, 56, 50.0)
