"""Benchmarks of optdsl against cvxpylayers, JAXopt and qpax.

One command runs the suite and prints a table (``python -m benchmarks.run --help``).
Each workload module (``qp``, ``lasso``, ``svm``, ``markowitz``, ``expcone``, ``sdp``, ``lp``,
``compile_time``, ``fidelity``) builds :class:`benchmarks.harness.Case` objects;
:mod:`benchmarks.harness` times them.
Anchors whose package is missing are left out of a case; the optdsl side always runs.
"""
