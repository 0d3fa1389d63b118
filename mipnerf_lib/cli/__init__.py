"""The command line ``python -m mipnerf_lib`` (documented in :mod:`mipnerf_lib.__main__`),
split by job:

- :mod:`.parser`: the subcommands' options and the exit codes (no JAX: ``--help`` is instant);
- :mod:`.checks`: the arguments refused before any work (:class:`~.checks.UsageError`);
- :mod:`.commands`: running ``train``, ``eval``, ``render``, ``prepare``, ``list_configs``;
- :mod:`.job`: joining and ending a multi-process job;
- :mod:`.entry`: :func:`main`, which says every failure in one line with its exit code.
"""

from mipnerf_lib.cli.entry import main
from mipnerf_lib.cli.parser import EXIT_CODES, build_parser

__all__ = ["main", "build_parser", "EXIT_CODES"]
