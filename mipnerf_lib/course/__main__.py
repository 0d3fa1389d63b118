"""``python -m mipnerf_lib.course release|grade``: see :mod:`mipnerf_lib.course.classroom`."""

import sys

from mipnerf_lib.course.classroom import main

if __name__ == "__main__":
    sys.exit(main())
