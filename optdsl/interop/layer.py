"""``Layer``: a problem as a differentiable function ``layer(*parameter_values) -> variable_values``.

The call convention of ``cvxpylayers.jax.CvxpyLayer``: the parameter values come
positionally in the order the layer was built with, the variables' values come back as
a tuple in theirs. An input with one more leading axis than its parameter is a batch:
the layer solves once per row (``jax.vmap``), and unbatched inputs are shared across
the batch. Gradients are the compiled problem's implicit ones, so the layer composes
with ``jax.jit``, ``jax.grad``, ``jax.vmap``, optax and equinox/flax modules.

>>> import numpy as np
>>> import optdsl as od
>>> x, c = od.Variable(2, name="x"), od.Parameter(2, name="c")
>>> layer = od.Layer(od.Problem(od.Minimize(od.sum_squares(x - c))), parameters=[c], variables=[x])
>>> (x_star,) = layer(np.array([1.0, 2.0]))
>>> np.round(x_star, 6).tolist()
[1.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from optdsl.interop.errors import InteropError
from optdsl.modeling import Parameter, Problem, Variable


class Layer:
    """``Layer(problem, parameters, variables, **compile_options)``; call it with the parameters' values.

    ``problem`` is an optdsl ``Problem`` or a ``cvxpy.Problem`` (converted with ``from_cvxpy``;
    ``parameters`` and ``variables`` are then the cvxpy objects). ``parameters`` must list
    every parameter of the problem once; ``variables`` any of its variables.
    ``compile_options`` go to ``problem.compile`` (``method``, ``tol``, ...).
    """

    def __init__(self, problem: Any, parameters: Sequence[Any], variables: Sequence[Any], **compile_options: Any):
        if not isinstance(problem, Problem):
            from optdsl.interop.cvxpy import _convert_problem

            problem, conv = _convert_problem(problem)
            parameters = [_converted(conv.leaves, p, "parameters") for p in parameters]
            variables = [_converted(conv.leaves, v, "variables") for v in variables]
        _check_leaves(problem.parameters(), parameters, Parameter, "parameters", complete=True)
        _check_leaves(problem.variables(), variables, Variable, "variables", complete=False)
        self.problem = problem
        self.parameters = tuple(parameters)
        self.variables = tuple(variables)
        self.compiled = problem.compile(**compile_options)

    def __call__(self, *values: Any) -> tuple[jax.Array, ...]:
        """Solve for ``values`` (one per parameter, optionally batched along a new leading axis)."""
        if len(values) != len(self.parameters):
            raise InteropError(f"Layer: expected {len(self.parameters)} values for parameters "
                               f"{[p.name for p in self.parameters]}, got {len(values)}")
        arrays = [jnp.asarray(v) for v in values]
        batched = []
        for parameter, array in zip(self.parameters, arrays):
            if array.shape == parameter.shape:
                batched.append(False)
            elif array.shape[1:] == parameter.shape:
                batched.append(True)
            else:
                raise InteropError(f"Layer: parameter {parameter.name!r} has shape {parameter.shape}; got a value "
                                   f"of shape {array.shape} (a batch adds one leading axis)")
        sizes = {a.shape[0] for a, b in zip(arrays, batched) if b}
        if len(sizes) > 1:
            raise InteropError(f"Layer: batched inputs disagree on the batch size: {sorted(sizes)}")
        names = [p.name for p in self.parameters]

        def solve(*inputs: jax.Array) -> tuple[jax.Array, ...]:
            solution = self.compiled(**dict(zip(names, inputs)))
            return tuple(solution[v.name] for v in self.variables)

        if not sizes:
            return solve(*arrays)
        return jax.vmap(solve, in_axes=tuple(0 if b else None for b in batched))(*arrays)


def _converted(leaves: dict[int, Any], leaf: Any, role: str) -> Any:
    if id(leaf) not in leaves:
        raise InteropError(f"Layer: {role} lists {leaf}, which is not in the cvxpy problem")
    return leaves[id(leaf)]


def _check_leaves(present: list, given: Sequence[Any], kind: type, role: str, complete: bool) -> None:
    known = {id(leaf) for leaf in present}
    for leaf in given:
        if not isinstance(leaf, kind):
            raise InteropError(f"Layer: {role} must be {kind.__name__} objects, got {leaf!r}")
        if id(leaf) not in known:
            raise InteropError(f"Layer: {role} lists {leaf.name!r}, which is not in the problem")
    if len({id(leaf) for leaf in given}) != len(given):
        raise InteropError(f"Layer: {role} lists a leaf twice: {[leaf.name for leaf in given]}")
    missing = [leaf.name for leaf in present if id(leaf) not in {id(g) for g in given}]
    if complete and missing:
        raise InteropError(f"Layer: {role} must list every parameter of the problem; missing {missing}")
