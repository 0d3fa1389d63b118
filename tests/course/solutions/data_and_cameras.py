"""Solution of the exercise in 00_data_and_cameras: the pix2cam matrix."""

import numpy as np


def pix2cam(focal, width, height):
    """The ``[3, 3]`` matrix mapping ``(x + 0.5, y + 0.5, 1)`` to a camera-space direction.

    x: subtract the principal point ``W/2`` and divide by the focal length. y: the same with
    ``H/2``, negated because image rows grow downwards while Blender's y points up. z: the
    camera looks down -z, so the third row makes z = -1.
    """
    cx, cy = 0.5 * width, 0.5 * height
    return np.array(
        [[1.0 / focal, 0.0, -cx / focal], [0.0, -1.0 / focal, cy / focal], [0.0, 0.0, -1.0]]
    )
