"""What a compiled problem is at run time: a traceable ``params -> Solution`` function.

:class:`CompiledProblem` checks the parameters it is called with (names and
shapes, which are static under ``jit``/``vmap``) and runs a pure JAX function;
:class:`Solution` is the pytree it returns. Neither knows about the modeling
layer: the compiler hands them plain functions, names and shapes.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from optdsl.errors import ArgumentError, ArgumentTypeError, ParameterError, SolverWarning, UnknownNameError
from optdsl.runtime import compilation_cache, lapack_threads
from optdsl.runtime.domains import Domains
from optdsl.runtime.dtypes import float_dtype
from optdsl.runtime.sparse import is_sparse, with_dtype
from optdsl.runtime.status import SOLVED, describe, describe_all

Array = jax.Array

#: What to try when an eager solve ends with each status other than ``solved`` (the :class:`SolverWarning`).
_ADVICE = {
    "max_iterations": "the iteration limit was reached; raise maxiter (compile(maxiter=...)), loosen tol, or "
                      "warm-start with init=",
    "infeasible": "no point satisfies the constraints at these parameter values; check the data and constraints",
    "unbounded": "the objective is unbounded on the feasible set; bound the variables or add constraints",
    "numerical_error": "the solver met non-finite values or could not take a step; check the data for NaN or "
                       "extreme scales, use float64, or try another method= or solver=",
    "inaccurate": "the solver stopped but the constraints, or the domains of the model's atoms, do not hold to "
                  "sqrt(tol) at its point; check that the model is feasible at these parameter values, raise maxiter "
                  "or tighten tol, or try another method=",
    "invalid_parameter": "a parameter lies outside its declared domain (nonneg, psd, ...)",
}


#: A point with an entry this large in absolute value, where a solve did not end ``solved``, is said in the
#: warning to suggest an objective unbounded only in the limit (the iterates diverge).
DIVERGED = 1e10


class Explanation(str):
    """The text of :meth:`CompiledProblem.explain`, shown as plain lines (not a quoted string) at a prompt."""

    def __repr__(self) -> str:
        return str(self)


#: The package's directory: a warning points at the first line outside it that led to the solve.
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _caller_level() -> int:
    """The ``stacklevel`` (for a ``warnings.warn`` made by this module's caller) of the first frame outside optdsl."""
    frame, level = sys._getframe(2), 2
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


@jax.tree_util.register_pytree_node_class
class Solution:
    """A solution: primal values by variable name, duals by constraint name, and a report.

    ``sol["x"]``, ``sol.x`` or ``sol[x]`` (the variable object) is the value of
    variable ``x``; ``sol.duals`` maps constraint names to dual values and
    ``sol.dual(c)`` accepts a constraint or its name. ``status`` is an int32 code (:mod:`optdsl.runtime.status`; see
    :meth:`status_name`), ``residual`` the norm of the optimality map at the
    returned point, ``iterations`` the solver's iteration count, ``objective``
    the objective value. ``singular`` (bool) flags an optimality map whose
    Jacobian is singular at the solution (strict complementarity fails, or the
    solution or its duals are not unique): the derivatives are then the
    least-squares ones of least norm, finite but not always the derivative
    (there may be none); ``diff="smoothed"`` differentiates a relaxed QP
    instead. ``primal_violation`` is the largest relative violation
    of the model's constraints at the returned values (see
    :mod:`optdsl.compiler.certify`); a solver's "solved" becomes ``inaccurate``
    when it exceeds the tolerance. ``state`` is the solver's own point (primal and dual
    iterates as that solver keeps them), from which ``solve(..., init=sol)``
    warm-starts. Everything is traced; a Solution passes through ``jit``, ``vmap``
    and ``grad`` like any pytree.
    """

    def __init__(self, values: Mapping[str, Array], objective: Array, status: Array,
                 residual: Array, iterations: Array, duals: Mapping[str, Array] | None = None,
                 dual_keys: tuple[tuple[int, str], ...] = (), singular: Array | bool = False, state: Any = None,
                 primal_violation: Array | float = 0.0, variable_keys: tuple[tuple[int, str], ...] = ()):
        self.values = dict(values)
        self.duals = dict(duals or {})
        self.objective = objective
        self.status = status
        self.residual = residual
        self.iterations = iterations
        self.singular = singular
        self.state = state
        self.primal_violation = primal_violation
        self._dual_keys = dual_keys
        self._variable_keys = variable_keys

    def tree_flatten(self):
        children = (self.values, self.duals, self.objective, self.status, self.residual, self.iterations,
                    self.singular, self.state, self.primal_violation)
        return children, (self._dual_keys, self._variable_keys)

    @classmethod
    def tree_unflatten(cls, keys, children):
        values, duals, objective, status, residual, iterations, singular, state, violation = children
        return cls(values, objective, status, residual, iterations, duals, keys[0], singular, state, violation,
                   keys[1])

    def __getitem__(self, variable: Any) -> Array:
        """The value of a variable, given by name or as the variable object of the compiled problem."""
        name = variable if isinstance(variable, str) else dict(self._variable_keys).get(id(variable))
        if name not in self.values:
            which = f"named {variable!r}" if isinstance(variable, str) else f"{variable!r} (not of this problem)"
            raise UnknownNameError(f"no variable {which}; the solution has {sorted(self.values)}")
        return self.values[name]

    def keyed_by(self, variable_keys: tuple[tuple[int, str], ...]) -> Solution:
        """This solution, its variables also found by object: ``variable_keys`` pairs ``id(variable)`` and name."""
        children, (dual_keys, _) = self.tree_flatten()
        return Solution.tree_unflatten((dual_keys, variable_keys), children)

    def __getattr__(self, name: str) -> Array:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(f"Solution has no attribute or variable {name!r}; variables: {sorted(values)}")

    def dual(self, constraint: Any) -> Array:
        """Dual value of a constraint, given the constraint object or its name."""
        name = constraint if isinstance(constraint, str) else dict(self._dual_keys).get(id(constraint))
        if name not in self.duals:
            raise UnknownNameError(f"no dual for constraint {constraint!r}; duals are known for {sorted(self.duals)}")
        return self.duals[name]

    def status_name(self) -> str | list:
        """The status in words (host side): a name, or (nested) lists of names for a batched solution."""
        return describe_all(self.status)

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return (f"Solution({parts}, objective={self.objective!r}, status={self.status!r}, "
                f"residual={self.residual!r}, iterations={self.iterations!r})")


def as_numeric(name: str, value: Any, kind: str = "parameter") -> np.ndarray:
    """``value`` as a numpy array of numbers; a ``ParameterError`` naming the leaf (``kind`` ``name``) otherwise."""
    try:
        array = np.asarray(value)
    except ValueError:  # numpy refuses ragged nested lists
        array = None
    if array is None or array.dtype.kind not in "biufc":
        got = type(value).__name__
        if isinstance(value, str):
            got += f" {value[:40]!r}"
        elif array is not None and array.ndim:
            got += f" of dtype {array.dtype}"
        raise ParameterError(f"{kind} {name!r} must be a number or an array of numbers, got {got}")
    return array


@dataclass(frozen=True)
class ParameterSpec:
    """Name and shape of one parameter a compiled problem expects."""

    name: str
    shape: tuple[int, ...]


@dataclass(eq=False)  # compared and hashed by identity, so jax.jit(solve) works
class CompiledProblem:
    """A problem lowered to a pure JAX function ``params -> Solution``.

    Call it as ``solve(A=A0, b=b0)``, ``solve({"A": A0, "b": b0})`` or with the parameter
    objects as keys, ``solve({A: A0, b: b0})``; a parameter left out takes its ``value``
    (``Parameter(..., value=v)`` or ``p.value = v``, read when the call runs or is traced). Pass
    ``init=previous_solution`` to warm-start from that solution's point
    (``Solution.state``; from its variable values when the state comes from
    another kind of solver). ``method`` names the optimality map
    the compiler chose; :meth:`explain` says in words what runs.
    Concrete parameter values outside ``domains`` (declared ``nonneg``, ``psd``, ...,
    or assumed by an atom's curvature) raise a ``ParameterError``; traced ones (under
    ``jit`` / ``vmap``) give the status ``invalid_parameter`` instead. A call with concrete
    parameters that ends with another status than ``solved`` gives a
    :class:`~optdsl.errors.SolverWarning` naming the status and what to try (traced calls never do).
    """

    fn: Callable[[dict[str, Array], Any], Solution]
    parameters: tuple[ParameterSpec, ...]
    method: str
    description: str
    problem: Any = None
    options: dict[str, Any] = field(default_factory=dict)
    conditions: Callable[[], str] | None = None
    domains: Domains = Domains(())

    def __post_init__(self) -> None:
        compilation_cache.enable()
        lapack_threads.limit()

    def __call__(self, params: Mapping[Any, Any] | None = None, /, *, init: Solution | None = None,
                 **kwargs: Any) -> Solution:
        given = {self._name_of(key): value for key, value in dict(params or {}).items()}
        overlap = set(given) & set(kwargs)
        if overlap:
            raise ParameterError(f"parameters given twice: {sorted(overlap)}")
        given.update(kwargs)
        if init is not None and not isinstance(init, Solution):
            raise ArgumentTypeError(f"init must be a Solution a previous call returned (its point warm-starts the "
                                    f"solver), got {type(init).__name__}")
        given = {**self._defaults(), **given}
        checked = self._check(given)
        eager = not any(isinstance(v, jax.core.Tracer) for v in jax.tree_util.tree_leaves(checked))
        if eager:
            self.domains.check(checked, float_dtype(*(v.dtype for v in checked.values())))
        solution = self.fn(checked, init).keyed_by(self._variable_keys)
        if eager and not isinstance(solution.status, jax.core.Tracer) and int(solution.status) != SOLVED:
            self._warn(solution)
        return solution

    def _warn(self, solution: Solution) -> None:
        """A :class:`SolverWarning` naming the status of an eager solve that did not end ``solved``, and what to try."""
        status, residual = describe(solution.status), float(solution.residual)
        measured = f" (residual {residual:.3g})" if np.isfinite(residual) else ""
        advice = _ADVICE.get(status, "")
        largest = max((float(np.max(np.abs(v), initial=0)) for v in solution.values.values()), default=0.0)
        if status in ("numerical_error", "max_iterations", "inaccurate") and np.isfinite(largest) \
                and largest >= DIVERGED:
            advice += (f". The point it stopped at is very large (largest entry {largest:.3g} in absolute value): the "
                       f"objective may be unbounded, approached only in the limit (as log(x) grows), where no "
                       f"certificate of unboundedness exists")
        warnings.warn(f"the {self.method} solve ended with status {status!r} after {int(solution.iterations)} "
                      f"iterations{measured}: {advice}", SolverWarning, stacklevel=_caller_level())

    @cached_property
    def _leaves(self) -> tuple[list[Any], list[Any]]:
        """The problem's parameter and variable objects (none for a problem built without the modeling layer)."""
        if self.problem is None:
            return [], []
        return self.problem.parameters(), self.problem.variables()

    @cached_property
    def _variable_keys(self) -> tuple[tuple[int, str], ...]:
        return tuple((id(v), v.name) for v in self._leaves[1])

    def _name_of(self, key: Any) -> str:
        """The name of a parameter given by name or as the parameter object."""
        if isinstance(key, str):
            return key
        for parameter in self._leaves[0]:
            if parameter is key:
                return parameter.name
        raise ParameterError(f"{key!r} is not a parameter of this problem; its parameters are "
                             f"{[p.name for p in self.parameters]} (give them by name or as the objects)")

    def _defaults(self) -> dict[str, Any]:
        """The values the problem's parameter objects hold, for the parameters a call omits."""
        return {p.name: p.value for p in self._leaves[0] if getattr(p, "value", None) is not None}

    def _check(self, given: dict[str, Any]) -> dict[str, Array]:
        expected = {p.name: p for p in self.parameters}
        unknown = sorted(set(given) - set(expected))
        missing = sorted(set(expected) - set(given))
        if unknown or missing:
            shapes = ", ".join(str(expected[name].shape) for name in missing)
            raise ParameterError(
                "; ".join(filter(None, [
                    f"unknown parameters {unknown}" if unknown else "",
                    f"missing parameters {missing} of shapes {shapes} (give their values in the call, "
                    "or set the parameters' value)" if missing else "",
                ])) + f" (the problem's parameters are {sorted(expected)})")
        checked = {}
        for name, spec in expected.items():
            value = given[name]
            if not (isinstance(value, jax.Array) or is_sparse(value)):
                value = jnp.asarray(as_numeric(name, value))
            if tuple(value.shape) != spec.shape:
                raise ParameterError(
                    f"parameter {name!r} has shape {tuple(value.shape)}, expected {spec.shape}")
            if jnp.issubdtype(value.dtype, jnp.complexfloating):
                raise ParameterError(f"parameter {name!r} has complex dtype {value.dtype}; optdsl models are real")
            dtype = float_dtype(value.dtype)
            if value.dtype != dtype:
                value = with_dtype(value, dtype) if is_sparse(value) else value.astype(dtype)
            checked[name] = value
        return checked

    def conditions_latex(self) -> str:
        """The optimality conditions the compiler generated (the map that is differentiated), as LaTeX."""
        if self.conditions is None:
            raise ArgumentError("this compiled problem carries no rendering of its optimality conditions")
        return self.conditions()

    def explain(self) -> Explanation:
        """The model, the chosen optimality map and the solver, in words: ``print(solve.explain())``.

        A string that a REPL or notebook also shows as plain text.
        """
        return Explanation(self.description)
