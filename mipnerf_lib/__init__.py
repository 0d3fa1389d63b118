"""mip-NeRF in JAX: a multiscale representation for anti-aliasing neural radiance fields.

The math modules (``camera``, ``gaussians``, ``encoding``, ``sampling``, ``rendering``,
``metrics``) are plain JAX and import no Flax; ``model`` and ``training`` add the network,
the optimiser and data parallelism.
"""

from mipnerf_lib.camera import Rays, generate_rays, pix2cam_matrix
from mipnerf_lib.encoding import expected_sin, integrated_pos_enc, pos_enc
from mipnerf_lib.gaussians import (
    cast_rays,
    conical_frustum_to_gaussian,
    cylinder_to_gaussian,
    lift_gaussian,
)
from mipnerf_lib.metrics import compute_ssim, mse_to_psnr, psnr_to_mse
from mipnerf_lib.rendering import render_image, volumetric_rendering
from mipnerf_lib.sampling import (
    resample_along_rays,
    sample_along_rays,
    sorted_piecewise_constant_pdf,
)
from mipnerf_lib.schedule import learning_rate_decay

__version__ = "0.1.0"
