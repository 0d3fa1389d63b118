"""The memory limit of a process that runs students' code (the classroom's grading process,
the graders' sandbox worker): an address-space limit, POSIX only."""

from __future__ import annotations

__all__ = ["limit_address_space"]


def limit_address_space(gb: float) -> None:
    """Limit this process's address space to ``gb`` GiB (never above the hard limit).

    POSIX only (``resource.setrlimit(RLIMIT_AS)``); Windows has no such call, so callers
    check ``os.name`` first.
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = int(gb * 2**30)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
