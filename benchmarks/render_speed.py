"""Rendering speed: seconds for one full view and rays/s (deterministic, finest level kept).

Defaults: an 800x800 Blender-style view (camera at radius 4, focal of the NeRF synthetic
scenes), the default model (randomly initialised: speed does not depend on the weights),
chunks of ``--chunk`` rays, each padded to a multiple of the device count and sharded over
all devices (``evaluation.make_render_fn`` + ``rendering.render_image``).

Reported: compile time (the first chunk), then the median over ``--repeats`` renders of
the whole view, and rays/s.

Examples::

    python -m benchmarks.render_speed                               # 800x800, paper model
    python -m benchmarks.render_speed --chunk 16384 --precision highest
    python -m benchmarks.render_speed --width 32 --height 32 --num_samples 16 \\
        --net_width 64 --repeats 2                                   # CPU smoke test
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import time

import jax
import numpy as np

from benchmarks._bench import add_config_args, apply_precision, print_summary
from mipnerf_lib import camera, evaluation, training
from mipnerf_lib.config import Config, apply_overrides
from mipnerf_lib.rendering import render_image

CAMERA_ANGLE_X = 0.6911112070083618  # the NeRF synthetic scenes' field of view


def view_rays(width: int, height: int, near=2.0, far=6.0):
    """Rays of a camera at radius 4, 30 degrees elevation, looking at the origin."""
    el, az = math.radians(30), math.radians(45)
    pos = 4.0 * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    z = pos / np.linalg.norm(pos)
    x = np.cross([0.0, 0.0, 1.0], z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = x, y, z, pos
    focal = camera.focal_from_camera_angle_x(CAMERA_ANGLE_X, width)
    rays = camera.generate_rays(c2w.astype(np.float32), width, height, focal, near, far)
    return camera.Rays(*(np.asarray(r) for r in rays))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=800)
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument("--chunk", type=int, default=8192, help="rays per call")
    parser.add_argument("--num_samples", type=int, default=128)
    parser.add_argument("--net_width", type=int, default=256)
    parser.add_argument("--net_depth", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    add_config_args(parser)
    args = parser.parse_args(argv)
    apply_precision(args.precision)
    config = dataclasses.replace(Config(), chunk=args.chunk,
                                 num_samples=args.num_samples, net_width=args.net_width,
                                 net_depth=args.net_depth)
    config = apply_overrides(config, args.overrides).validate()
    mesh = training.make_mesh()
    graphdef, state = training.init_state(config)
    render_fn = evaluation.make_render_fn(graphdef, config, state.params, mesh)
    rays = view_rays(args.width, args.height, config.near, config.far)

    # Compile on the first chunk: enough rows for one full chunk, so that the timed renders
    # (whose every chunk render_image pads to the same size) reuse the compilation.
    rows = min(args.height, math.ceil(config.chunk / args.width))
    first = jax.tree_util.tree_map(lambda r: r[:rows], rays)
    t0 = time.perf_counter()
    jax.block_until_ready(render_image(render_fn, first, None, config.chunk))
    compile_s = time.perf_counter() - t0

    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        rgb, _, _ = render_image(render_fn, rays, None, config.chunk)
        times.append(time.perf_counter() - t)
    seconds = statistics.median(times)
    n_rays = args.width * args.height
    rows = [
        ("devices", f"{mesh.size} x {jax.devices()[0].device_kind}"),
        ("precision", args.precision),
        ("view", f"{args.width}x{args.height} ({n_rays:,} rays)"),
        ("samples/ray", f"{config.num_samples} x {config.num_levels} levels"),
        ("MLP", f"{config.net_depth} x {config.net_width}"),
        ("chunk", f"{config.chunk}"),
        ("compile (+1 chunk)", f"{compile_s:.2f} s"),
        ("seconds/view (median)", f"{seconds:.3f}  (n={len(times)})"),
        ("rays/s", f"{n_rays / seconds:,.0f}"),
        ("mean rgb", f"{float(np.mean(rgb)):.4f}"),
    ]
    print_summary("render_speed", rows)
    return {"seconds_per_view": seconds, "rays_per_sec": n_rays / seconds, "compile_s": compile_s}


if __name__ == "__main__":
    main()
