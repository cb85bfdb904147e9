"""Implicit-differentiation toolkit: usable on its own, without the modeling layer.

* :mod:`~optdsl.runtime.implicit_diff` — ``custom_root``, ``custom_fixed_point``, ``root_jvp``, ``root_vjp``;
* :mod:`~optdsl.runtime.linear_solve` — linear solvers with one signature ``solve(matvec, b, ...)``;
* :mod:`~optdsl.runtime.projections` — Euclidean and KL projections (``projection_*``);
* :mod:`~optdsl.runtime.prox` — proximal operators (``prox_*``);
* :mod:`~optdsl.runtime.solvers` — forward solvers returning ``(x, SolverInfo)``;
* :mod:`~optdsl.runtime.compiled` — ``CompiledProblem`` and its ``Solution``;
* :mod:`~optdsl.runtime.sharding` — ``batch_map``, ``batch_mesh`` and ``shard_batch`` for batches spread over devices;
* :mod:`~optdsl.runtime.sparse` — sparse (BCOO) parameter values;
* :mod:`~optdsl.runtime.tree` — how pytree arguments (tuples, dicts, nested) are handled: as one vector of their leaves.
"""

from optdsl.runtime import linear_solve, projections, prox, solvers, status, tree
from optdsl.runtime.compiled import CompiledProblem, Solution
from optdsl.errors import ClosureError
from optdsl.runtime.implicit_diff import custom_fixed_point, custom_root, root_jvp, root_vjp
from optdsl.runtime.sharding import batch_map, batch_mesh, shard_batch

__all__ = [
    "ClosureError", "CompiledProblem", "Solution", "batch_map", "batch_mesh", "custom_fixed_point", "custom_root",
    "linear_solve", "projections", "prox", "root_jvp", "root_vjp", "shard_batch", "solvers", "status", "tree",
]
