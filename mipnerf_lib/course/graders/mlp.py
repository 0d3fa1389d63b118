"""Grader of notebook 04 (the MLP): counting its parameters.

``check_mlp_parameter_count`` grades ``fn(input_dim, condition_dim, net_depth, net_width,
net_depth_condition, net_width_condition, skip_layer) -> int`` against
:func:`count_mlp_parameters`, the parameters of the real ``model.MLP``.
"""

from __future__ import annotations

from mipnerf_lib.course.graders.answers import as_int, Fail
from mipnerf_lib.course.graders.harness import call_student, run_grader

__all__ = ["check_mlp_parameter_count", "count_mlp_parameters"]


_MLP_ARGS = (
    "input_dim",
    "condition_dim",
    "net_depth",
    "net_width",
    "net_depth_condition",
    "net_width_condition",
    "skip_layer",
)

_MLP_CONFIGS = (
    # The paper's MLP: IPE of degrees 0..15 (96 features), view directions with deg_view 4 (27).
    dict(input_dim=96, condition_dim=27, net_depth=8, net_width=256, net_depth_condition=1,
         net_width_condition=128, skip_layer=4),
    dict(input_dim=12, condition_dim=9, net_depth=4, net_width=32, net_depth_condition=1,
         net_width_condition=16, skip_layer=2),
    dict(input_dim=6, condition_dim=3, net_depth=5, net_width=8, net_depth_condition=2,
         net_width_condition=4, skip_layer=2),
)


def count_mlp_parameters(input_dim, condition_dim, net_depth, net_width, net_depth_condition,
                         net_width_condition, skip_layer):
    """The number of parameters of ``model.MLP`` built with these sizes (the ground truth).

    The MLP is built abstractly (``nnx.eval_shape``): no memory, no computation.
    """
    from flax import nnx

    from mipnerf_lib import model

    mlp = nnx.eval_shape(
        lambda: model.MLP(
            input_dim,
            condition_dim,
            net_depth=net_depth,
            net_width=net_width,
            net_depth_condition=net_depth_condition,
            net_width_condition=net_width_condition,
            skip_layer=skip_layer,
            rngs=nnx.Rngs(0),
        )
    )
    return model.param_count(mlp)


def check_mlp_parameter_count(fn, count_fn=None):
    """Grade ``fn(input_dim, condition_dim, net_depth, net_width, net_depth_condition,
    net_width_condition, skip_layer) -> int``.

    The truth is ``count_fn`` with the same arguments (default: the parameters of
    ``model.MLP`` built with those sizes, :func:`count_mlp_parameters`). The MLP has
    ``net_depth`` dense layers of ``net_width`` (the input is concatenated back after layer
    ``i`` when ``i % skip_layer == 0`` and ``i > 0``), a density head (1 output), a
    bottleneck (``net_width``, no activation), ``net_depth_condition`` layers of
    ``net_width_condition`` on ``[bottleneck, condition]`` and an RGB head (3); every layer
    has a bias.
    """
    count_fn = count_fn or count_mlp_parameters

    def body():
        for cfg in _MLP_CONFIGS:
            expected = int(count_fn(**cfg))
            got = call_student(fn, *[cfg[k] for k in _MLP_ARGS])
            got = as_int(got, "the parameter count")
            if got == expected:
                continue
            diff = got - expected
            sizes = ", ".join(f"{k}={v}" for k, v in cfg.items())
            msg = f"For an MLP with {sizes} the answer is {expected:,}; you counted {got:,} ({diff:+,})."
            width, dim = cfg["net_width"], cfg["input_dim"]
            n_skips = sum(1 for i in range(cfg["net_depth"]) if i % cfg["skip_layer"] == 0 and i > 0)
            if diff % (dim * width) == 0 and -n_skips <= diff // (dim * width) < 0:
                msg += (
                    "\n  Hint: the skip connection. After layer i with i % skip_layer == 0 (i > 0) "
                    "the input is concatenated back, so the next layer sees net_width + input_dim "
                    "inputs."
                )
            elif diff in (-(width + 1), -(width * width + width), -(cfg["net_width_condition"] * 3 + 3)):
                msg += "\n  Hint: count every head: density (1 output), bottleneck (net_width), rgb (3)."
            elif diff < 0 and diff % width == 0 and -diff // width <= cfg["net_depth"] + 2:
                msg += "\n  Hint: did you forget biases? Every layer has one per output."
            else:
                msg += "\n  Hint: a dense layer from n inputs to m outputs has n * m weights plus m biases."
            raise Fail(msg)

    return run_grader("check_mlp_parameter_count", body, forbid=(
        "mipnerf_lib.model.MLP", "mipnerf_lib.model.MipNerfModel",
        "mipnerf_lib.course.graders.mlp.count_mlp_parameters", "mipnerf_lib.course.graders.count_mlp_parameters"))
