"""Reference solutions of the notebooks' graded exercises, as plain modules for the grader tests.

The instructor's notebooks carry the same solutions inline, between nbgrader's solution
markers (``python -m mipnerf_lib.course release`` removes them from the students' copies);
these modules let ``tests/course/graders`` check every grader against an independent NumPy
answer, written from the formulas rather than by calling the library. One module per
notebook, named after it.
"""
