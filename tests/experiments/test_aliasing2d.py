"""The 2D aliasing experiment: its pyramid, footprints, encodings and a tiny training run."""

import jax
import numpy as np
import pytest

from mipnerf_lib.encoding import pos_enc
from mipnerf_lib.experiments import aliasing2d as A


def test_pyramid_levels_are_block_averages_of_the_level_below():
    pyr = A.make_pyramid(size=27, num_levels=3, supersample=2, factor=3)
    assert [p.shape for p in pyr] == [(27, 27), (9, 9), (3, 3)]
    for fine, coarse in zip(pyr[:-1], pyr[1:]):
        n = coarse.shape[0]
        np.testing.assert_allclose(coarse, fine.reshape(n, 3, n, 3).mean((1, 3)), atol=1e-6)


def test_finest_level_of_a_linear_texture_is_its_value_at_the_centres():
    # the box average of a linear function over a square is its value at the centre
    pyr = A.make_pyramid(lambda xy: 0.2 + 0.5 * xy[..., 0] + 0.3 * xy[..., 1], size=8, num_levels=4,
                         supersample=3, factor=2)
    for img in pyr:
        m, _ = A.pixel_footprints(img.shape[0])
        np.testing.assert_allclose(img, 0.2 + 0.5 * m[..., 0] + 0.3 * m[..., 1], atol=1e-6)


def test_zone_plate_finest_level_is_below_nyquist():
    # the local frequency k r at the far corner is ring_frequency * (size / 2) cycles per unit
    size, rf = 64, 0.9
    k = rf * (size / 2) / np.sqrt(2.0)
    assert k * np.sqrt(2.0) == pytest.approx(rf * size / 2)
    assert k * np.sqrt(2.0) < size / 2


def test_footprint_variance_against_monte_carlo_uniform_pixel():
    n = 7
    means, variances = A.pixel_footprints(n)
    rng = np.random.default_rng(0)
    samples = means[3, 5] + rng.uniform(-0.5, 0.5, (200_000, 2)) / n
    np.testing.assert_allclose(samples.mean(0), means[3, 5], atol=1e-4)
    np.testing.assert_allclose(samples.var(0), variances[3, 5], rtol=2e-2)


def test_ipe_of_footprint_against_pe_averaged_over_the_pixel():
    # IPE is the mean of PE over the footprint's Gaussian; for a box pixel the Gaussian is
    # an approximation, close at frequencies whose period is longer than the pixel
    n = 9
    means, variances = A.pixel_footprints(n)
    m, v = means[4, 2], variances[4, 2]
    rng = np.random.default_rng(0)
    box = m + rng.uniform(-0.5, 0.5, (100_000, 2)) / n
    mc = np.asarray(pos_enc(np.pi * box, 0, 3, append_identity=False)).mean(0)
    ipe = np.asarray(A.encode(m, v, "ipe", 0, 3))
    np.testing.assert_allclose(ipe, mc, atol=5e-3)
    # against the Gaussian itself it is exact up to Monte-Carlo noise, at every degree
    gauss = m + rng.normal(size=(100_000, 2)) * np.sqrt(v)
    mc = np.asarray(pos_enc(np.pi * gauss, 0, 6, append_identity=False)).mean(0)
    np.testing.assert_allclose(np.asarray(A.encode(m, v, "ipe", 0, 6)), mc, atol=1e-2)


def test_shared_centre_gets_the_same_pe_but_a_different_ipe():
    # with factor 3, a coarse pixel's centre is the centre of a fine pixel: PE cannot tell
    # the two pixels apart, IPE can
    fm, fv = A.pixel_footprints(27)
    cm, cv = A.pixel_footprints(9)
    np.testing.assert_allclose(cm[2, 5], fm[7, 16], atol=1e-6)
    pe_f, pe_c = (np.asarray(A.encode(m, v, "pe", 0, 6)) for m, v in ((fm[7, 16], fv[7, 16]), (cm[2, 5], cv[2, 5])))
    ipe_f, ipe_c = (np.asarray(A.encode(m, v, "ipe", 0, 6)) for m, v in ((fm[7, 16], fv[7, 16]), (cm[2, 5], cv[2, 5])))
    np.testing.assert_allclose(pe_f, pe_c, atol=1e-6)
    assert np.max(np.abs(ipe_f - ipe_c)) > 0.3


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="encoding"):
        A.encode(np.zeros(2), np.zeros(2), "fourier", 0, 2)
    with pytest.raises(ValueError, match="divisible"):
        A.make_pyramid(size=10, num_levels=3, factor=3)


def test_tiny_run_ipe_beats_pe_at_the_coarsest_level():
    cfg = A.Aliasing2DConfig(size=27, num_levels=3, supersample=2, max_deg=6, width=32, depth=2, steps=300,
                             lr=1e-2)
    r = A.run(cfg)
    assert [x.shape for x in r["ipe"]["renders"]] == [(27, 27), (9, 9), (3, 3)]
    assert r["ipe"]["losses"][-1] < r["ipe"]["losses"][0]
    assert r["ipe"]["psnr"][-1] > r["pe"]["psnr"][-1] + 1.5
    # the renders are the MLP's: the reported PSNR is recomputed from them
    mse = np.mean((r["pe"]["renders"][0] - r["pyramid"][0]) ** 2)
    assert r["pe"]["psnr"][0] == pytest.approx(-10 * np.log10(mse), abs=1e-3)
    jax.clear_caches()
