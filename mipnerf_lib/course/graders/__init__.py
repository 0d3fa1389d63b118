"""Graders for the notebooks' exercises: ``check_*(your_function) -> bool``, one module per
notebook, all re-exported here (``from mipnerf_lib.course import graders``).

Each grader calls the student's function on fixed random inputs, compares the answer with
the library (the single source of truth), and prints either a success message or the
*first* mismatch in plain words, with a hint about the most likely mistake. It returns
``True`` or ``False`` and never raises (:mod:`.harness` holds that contract; :mod:`.answers`
checks and describes the answers). The student's
function runs in a separate worker process (:mod:`.sandbox`): killed at the time limit,
limited in memory, on copies of the inputs, and without the library function that the
exercise asks for. Students may
write their functions with NumPy or ``jax.numpy``: inputs are NumPy ``float32`` arrays and
answers are converted with ``np.asarray``.

==============================  ==========================================  ========  =====================
grader                          the student writes                          notebook  module
==============================  ==========================================  ========  =====================
``check_pix2cam``               ``fn(focal, width, height) -> [3, 3]``      00        :mod:`.rays`
``check_pixel_radii``           ``fn(directions [H, W, 3]) -> [H, W, 1]``   01        :mod:`.rays`
``check_frustum_moments``       ``fn(t0, t1, base_radius) -> (t_mean,       02        :mod:`.gaussians`
                                t_var, r_var)``
``check_expected_sin``          ``fn(x, x_var) -> (mean, var)``             03        :mod:`.encoding`
``check_integrated_pos_enc``    ``fn(mean, cov_diag, min_deg, max_deg)``    03        :mod:`.encoding`
``check_mlp_parameter_count``   ``fn(input_dim, condition_dim, net_depth,   04        :mod:`.mlp`
                                ...) -> int``
``check_compositing_weights``   ``fn(density [B, S], t_vals [B, S+1],       05        :mod:`.volume_rendering`
                                dirs [B, 3]) -> weights [B, S]``
``check_blur_weights``          ``fn(weights [B, S], resample_padding)``    05        :mod:`.volume_rendering`
``check_multiscale_loss``       ``fn(rgb [B, 3], pixels [B, 3],             06        :mod:`.training`
                                lossmult [B, 1]) -> scalar``
``check_lift_gaussian``         ``fn(d [B, 3], t_mean, t_var, r_var         02        :mod:`.gaussians`
                                [B, S]) -> (mean, cov [B, S, 3, 3])``
``check_inverse_cdf``           ``fn(bins [B, N+1], weights [B, N],         05        :mod:`.volume_rendering`
                                num_samples) -> [B, num_samples]``
``check_renderer``              ``fn(rays, field, num_samples) -> (rgb      05        :mod:`.coarse_renderer`
                                [B, 3], weights [B, S])``
``check_table1_average``        ``fn(psnr, ssim, lpips=None) -> float``     07        :mod:`.tables`
``check_pixel_footprints``      ``fn(n) -> (means [n, n, 2], variances      08        :mod:`.aliasing2d`
                                [n, n, 2])``
``check_prediction``            a typed number for a question id            01-05     :mod:`.predictions`
==============================  ==========================================  ========  =====================
"""

from mipnerf_lib.course.graders.aliasing2d import check_pixel_footprints
from mipnerf_lib.course.graders.encoding import check_expected_sin, check_integrated_pos_enc
from mipnerf_lib.course.graders.gaussians import check_frustum_moments, check_lift_gaussian
from mipnerf_lib.course.graders.mlp import check_mlp_parameter_count, count_mlp_parameters
from mipnerf_lib.course.graders.rays import check_pix2cam, check_pixel_radii
from mipnerf_lib.course.graders.predictions import check_prediction
from mipnerf_lib.course.graders.coarse_renderer import ToyField, check_renderer
from mipnerf_lib.course.graders.volume_rendering import check_blur_weights, check_compositing_weights, check_inverse_cdf
from mipnerf_lib.course.graders.tables import check_table1_average
from mipnerf_lib.course.graders.training import check_multiscale_loss

__all__ = [
    "check_pix2cam",
    "check_pixel_radii",
    "check_frustum_moments",
    "check_expected_sin",
    "check_integrated_pos_enc",
    "check_mlp_parameter_count",
    "count_mlp_parameters",
    "check_compositing_weights",
    "check_blur_weights",
    "check_multiscale_loss",
    "check_lift_gaussian",
    "check_inverse_cdf",
    "check_prediction",
    "check_renderer",
    "check_table1_average",
    "check_pixel_footprints",
    "ToyField",
]
