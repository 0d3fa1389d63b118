"""Command line: ``python -m mipnerf_lib train|eval|render|prepare``.

Examples::

    # Train on the embedded procedural scene (generated and cached on first use):
    python -m mipnerf_lib train --config multiblender --train_dir runs/demo \\
        --set max_steps=2000 --set batch_size=1024
    # Train on real data:
    python -m mipnerf_lib train --config blender --data_dir data/nerf_synthetic/lego \\
        --train_dir runs/lego
    # Test-set metrics (metrics.json) and images of the newest checkpoint:
    python -m mipnerf_lib eval --train_dir runs/demo
    # An orbit video (or the LLFF spiral):
    python -m mipnerf_lib render --train_dir runs/demo --out runs/demo/orbit.gif
    # Your own photos -> camera poses (COLMAP) -> a dataset (see mipnerf_lib.prepare):
    python -m mipnerf_lib prepare --images photos/ --out data/mine --format llff

Without ``--data_dir`` ``train`` uses the default scene of
:func:`mipnerf_lib.datasets.default_scene_dir` (converted to the multiscale layout for
``multicam`` configs), and ``eval``/``render`` the data the run was trained on (recorded in
``train_dir/run.json``; see :mod:`mipnerf_lib.training.provenance`); a different
``--data_dir`` or ``--config`` is said on one line. ``eval`` writes ``metrics.json`` for a
full test-set evaluation, and its own file for a partial or other-split one, each recording
the data folder, split, step and config digest. Every failure prints one
line naming what is wrong (set ``MIPNERF_DEBUG=1`` for the traceback) and exits with one of
:data:`EXIT_CODES` (also printed by ``--help``). Arguments are checked before any work.
"""

from __future__ import annotations

import sys

from mipnerf_lib.cli.entry import main
from mipnerf_lib.cli.job import end_job
from mipnerf_lib.cli.parser import (DEFAULT_INIT_TIMEOUT, DEFAULT_LOST_TIMEOUT, EXIT_CODES,
                                    EXIT_LOST, build_parser)

# The code lives in :mod:`mipnerf_lib.cli`; the last three names are the copies of
# :mod:`mipnerf_lib.training.distributed`'s values that the tests compare.
__all__ = ["main", "build_parser", "EXIT_CODES", "EXIT_LOST", "DEFAULT_INIT_TIMEOUT",
           "DEFAULT_LOST_TIMEOUT"]


if __name__ == "__main__":
    _code = main()
    end_job(_code)
    sys.exit(_code)
