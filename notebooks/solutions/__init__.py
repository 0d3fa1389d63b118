"""Reference solutions of the notebooks' exercises (graded by ``mipnerf_lib.exercises``).

Try the exercises before you read these. Each module is plain NumPy, written from the
formulas in the notebooks rather than by calling the library, so that the graders compare
two independent answers. ``tests/test_exercises.py`` checks that every solution passes.
"""
