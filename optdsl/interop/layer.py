"""``Layer``: a problem as a differentiable function ``layer(*parameter_values) -> variable_values``.

The call convention of ``cvxpylayers.jax.CvxpyLayer``: the parameter values come
positionally in the order the layer was built with, the variables' values come back as
a tuple in theirs. An input with one more leading axis than its parameter is a batch:
the layer solves once per row (``jax.vmap``), and unbatched inputs are shared across
the batch. Gradients are the compiled problem's implicit ones, so the layer composes
with ``jax.jit``, ``jax.grad``, ``jax.vmap``, optax and equinox/flax modules.

``layer(..., return_solution=True)`` also returns the :class:`~optdsl.runtime.compiled.Solution`
(like JAXopt's ``(params, state)``): its ``status`` holds one traced int32 code per instance, to mask
the loss of instances that are not solved; :meth:`Layer.status_names` names the codes on the host.
An instance that is not solved has a zero derivative: there is no certified solution to
differentiate, and its implicit derivative may be NaN, which a masked loss would not remove.

>>> import numpy as np
>>> import optdsl as od
>>> x, c = od.Variable(2, name="x"), od.Parameter(2, name="c")
>>> layer = od.Layer(od.Problem(od.Minimize(od.sum_squares(x - c))), parameters=[c], variables=[x])
>>> (x_star,) = layer(np.array([1.0, 2.0]))
>>> np.round(x_star, 6).tolist()
[1.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from optdsl.interop.errors import InteropError
from optdsl.modeling import Parameter, Problem, Variable
from optdsl.runtime.compiled import Solution
from optdsl.runtime.dtypes import float_dtype
from optdsl.runtime.status import SOLVED, describe_all


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

    def __call__(self, *values: Any, return_solution: bool = False) -> Any:
        """Solve for ``values`` (one per parameter, optionally batched along a new leading axis).

        Returns the variables' values as a tuple; with ``return_solution=True``, the pair
        ``(values, solution)``, where ``solution`` is the compiled problem's ``Solution`` (batched like
        the values): ``status``, ``residual``, ``iterations``, ``objective``, ``duals``, ... per instance.
        """
        if len(values) != len(self.parameters):
            raise InteropError(f"Layer: expected {len(self.parameters)} values for parameters "
                               f"{[p.name for p in self.parameters]}, got {len(values)}")
        arrays = [jnp.asarray(v) for v in values]
        arrays = [a.astype(float_dtype(a.dtype)) for a in arrays]  # what the solve computes in; tangents need it
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
        solve = _zero_derivative_unless_solved(lambda *inputs: self.compiled(**dict(zip(names, inputs))))
        if sizes:
            solve = jax.vmap(solve, in_axes=tuple(0 if b else None for b in batched))
        solution = solve(*arrays)
        outputs = tuple(solution[v.name] for v in self.variables)
        return (outputs, solution) if return_solution else outputs

    @staticmethod
    def status_names(status: Any) -> str | list:
        """Names of status codes, on the host: a name for one code, (nested) lists of names for a batch.

        ``Layer.status_names(solution.status)`` gives e.g. ``["solved", "infeasible"]``; the names are
        those of :mod:`optdsl.runtime.status`.
        """
        return describe_all(status)


def _zero_derivative_unless_solved(solve: Callable[..., Solution]) -> Callable[..., Solution]:
    """``solve`` (one instance) with its derivative set to zero when the status is not solved.

    The tangent is masked on both sides of the linearised solve: the mask on its output keeps a NaN
    derivative at an unsolved point out in forward mode (``jvp``, ``jacfwd``); reverse mode (``grad``)
    runs the linear map transposed, and there the mask on its input is the one applied last.
    """

    @jax.custom_jvp
    def masked(*inputs: jax.Array) -> Solution:
        return solve(*inputs)

    @masked.defjvp
    def masked_jvp(primals: tuple, tangents: tuple) -> tuple[Solution, Solution]:
        solution, linear = jax.linearize(solve, *primals)
        solved = solution.status == SOLVED

        def keep(tangent: jax.Array) -> jax.Array:
            if tangent.dtype == jax.dtypes.float0:
                return tangent
            return jnp.where(solved, tangent, jnp.zeros_like(tangent))

        return solution, jax.tree.map(keep, linear(*map(keep, tangents)))

    return masked


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
