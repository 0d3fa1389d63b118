"""Image-quality metrics: PSNR and SSIM (Wang et al. 2004), as reported in the paper, and an
optional LPIPS hook (Zhang et al. 2018) for users who have a package and its weights."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy as jsp
from jax import lax

__all__ = ["mse_to_psnr", "psnr_to_mse", "compute_ssim", "LpipsUnavailable", "load_lpips"]


def mse_to_psnr(mse):
    """PSNR in dB of images in ``[0, 1]`` from their mean squared error."""
    return -10.0 / jnp.log(10.0) * jnp.log(mse)


def psnr_to_mse(psnr):
    """The mean squared error that gives ``psnr`` dB (inverse of :func:`mse_to_psnr`)."""
    return jnp.exp(-0.1 * jnp.log(10.0) * psnr)


def compute_ssim(
    img0, img1, max_val, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03, return_map=False
):
    """Structural similarity between two images (or batches of images).

    A separable Gaussian window (``filter_size`` taps, ``filter_sigma``) in 'valid' mode;
    variances are clamped at 0 and the covariance clamped in magnitude to
    ``sqrt(var0 * var1)``; ``c1 = (k1 max_val)**2``, ``c2 = (k2 max_val)**2``.

    Args:
      img0, img1: ``[..., H, W, C]`` images, ``H, W >= filter_size``.
      max_val: the dynamic range (1.0 for images in ``[0, 1]``).
      return_map: return the SSIM map ``[..., H', W', C]`` instead of its mean.

    Returns:
      ``[...]``: the mean SSIM over the last three axes.
    """
    img0 = jnp.asarray(img0)
    img1 = jnp.asarray(img1)
    if img0.shape != img1.shape or img0.ndim < 3:
        raise ValueError(
            f"compute_ssim needs two images of the same shape [..., H, W, C], got "
            f"{img0.shape} and {img1.shape}."
        )
    if min(img0.shape[-3:-1]) < filter_size:
        raise ValueError(
            f"Images of size {img0.shape[-3:-1]} are smaller than the {filter_size}-tap "
            "SSIM window."
        )
    hw = filter_size // 2
    shift = (2 * hw - filter_size + 1) / 2
    f_i = ((jnp.arange(filter_size) - hw + shift) / filter_sigma) ** 2
    filt = jnp.exp(-0.5 * f_i)
    filt = filt / jnp.sum(filt)

    # Blur along y then x (separable, cheaper than a 2D convolution).
    def filt_fn1(z):
        return jsp.signal.convolve2d(z, filt[:, None], mode="valid", precision=lax.Precision.HIGHEST)

    def filt_fn2(z):
        return jsp.signal.convolve2d(z, filt[None, :], mode="valid", precision=lax.Precision.HIGHEST)

    num_dims = img0.ndim
    map_axes = tuple(list(range(num_dims - 3)) + [num_dims - 1])
    for d in map_axes:
        filt_fn1 = jax.vmap(filt_fn1, in_axes=d, out_axes=d)
        filt_fn2 = jax.vmap(filt_fn2, in_axes=d, out_axes=d)

    def filt_fn(z):
        return filt_fn1(filt_fn2(z))

    mu0 = filt_fn(img0)
    mu1 = filt_fn(img1)
    mu00 = mu0 * mu0
    mu11 = mu1 * mu1
    mu01 = mu0 * mu1
    sigma00 = jnp.maximum(0.0, filt_fn(img0**2) - mu00)
    sigma11 = jnp.maximum(0.0, filt_fn(img1**2) - mu11)
    sigma01 = filt_fn(img0 * img1) - mu01
    sigma01 = jnp.sign(sigma01) * jnp.minimum(jnp.sqrt(sigma00 * sigma11), jnp.abs(sigma01))
    c1 = (k1 * max_val) ** 2
    c2 = (k2 * max_val) ** 2
    numer = (2 * mu01 + c1) * (2 * sigma01 + c2)
    denom = (mu00 + mu11 + c1) * (sigma00 + sigma11 + c2)
    ssim_map = numer / denom
    if return_map:
        return ssim_map
    return jnp.mean(ssim_map, tuple(range(num_dims - 3, num_dims)))


class LpipsUnavailable(RuntimeError):
    """LPIPS cannot be computed here (no package, or no weights); the message says why."""


def load_lpips(net: str = "vgg"):
    """An LPIPS callable ``fn(img0, img1) -> float`` for ``[H, W, 3]`` images in ``[0, 1]``.

    Uses the ``lpips`` PyPI package (PyTorch; ``pip install lpips``), whose linear-layer
    weights ship with it; the backbone's ImageNet weights come from torchvision's cache (or
    a download). ``net='vgg'`` is the variant the paper's code used (TF-Hub
    ``net-lin_vgg_v0.1``). Any other callable with the same signature can be passed to
    ``evaluation.evaluate(..., lpips_fn=...)`` instead.

    Raises:
      LpipsUnavailable: the package, PyTorch or the weights are missing (with the reason).
    """
    try:
        import lpips as lpips_package  # noqa: PLC0415 (optional dependency)
        import numpy as np  # noqa: PLC0415
        import torch  # noqa: PLC0415
    except ImportError as e:
        raise LpipsUnavailable(
            f"LPIPS needs the optional packages 'lpips' and 'torch' ({e}); install them "
            "(pip install lpips) or pass your own lpips_fn(img0, img1) -> float."
        ) from e
    try:
        model = lpips_package.LPIPS(net=net, verbose=False).eval()
    except Exception as e:  # weights missing and no network: say so, do not crash later
        raise LpipsUnavailable(f"could not load the LPIPS {net!r} weights: {e}") from e

    def lpips_fn(img0, img1):
        def to_tensor(img):
            arr = np.asarray(img, np.float32)[..., :3]
            return torch.from_numpy(arr).permute(2, 0, 1)[None] * 2 - 1  # [1, 3, H, W] in [-1, 1]

        with torch.no_grad():
            return float(model(to_tensor(img0), to_tensor(img1)).item())

    return lpips_fn
