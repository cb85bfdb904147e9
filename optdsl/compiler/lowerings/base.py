"""What every lowering is, and the one place a :class:`~optdsl.runtime.compiled.Solution` is assembled.

A lowering (one per route of the lowering table) turns the analysed structure of
a model into an optimality map ``F(point, θ)``, zero exactly at solutions, a
differentiable solve ``(start, θ) -> (point, aux)`` (implicit derivatives through
``F`` unless ``diff="unrolled"``), a starting point (cold, or warm from a previous
``Solution``), and a reading of the solver's point as variable values and duals.
:meth:`Lowering.run` puts them together the same way on every route: the
``residual`` of a ``Solution`` is always ``‖F‖₂`` at the returned point, its
``state`` is the solver's point, from which ``init=`` warm-starts, and its
status is ``solved`` only when the model's constraints hold at the returned
values to ``sqrt(tol)`` (:mod:`optdsl.compiler.certify`); otherwise a solver's
"solved" is reported as ``inaccurate``. When the parameter values alone show the
feasible set is empty (:meth:`Lowering.infeasible`), the status is ``infeasible``.
"""

from __future__ import annotations

import enum
import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from optdsl.compiler.analyze import Structure
from optdsl.compiler.certify import primal_violation
from optdsl.errors import CompileError
from optdsl.runtime.compiled import Solution
from optdsl.runtime.domains import Domains
from optdsl.runtime.linear_solve import SPD_ONLY
from optdsl.runtime.solvers.base import default_tol, resolve_tol
from optdsl.runtime.status import INACCURATE, INFEASIBLE, INVALID_PARAMETER, SOLVED

Params = dict[str, jax.Array]
Run = Callable[[Params, Any, Any], Solution]


class Diff(str, enum.Enum):
    """How a solution is differentiated."""

    IMPLICIT = "implicit"  # the implicit function theorem on the optimality map (the default)
    SMOOTHED = "smoothed"  # implicit, on the barrier-relaxed KKT system (QPs)
    UNROLLED = "unrolled"  # through the solver's iterations (first-order methods; for comparisons)

    @classmethod
    def of(cls, value: Any) -> Diff:
        """``value`` (a ``Diff`` or its name) as a ``Diff``; a ``CompileError`` listing the choices otherwise."""
        try:
            return cls(value)
        except ValueError:
            raise CompileError(f"unknown diff mode {value!r}; choose one of {[d.value for d in cls]}") from None


@dataclass(frozen=True)
class Options:
    """The user's choices for a lowering (``None``: the lowering's default)."""

    solver: str | None = None
    linear_solve: str = "auto"
    tol: float | None = None
    maxiter: int | None = None
    diff: Diff = Diff.IMPLICIT
    verbose: bool = False  # the solver prints its iteration log from inside the compiled program


class Lowering(ABC):
    """One route of the lowering table: its optimality map, solve, start and reading, and their descriptions.

    Subclasses set ``name`` (the ``method=`` value), ``solvers`` (the ``solver=``
    values it runs; the first is the default) and ``diffs`` (the differentiation
    modes it supports), and implement the abstract methods.
    """

    name: ClassVar[str]
    solvers: ClassVar[tuple[str, ...]]
    diffs: ClassVar[tuple[Diff, ...]] = (Diff.IMPLICIT,)
    #: Why the compiler chose this route, in one line (``explain`` prints it); set by the router.
    reason: str = "chosen with method="

    def __init__(self, structure: Structure, options: Options):
        if options.solver is not None and options.solver not in self.solvers:
            raise CompileError(f"solver {options.solver!r} does not run method {self.name!r}; "
                               f"choose one of {list(self.solvers)}")
        if options.diff not in self.diffs:
            raise CompileError(self.diff_refusal(options.diff))
        self.structure = structure
        self.options = options
        if options.linear_solve in SPD_ONLY and self.jacobian_spd() is False:
            raise CompileError(f"linear_solve={options.linear_solve!r} needs a symmetric positive definite map, and "
                               f"the optimality map of method {self.name!r} has a Jacobian that is not one: choose "
                               "'auto', 'lu', 'gmres' or 'normal_cg'")

    def jacobian_spd(self) -> bool | None:
        """Whether the Jacobian its implicit derivatives solve with is symmetric positive definite, or None where the
        route solves with a factorisation of its own (``linear_solve`` unused)."""
        return None

    @property
    def solver(self) -> str:
        """The forward solver that runs."""
        return self.options.solver or self.solvers[0]

    def diff_refusal(self, diff: Diff) -> str:
        """Why ``diff`` does not apply to this lowering (the ``CompileError`` message)."""
        modes = ", ".join(repr(d.value) for d in self.diffs)
        return f"diff={diff.value!r} does not apply to method {self.name!r} (it supports {modes})"

    # ---- the route ---------------------------------------------------------------------------
    @abstractmethod
    def optimality(self, point: Any, params: Params) -> Any:
        """``F(point, θ)``: the map whose root the solution is; ``Solution.residual`` is its 2-norm."""

    @abstractmethod
    def solve(self) -> Callable[[Any, Params], tuple[Any, Any]]:
        """The differentiable solve ``(start, θ) -> (point, aux)``, built once per compiled problem."""

    @abstractmethod
    def start(self, params: Params, init: Solution | None, dtype: Any) -> Any:
        """The solver's starting point: cold when ``init`` is None, else warm from ``init``."""

    @abstractmethod
    def read(self, point: Any, params: Params, dtype: Any) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
        """Variable values and constraint duals (by name) at the solver's point."""

    def objective(self, point: Any, values: dict[str, jax.Array], params: Params, dtype: Any) -> jax.Array:
        """The objective as written (maximised or not) at the solution."""
        return self.structure.problem.objective.expr.evaluate({**params, **values}, dtype=dtype)

    def singular(self, aux: Any) -> jax.Array:
        """Whether the optimality map's Jacobian is singular at the solution (least-squares derivatives)."""
        return jnp.asarray(False)

    def default_tol(self, dtype: Any) -> float:
        """The solver tolerance ``tol=None`` stands for in ``dtype``."""
        return default_tol(dtype)

    def feasibility_tol(self, dtype: Any) -> jax.Array:
        """The largest relative constraint violation a ``solved`` answer may have: ``sqrt(tol)``."""
        return jnp.sqrt(jnp.asarray(resolve_tol(self.options.tol, dtype), dtype))

    @property
    def solves_under_custom_root(self) -> bool:
        """Whether every solve of this route is differentiated by ``custom_root`` (then a compiled problem's
        derivatives replay its forward solves, :func:`~optdsl.runtime.implicit_diff.forward_shared`)."""
        return True

    def infeasible(self, params: Params, dtype: Any) -> jax.Array:
        """Whether the parameter values alone show that no point is feasible (then the status is ``infeasible``).

        Routes whose solver detects infeasibility itself keep the default (no evidence).
        """
        return jnp.asarray(False)

    @property
    @abstractmethod
    def maxiter(self) -> int:
        """The iteration limit the solver runs with: ``options.maxiter``, else this route's default."""

    def solver_options(self) -> dict[str, Any]:
        """``tol``, ``maxiter`` and ``verbose`` for the solver call."""
        return {"tol": self.options.tol, "maxiter": self.maxiter, "verbose": self.options.verbose}

    # ---- words -------------------------------------------------------------------------------
    @property
    @abstractmethod
    def map_text(self) -> str:
        """The optimality map in one line, for ``explain``."""

    @property
    @abstractmethod
    def solver_text(self) -> str:
        """The forward solver in one line, for ``explain``."""

    @property
    @abstractmethod
    def differentiation_text(self) -> str:
        """How the solution is differentiated, for ``explain``."""

    @abstractmethod
    def conditions_latex(self) -> str:
        """LaTeX of the optimality conditions ``F(z, θ) = 0`` that are differentiated."""

    # ---- assembly ----------------------------------------------------------------------------
    def run(self, domains: Domains = Domains(())) -> Run:
        """``run(params, init, dtype) -> Solution``, the same assembly for every route.

        Parameter values outside ``domains`` (the model's declared and trusted parameter
        domains, :mod:`optdsl.compiler.domains`) make the status ``invalid_parameter``.
        """
        solve = self.solve()
        problem = self.structure.problem
        dual_keys = tuple((id(c), name) for name, c in problem.named_constraints().items())
        constraints = (*problem.constraints, *self.structure.sign_constraints)

        def run(params: Params, init: Solution | None, dtype: Any) -> Solution:
            point, aux = solve(self.start(params, init, dtype), params)
            values, duals = self.read(point, params, dtype)
            frozen = jax.lax.stop_gradient((point, params))
            residual = jnp.linalg.norm(ravel_pytree(self.optimality(*frozen))[0])
            violation = primal_violation(constraints, {**params, **values}, dtype, problem.objective.expr)
            feasible = violation <= self.feasibility_tol(dtype)
            status = jnp.where((aux.status == SOLVED) & ~feasible, INACCURATE, aux.status)
            status = jnp.where(self.infeasible(params, dtype), INFEASIBLE, status).astype(jnp.int32)
            status = jnp.where(domains.violated(params, dtype), INVALID_PARAMETER, status)
            return Solution(values, self.objective(point, values, params, dtype), status, residual,
                            aux.iterations, duals, dual_keys, self.singular(aux), state=point,
                            primal_violation=violation)

        return run


def signature_default(function: Callable, name: str) -> Any:
    """The default value of ``function``'s parameter ``name``."""
    return inspect.signature(function).parameters[name].default


def warm_state(init: Solution | None, like: Any) -> Any | None:
    """``init.state`` when it has the tree structure and shapes of ``like`` (this route's point), else None.

    The state is a starting value, so no derivative flows into it.
    """
    state = None if init is None else init.state
    if state is None:
        return None
    same = jax.tree_util.tree_structure(state) == jax.tree_util.tree_structure(like) and all(
        jnp.shape(a) == jnp.shape(b) for a, b in zip(jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(like)))
    return jax.lax.stop_gradient(state) if same else None
