"""The multiscale loader (``mipnerf_lib.datasets.multicam``) on the converter's output of a tiny
generated scene, and its bad inputs."""

import numpy as np
import pytest

from mipnerf_lib import datasets
from mipnerf_lib.datasets import DatasetError, multiscale
from tests.datasets.helpers import config, edit_json


BAD_MULTICAM = {
    "no metadata.json": (
        lambda d: (d / "metadata.json").unlink(),
        r"metadata\.json: file not found\. Make multiscale data"),
    "split missing": (
        lambda d: edit_json(d / "metadata.json", lambda m: m.pop("val")),
        r"metadata\.json: no 'val' split \(found: train, test\)"),
    "key missing": (
        lambda d: edit_json(d / "metadata.json", lambda m: m["val"].pop("pix2cam")),
        r"metadata\.json: \['val'\]: missing key\(s\) \['pix2cam'\]"),
    "lengths differ": (
        lambda d: edit_json(d / "metadata.json", lambda m: m["val"]["lossmult"].pop()),
        r"metadata\.json: \['val'\]: 'lossmult' has 5 entries, 'file_path' has 6"),
    "size mismatch": (
        lambda d: edit_json(d / "metadata.json", lambda m: m["val"]["width"].__setitem__(0, 32)),
        r"000_d0\.png: image is 16x16 but .*metadata\.json says 32x16"),
    "bad cam2world": (
        lambda d: edit_json(d / "metadata.json",
                             lambda m: m["val"]["cam2world"].__setitem__(2, [[1.0, 2.0]])),
        r"metadata\.json: \['val'\]\['cam2world'\]\[2\]: expected a 4x4 or 3x4 matrix"),
    "mirrored cam2world": (
        lambda d: edit_json(d / "metadata.json", lambda m: m["val"]["cam2world"].__setitem__(
            2, (np.array(m["val"]["cam2world"][2]) * [[-1, 1, 1, 1]]).tolist())),
        r"\['cam2world'\]\[2\]: the rotation part is not a rotation \(mirrored"),
    "near >= far": (
        lambda d: edit_json(d / "metadata.json", lambda m: m["val"]["far"].__setitem__(1, 2.0)),
        r"\['val'\], image 1: near=2 and far=2 must satisfy 0 <= near < far"),
    "zero lossmult": (
        lambda d: edit_json(d / "metadata.json",
                             lambda m: m["val"]["lossmult"].__setitem__(4, 0.0)),
        r"\['val'\], image 4: lossmult=0 must be > 0"),
    "label gap": (
        lambda d: edit_json(d / "metadata.json", lambda m: m["val"].update(
            label=[0 if x == 0 else x + 4 for x in m["val"]["label"]])),
        r"\['label'\]: the levels present are \[0, 5, 6\]; labels must be 0, 1"),
    "fractional label": (
        lambda d: edit_json(d / "metadata.json", lambda m: m["val"]["label"].__setitem__(1, 0.5)),
        r"\['label'\]\[1\]: expected an integer, got 0\.5"),
    "singular pix2cam": (
        lambda d: edit_json(d / "metadata.json",
                             lambda m: m["val"]["pix2cam"].__setitem__(
                                 0, np.zeros((3, 3)).tolist())),
        r"\['val'\], image 0: pix2cam .* is singular"),
    "pix2cam of another size": (
        lambda d: edit_json(d / "metadata.json", lambda m: m["val"]["pix2cam"].__setitem__(
            1, multiscale.pix2cam_list(m["val"]["focal"][1], 4 * m["val"]["width"][1],
                                       4 * m["val"]["height"][1]))),
        r"\['val'\], image 1: pix2cam puts the principal point at \(16, 16\), outside the 8 x 8"),
    "pix2cam vs focal": (
        lambda d: edit_json(d / "metadata.json", lambda m: m["val"]["focal"].__setitem__(
            0, 2 * m["val"]["focal"][0])),
        r"\['val'\], image 0: pix2cam's focal .* differs from focal="),
    "boolean width": (
        lambda d: edit_json(d / "metadata.json", lambda m: m["val"]["width"].__setitem__(0, True)),
        r"\['val'\]\['width'\]\[0\]: expected a number, got True"),
}


@pytest.mark.parametrize("case", sorted(BAD_MULTICAM))
def test_bad_multicam_input_raises_dataset_error(multi_copy, case):
    breaker, pattern = BAD_MULTICAM[case]
    breaker(multi_copy)
    with pytest.raises(DatasetError, match=pattern):
        datasets.get_dataset("val", multi_copy, config(dataset_loader="multicam"))


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
