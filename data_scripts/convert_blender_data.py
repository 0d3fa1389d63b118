"""Convert Blender scenes into mip-NeRF's multiscale layout ("multi-Blender").

A command line over :mod:`mipnerf_lib.datasets.multiscale` (which says what is written: four
box-filtered levels per image and ``metadata.json``, byte-for-byte what the paper's
``scripts/convert_blender_data.py`` writes). ``--blenderdir`` is a folder of scene folders
(e.g. ``nerf_synthetic/``): every subfolder with a ``transforms_train.json`` is converted into
``--outdir/<scene name>``. If ``--blenderdir`` is itself a scene (it contains
``transforms_train.json``), it is converted into ``--outdir`` directly. Usage::

    python data_scripts/convert_blender_data.py --blenderdir data/nerf_synthetic \\
        --outdir data/nerf_multiscale [--n_down 4]
"""

from __future__ import annotations

import argparse

from mipnerf_lib.datasets import DatasetError
from mipnerf_lib.datasets.multiscale import convert_blenderdir


def main(argv=None):
    """Command-line entry point (see the module docstring); returns the metadata.json paths."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="If --blenderdir contains transforms_train.json it is converted as one scene "
               "into --outdir; otherwise each scene subfolder goes to --outdir/<name>.")
    parser.add_argument("--blenderdir", required=True, help="folder of Blender scene folders")
    parser.add_argument("--outdir", required=True, help="where to write the multiscale data")
    parser.add_argument("--n_down", type=int, default=4, help="number of levels (default 4)")
    args = parser.parse_args(argv)
    try:
        written = convert_blenderdir(args.blenderdir, args.outdir, args.n_down)
    except (DatasetError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    for path in written:
        print(f"Wrote {path}")
    return written


if __name__ == "__main__":
    main()
