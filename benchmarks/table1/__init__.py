"""The paper's Table 1 on multiscale lego: ``python -m benchmarks.table1.run`` trains and
scores the methods, ``python -m benchmarks.table1.figures`` draws the crops and the curve,
``remote/`` follows a long run on a lent GPU machine."""
