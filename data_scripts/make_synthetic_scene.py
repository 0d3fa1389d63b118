"""Render a small procedural scene: the default data set of the project.

A command line over :mod:`mipnerf_lib.datasets.synthetic_scene` (which says what the scene
holds and what files it writes): the Blender layout (``transforms_{train,val,test}.json`` and
RGBA PNGs), or with ``--llff`` a forward-facing LLFF capture (``poses_bounds.npy`` and
``images/``). Usage::

    python data_scripts/make_synthetic_scene.py --outdir data/synthetic --width 64
    python data_scripts/make_synthetic_scene.py --outdir data/synthetic_llff --llff
"""

from __future__ import annotations

import argparse

from mipnerf_lib.datasets.synthetic_scene import make_llff_scene, make_scene


def main(argv=None):
    """Command-line entry point (see the module docstring); returns the output folder."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outdir", required=True, help="output folder")
    parser.add_argument("--width", "--resolution", dest="width", type=int, default=64,
                        help="image width (and height for the Blender layout) in pixels")
    parser.add_argument("--n_train", type=int, default=24)
    parser.add_argument("--n_val", type=int, default=4)
    parser.add_argument("--n_test", type=int, default=8)
    parser.add_argument("--n_views", type=int, default=20, help="number of views with --llff")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--supersample", type=int, default=8,
                        help="sub-pixel rays per pixel and axis (8 -> 64 rays per pixel)")
    parser.add_argument("--llff", action="store_true",
                        help="write a forward-facing LLFF capture instead of the Blender layout")
    args = parser.parse_args(argv)
    try:
        if args.llff:
            out = make_llff_scene(args.outdir, args.width, args.n_views, args.seed,
                                  args.supersample)
        else:
            out = make_scene(args.outdir, args.width, args.n_train, args.n_val, args.n_test,
                             args.seed, args.supersample)
    except ValueError as e:
        parser.error(str(e))
    print(f"Wrote {out}")
    return out


if __name__ == "__main__":
    main()
