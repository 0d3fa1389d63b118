"""``python -m mipnerf_lib.course.classroom``: the same commands as ``python -m
mipnerf_lib.course`` (the grader runs its internal ``run-one`` this way)."""

import sys

from mipnerf_lib.course.classroom.cli import main

if __name__ == "__main__":
    sys.exit(main())
