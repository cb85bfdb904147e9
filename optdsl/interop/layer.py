"""``Layer``: a problem as a differentiable function ``layer(*parameter_values) -> variable_values``.

The call convention of ``cvxpylayers.jax.CvxpyLayer``: the parameter values come
positionally in the order the layer was built with, the variables' values come back as a
tuple in theirs; a constraint's dual variable (``constraint.dual_variables[0]``) may be
listed among the variables, and its dual value comes back in its place. An input with one
more leading axis than its parameter is a batch: the layer solves once per row
(``jax.vmap``), and unbatched inputs are shared across the batch. Gradients are the compiled
problem's implicit ones, so the layer composes with ``jax.jit``, ``jax.grad``, ``jax.vmap``,
optax and equinox/flax modules.

``layer(..., return_solution=True)`` also returns the :class:`~optdsl.runtime.compiled.Solution`
(like JAXopt's ``(params, state)``): its ``status`` holds one traced int32 code per instance, to mask
the loss of instances that are not solved; :meth:`Layer.status_names` names the codes on the host.
An instance that is not solved has a zero derivative: there is no certified solution to
differentiate, and its implicit derivative may be NaN, which a masked loss would not remove.

The solve runs in the widest float JAX has enabled (float64 under ``jax_enable_x64``), as
cvxpylayers' solvers run in float64, and everything comes back in the inputs' float dtype: float32
inputs get the float64 solution rounded to float32. A float32 solve ends a few units in the last
place from the solution, differently at nearby inputs, which finite differences of the outputs
magnify (by ``1 / step``).

>>> import numpy as np
>>> import optdsl as od
>>> x, c = od.Variable(2, name="x"), od.Parameter(2, name="c")
>>> layer = od.Layer(od.Problem(od.Minimize(od.sum_squares(x - c))), parameters=[c], variables=[x])
>>> (x_star,) = layer(np.array([1.0, 2.0]))
>>> np.round(x_star, 6).tolist()
[1.0, 2.0]
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from optdsl.interop.cvxpy import _convert_problem, cvxpy_value, n_dimensional_shape
from optdsl.interop.errors import InteropError
from optdsl.modeling import Parameter, Problem, Variable
from optdsl.modeling.constraints import DualVariable
from optdsl.runtime.compiled import Solution
from optdsl.runtime.dtypes import float_dtype
from optdsl.runtime.status import SOLVED, describe_all


class Layer:
    """``Layer(problem, parameters, variables, **compile_options)``; call it with the parameters' values.

    ``problem`` is an optdsl ``Problem`` or a ``cvxpy.Problem`` (converted with ``from_cvxpy``;
    ``parameters`` and ``variables`` are then the cvxpy objects, their values in cvxpy's shapes).
    ``parameters`` must list every parameter of the problem once; ``variables`` any of its variables and of its
    constraints' dual variables (``constraint.dual_variables[0]``).
    ``compile_options`` go to ``problem.compile_once`` (``method``, ``tol``, ...): layers of one problem
    with the same options, and ``problem.solve``, share one compilation.
    Misuse raises an :class:`~optdsl.interop.errors.InteropError`, a ``ValueError`` as in cvxpylayers.
    """

    def __init__(self, problem: Any, parameters: Sequence[Any], variables: Sequence[Any], **compile_options: Any):
        shapes: dict[int, tuple[int, ...]] = {}  # cvxpy's shape of a value whose optdsl counterpart has another
        if not isinstance(problem, Problem):
            problem, ports, shapes = _from_cvxpy(problem)
            parameters = [_converted(ports, p, "parameters") for p in parameters]
            variables = [_converted(ports, v, "variables") for v in variables]
        _check_leaves(problem.parameters(), parameters, "parameters", complete=True)
        parts = [v if isinstance(v, tuple) else (v,) for v in variables]  # a tuple: an N-d PSD's slices
        primal = [v for v in variables if not isinstance(v, (DualVariable, tuple))]
        _check_leaves(problem.variables(), primal, "variables", complete=False)
        names = {id(c): name for name, c in problem.named_constraints().items()}
        for dual in (d for slices in parts for d in slices):
            if isinstance(dual, DualVariable) and id(dual.constraint) not in names:
                raise InteropError(f"Layer: variables must be a subset of problem.variables and of its constraints' "
                                   f"dual variables; {dual} is the dual of a constraint not in the problem")
        self.problem = problem
        self.parameters = tuple(parameters)
        self.variables = tuple(variables)
        self._inputs = tuple(shapes.get(id(p), p.shape) for p in parameters)
        self._outputs = tuple(
            (tuple((names[id(v.constraint)], True) if isinstance(v, DualVariable) else (v.name, False) for v in slices),
             shapes.get(id(variable))) for variable, slices in zip(variables, parts))
        self.compiled = problem.compile_once(**compile_options)

    def __call__(self, *values: Any, return_solution: bool = False) -> Any:
        """Solve for ``values`` (one per parameter, optionally batched along a new leading axis).

        Returns the variables' values (a dual variable's: the dual value) as a tuple; with
        ``return_solution=True``, the pair ``(values, solution)``, where ``solution`` is the compiled
        problem's ``Solution`` (batched like the values): ``status``, ``residual``, ``iterations``,
        ``objective``, ``duals``, ... per instance.
        """
        if len(values) != len(self.parameters):
            raise InteropError(f"Layer: A value must be provided for each parameter: expected {len(self.parameters)} "
                               f"values for parameters {[p.name for p in self.parameters]}, got {len(values)}")
        arrays = [jnp.asarray(v) for v in values]
        dtype = float_dtype(*arrays)  # what the layer returns
        arrays = [a.astype(float_dtype()) for a in arrays]  # what the solve computes in; tangents need it
        batched = []
        for parameter, shape, array in zip(self.parameters, self._inputs, arrays):
            if array.shape == shape:
                batched.append(False)
            elif array.shape[1:] == shape:
                batched.append(True)
            else:
                problem = "shape" if array.ndim <= len(shape) + 1 else "dimensionality"
                raise InteropError(f"Layer: Invalid parameter {problem}: parameter {parameter.name!r} has shape "
                                   f"{shape}; got a value of shape {array.shape} (a batch adds one "
                                   f"leading axis)")
        arrays = [a.reshape(a.shape[:1] * b + p.shape) for a, b, p in zip(arrays, batched, self.parameters)]
        sizes = {a.shape[0] for a, b in zip(arrays, batched) if b}
        if len(sizes) > 1:
            raise InteropError(f"Layer: Inconsistent batch sizes: batched inputs have sizes {sorted(sizes)}")
        names = [p.name for p in self.parameters]
        solve = _zero_derivative_unless_solved(lambda *inputs: self.compiled(**dict(zip(names, inputs))))
        if sizes:
            solve = jax.vmap(solve, in_axes=tuple(0 if b else None for b in batched))
        solution = jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a,
                                solve(*arrays))
        batch = tuple(sizes)
        outputs = tuple(cvxpy_value([solution.duals[name] if dual else solution[name] for name, dual in slices], shape,
                                    batch) for slices, shape in self._outputs)
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


#: Each cvxpy problem's conversion (the optdsl problem; the optdsl leaf or dual variable of each cvxpy one by id,
#: a tuple of them for an N-d PSD's slices; cvxpy's shape of those of another layout, by the id of the optdsl
#: counterpart), kept while the cvxpy problem lives, so that its layers share one compilation.
_CONVERTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _from_cvxpy(cvxpy_problem: Any) -> tuple[Problem, dict[int, Any], dict[int, tuple[int, ...]]]:
    try:
        return _CONVERTED[cvxpy_problem]
    except (KeyError, TypeError):  # not converted yet; or not a cvxpy problem, which the conversion names
        pass
    problem, conv = _convert_problem(cvxpy_problem)
    ports: dict[int, Any] = dict(conv.leaves)
    shapes = {id(conv.leaves[key]): n_dimensional_shape(node) for key, node in conv.cvxpy_leaves.items()}
    for constraint, group in zip(cvxpy_problem.constraints, conv.groups):
        duals = tuple(c.dual_variables[0] for c in group)
        ports[id(constraint.dual_variables[0])] = duals[0] if len(duals) == 1 else duals
        shapes[id(ports[id(constraint.dual_variables[0])])] = n_dimensional_shape(constraint)
    _CONVERTED[cvxpy_problem] = problem, ports, {key: s for key, s in shapes.items() if s is not None}
    return _CONVERTED[cvxpy_problem]


def _converted(leaves: dict[int, Any], leaf: Any, role: str) -> Any:
    if id(leaf) not in leaves:
        rule = "must exactly match problem.parameters" if role == "parameters" else (
            "must be a subset of problem.variables (or of its constraints' dual variables)")
        raise InteropError(f"Layer: {role} {rule}; it lists {leaf}, which is not in the cvxpy problem")
    return leaves[id(leaf)]


def _check_leaves(present: list, given: Sequence[Any], role: str, complete: bool) -> None:
    """``given`` must be leaves of ``present`` (all of them when ``complete``), each listed once."""
    kind, rule = (Parameter, "must exactly match problem.parameters") if complete else (
        Variable, "must be a subset of problem.variables")
    known = {id(leaf) for leaf in present}
    for leaf in given:
        if not isinstance(leaf, kind):
            raise InteropError(f"Layer: {role} {rule}; got {leaf!r}, not a {kind.__name__}")
        if id(leaf) not in known:
            raise InteropError(f"Layer: {role} {rule}; it lists {leaf.name!r}, which is not in the problem")
    if len({id(leaf) for leaf in given}) != len(given):
        raise InteropError(f"Layer: {role} lists a leaf twice: {[leaf.name for leaf in given]}")
    missing = [leaf.name for leaf in present if id(leaf) not in {id(g) for g in given}]
    if complete and missing:
        raise InteropError(f"Layer: {role} {rule}; missing {missing}")
