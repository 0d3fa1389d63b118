"""Tests of the procedural scene (mipnerf_lib.datasets.synthetic_scene, raytracer), the multiscale
converter (mipnerf_lib.datasets.multiscale) and their command lines in data_scripts/."""

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from mipnerf_lib.datasets import DatasetError, multiscale, raytracer, synthetic_scene
from mipnerf_lib.datasets.multiscale import META_KEYS
from mipnerf_lib.poses import look_at
from tests.datasets.scripts import load_script

make_scene_cli = load_script("make_synthetic_scene")
convert_cli = load_script("convert_blender_data")

SIZE = 16
N = {"train": 3, "val": 1, "test": 2}


def make(outdir, seed=0, width=SIZE, supersample=2):
    return synthetic_scene.make_scene(outdir, width=width, n_train=N["train"],
                                      n_val=N["val"], n_test=N["test"], seed=seed,
                                      supersample=supersample)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """A folder of two scenes (seeds 0 and 1), and their conversion with n_down = 3."""
    root = tmp_path_factory.mktemp("blender")
    make(root / "a", seed=0)
    make(root / "b", seed=1)
    out = tmp_path_factory.mktemp("multiscale")
    convert_cli.main(["--blenderdir", str(root), "--outdir", str(out), "--n_down", "3"])
    return SimpleNamespace(root=root, a=root / "a", b=root / "b", out=out)


def files_of(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------- generator


def test_same_seed_gives_identical_bytes_and_other_seed_differs(scenes, tmp_path):
    again = files_of(make(tmp_path / "again", seed=0))
    assert again == files_of(scenes.a)
    other = files_of(scenes.b)
    assert other[Path("train/r_0.png")] != again[Path("train/r_0.png")]
    assert other[Path("transforms_train.json")] != again[Path("transforms_train.json")]


def test_blender_layout_and_cameras(scenes):
    for split, n in N.items():
        meta = json.loads((scenes.a / f"transforms_{split}.json").read_text())
        assert meta["camera_angle_x"] == pytest.approx(synthetic_scene.CAMERA_ANGLE_X)
        assert [f["file_path"] for f in meta["frames"]] == [f"./{split}/r_{i}" for i in range(n)]
        for frame in meta["frames"]:
            c2w = np.array(frame["transform_matrix"])
            assert c2w.shape == (4, 4)
            np.testing.assert_allclose(c2w[3], [0, 0, 0, 1])
            np.testing.assert_allclose(c2w[:3, :3] @ c2w[:3, :3].T, np.eye(3), atol=1e-12)
            pos = c2w[:3, 3]
            assert np.linalg.norm(pos) == pytest.approx(4.0) and pos[2] > 0  # upper hemisphere
            # OpenGL: the camera looks down its -z axis, here at the origin; y is up-ish.
            np.testing.assert_allclose(-c2w[:3, 2], -pos / np.linalg.norm(pos), atol=1e-12)
            assert c2w[2, 1] > 0
        im = Image.open(scenes.a / f"{split}/r_0.png")
        assert im.mode == "RGBA" and im.size == (SIZE, SIZE)
        alpha = np.array(im)[..., 3]
        assert alpha.min() == 0 and alpha.max() == 255  # transparent background, solid objects


def test_sphere_coverage_matches_the_analytic_silhouette():
    """An independent check of the tracer and of alpha = coverage: a lone sphere."""
    d, r, width = 4.0, 1.0, 64
    sphere = raytracer.Sphere((0, 0, 0), r, ((1, 1, 1), (1, 1, 1)))
    focal = 0.5 * width / math.tan(0.5 * synthetic_scene.CAMERA_ANGLE_X)
    c2w = look_at((0, -d, 0))
    rgba, depth = raytracer.render_view(c2w, width, width, focal, supersample=8,
                                        rng=np.random.default_rng(0), objects=[sphere])
    r_px = focal * r / math.sqrt(d * d - r * r)  # radius of the silhouette in pixels
    assert rgba[..., 3].sum() == pytest.approx(math.pi * r_px**2, rel=0.01)
    # Depth through the centre pixel (0.5 px off-axis) is d - r; alpha is a multiple of 1/64.
    assert depth[width // 2, width // 2] == pytest.approx(d - r, abs=1e-3)
    np.testing.assert_allclose(rgba[..., 3] * 64, np.round(rgba[..., 3] * 64), atol=1e-4)


def test_near_and_far_bracket_the_objects():
    poses = synthetic_scene.blender_poses(6, np.random.default_rng(0))
    focal = 16 / math.tan(0.5 * synthetic_scene.CAMERA_ANGLE_X)
    for c2w in poses:
        _, depth = raytracer.render_view(c2w, 32, 32, focal, supersample=1)
        hit = depth[np.isfinite(depth)]
        assert hit.size > 0 and hit.min() > 2.0 and hit.max() < 6.0


def test_llff_capture_layout(tmp_path):
    out = make_scene_cli.main(["--outdir", str(tmp_path / "llff"), "--llff",
                               "--width", "32", "--n_views", "5", "--supersample", "1"])
    pb = np.load(out / "poses_bounds.npy")
    assert pb.shape == (5, 17)
    poses = pb[:, :15].reshape(5, 3, 5)
    np.testing.assert_allclose(poses[:, :, 4], [[24, 32, 16 / math.tan(0.34555560350418)]] * 5)
    down, right, back = poses[:, :, 0], poses[:, :, 1], poses[:, :, 2]
    np.testing.assert_allclose(np.cross(right, -down), back, atol=1e-12)  # right x up = back
    assert np.all(back[:, 1] < -0.8)  # all cameras look along +y: forward-facing
    assert np.all(0 < pb[:, 15]) and np.all(pb[:, 15] < pb[:, 16])
    images = sorted((out / "images").iterdir())
    assert len(images) == 5 and Image.open(images[0]).mode == "RGB"


def test_generator_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="supersample"):
        synthetic_scene.make_scene(tmp_path, width=16, supersample=0)
    with pytest.raises(SystemExit):
        make_scene_cli.main(["--outdir", str(tmp_path), "--width", "4"])


# ----------------------------------------------------------------------------- converter


def test_converter_writes_every_scene_and_level(scenes):
    assert sorted(p.name for p in scenes.out.iterdir()) == ["a", "b"]
    for split, n in N.items():
        names = sorted(p.name for p in (scenes.out / "a" / f"images_{split}").iterdir())
        assert names == [f"{i:03d}_d{j}.png" for i in range(n) for j in range(3)]
    assert not list(scenes.out.rglob("*.tmp"))


def test_metadata_json_layout_is_exactly_the_papers(scenes):
    """Rebuild metadata.json independently and compare the text byte for byte."""
    expected = {}
    for split in ("train", "val", "test"):
        meta = json.loads((scenes.a / f"transforms_{split}.json").read_text())
        focal = 0.5 * SIZE / np.tan(0.5 * meta["camera_angle_x"])
        m = {key: [] for key in META_KEYS}
        for i, frame in enumerate(meta["frames"]):
            for j in range(3):
                f, w = focal / 2**j, SIZE // 2**j
                m["file_path"].append(f"images_{split}/{i:03d}_d{j}.png")
                m["cam2world"].append(frame["transform_matrix"])
                m["width"].append(w)
                m["height"].append(w)
                m["focal"].append(f)
                m["label"].append(j)
                m["near"].append(2.0)
                m["far"].append(6.0)
                m["lossmult"].append(4.0**j)
                m["pix2cam"].append([[1 / f, 0.0, -w / 2 / f], [0.0, -1 / f, w / 2 / f],
                                     [0.0, 0.0, -1.0]])
        expected[split] = m
    text = (scenes.out / "a" / "metadata.json").read_text()
    assert text == json.dumps(expected, ensure_ascii=False, indent=4)
    assert list(json.loads(text)) == ["train", "val", "test"]
    assert list(json.loads(text)["val"]) == list(META_KEYS)


def test_levels_are_truncated_box_means_of_the_level_above(scenes):
    # The float chain, computed independently in float64: level j+1 = 2x2 mean of level j.
    level = np.array(Image.open(scenes.a / "train" / "r_1.png")) / 255.0
    for j in range(3):
        png = np.array(Image.open(scenes.out / "a" / "images_train" / f"001_d{j}.png"))
        assert png.shape == (SIZE >> j, SIZE >> j, 4) and png.dtype == np.uint8
        want = level * 255
        # uint8(x * 255) truncates; the converter's float32 rounding may fall just below an
        # integer, so values within 1e-3 of one may come out one lower.
        near_int = np.abs(want - np.round(want)) < 1e-3
        assert np.all((png == np.floor(want)) | (near_int & (png >= np.round(want) - 1)))
        assert np.mean(png == np.floor(want)) > 0.7
        if j:  # ... the box mean of the previous PNG, up to one step of truncation
            prev = np.array(Image.open(scenes.out / "a" / "images_train" / f"001_d{j - 1}.png"))
            box = prev.astype(np.float64).reshape(SIZE >> j, 2, SIZE >> j, 2, 4).mean((1, 3))
            assert np.abs(png - box).max() <= 1.0
        level = (level[0::2, 0::2] + level[1::2, 0::2] + level[0::2, 1::2] + level[1::2, 1::2]) / 4


def test_converter_size_not_divisible_raises_before_writing(tmp_path):
    make(tmp_path / "in" / "odd", width=20, supersample=1)
    with pytest.raises(DatasetError, match=r"r_0\.png: image size 20x20 is not divisible by "
                                           r"2\*\*\(n_down-1\) = 8 \(n_down=4\)"):
        multiscale.convert_blenderdir(tmp_path / "in", tmp_path / "out", n_down=4)
    assert not (tmp_path / "out" / "odd").exists()
    multiscale.convert_blenderdir(tmp_path / "in", tmp_path / "out", n_down=3)
    assert (tmp_path / "out" / "odd" / "metadata.json").is_file()


def test_converter_single_scene_folder_goes_into_outdir(scenes, tmp_path):
    written = multiscale.convert_blenderdir(scenes.a, tmp_path / "out", n_down=1)
    assert written == [tmp_path / "out" / "metadata.json"]
    meta = json.loads(written[0].read_text())
    assert meta["test"]["label"] == [0, 0] and meta["test"]["width"] == [SIZE, SIZE]


def test_converter_input_errors(scenes, tmp_path):
    with pytest.raises(DatasetError, match=r"missing: folder not found"):
        multiscale.convert_blenderdir(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "empty" / "notascene").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"empty: no scene found"):
        multiscale.convert_blenderdir(tmp_path / "empty", tmp_path / "out")
    broken = make(tmp_path / "broken", supersample=1)
    (broken / "transforms_val.json").unlink()
    with pytest.raises(DatasetError, match=r"broken/transforms_val\.json: file not found"):
        multiscale.convert_blenderdir(broken, tmp_path / "out2")
    with pytest.raises(SystemExit, match="transforms_val.json"):
        convert_cli.main(["--blenderdir", str(broken), "--outdir", str(tmp_path / "o")])


def test_interrupted_conversion_leaves_no_metadata(scenes, tmp_path, monkeypatch):
    calls = []
    real = multiscale.load_image

    def flaky(path):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(path)

    monkeypatch.setattr(multiscale, "load_image", flaky)
    with pytest.raises(KeyboardInterrupt):
        multiscale.convert_to_nerfdata(scenes.a, tmp_path / "out", n_down=2)
    assert not (tmp_path / "out" / "metadata.json").exists()
    assert not list((tmp_path / "out").rglob("*.tmp"))
