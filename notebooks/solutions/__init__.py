"""Reference solutions of the notebooks' exercises (graded by ``mipnerf_lib.course.graders``).

Try the exercises before you read these. Each module is plain NumPy, written from the
formulas in the notebooks rather than by calling the library, so that the graders compare
two independent answers. ``tests/course/test_graders.py`` checks that every solution passes.
"""
