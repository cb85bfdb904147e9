"""Constraints recognised as sets with a known projection, per variable (or block of variables).

Each constraint is first read as a *fact* about one variable: a bound
(``x >= lo``, ``x <= hi``, also from the ``nonneg``/``nonpos`` attributes), a sum
(``sum(x) == r``, ``sum(X, axis=1) == r``), a norm ball (``norm1/norm2/norm_inf(x)
<= r``), a hyperplane (``a @ x == b``), a halfspace (``a @ x <= b``), an affine set
(``A @ x == b``); or a cone on whole variables (``SOC(t, x)``, ``PSD(X)``). The facts
of one variable then form a set only in the combinations below; anything else is
left to the KKT / conic lowerings, with the constraints it came from.

=========================================  ==============================
facts on a variable                         set (projection)
=========================================  ==============================
bounds only                                 box (``projection_box``)
lower bound 0 and ``sum == r``              simplex (row-wise with axis)
finite bounds and ``sum == r`` (vector)     box section
``sum == r`` only                           hyperplane with ``a = 1``
one ball / hyperplane / halfspace / affine  that set
``SOC(t, x)`` / ``PSD(X)`` alone            the cone
=========================================  ==============================

Set parameters (bounds, radii, ``a``, ``b``) may be any constant expressions,
parameters included: they are evaluated from the parameter values at run time,
so the projection, and the solution, is differentiable in them.

Each set also gives the duals of its constraints at a solution ``x`` of a
first-order route, from the objective's gradient ``g`` there (``-g`` lies in the
set's normal cone): closed forms in the KKT sign convention (the multiplier ``y``
of ``lhs <= rhs`` or ``lhs == rhs`` enters the Lagrangian as ``y (lhs - rhs)``;
cones as ``-<y, (t, x)>``), differentiable in ``x`` and ``g``. And it tells
whether it is empty for the given parameter values: every projection here is
exact whenever its set is non-empty, so a projection that violates the set's own
constraints proves the set empty.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import jax
import jax.numpy as jnp

from optdsl.compiler.certify import primal_violation
from optdsl.modeling import (
    PSD, SOC, Constant, Constraint, Equality, Expression, Inequality, Variable,
)
from optdsl.modeling.affine.matmul import MatMul
from optdsl.modeling.affine.sum import Sum
from optdsl.modeling.atoms import Norm1, Norm2, NormInf
from optdsl.runtime import projections as P
from optdsl.runtime.safe_math import safe_div, safe_norm
from optdsl.runtime.solvers.mirror_descent import simplex_kl_step

Env = dict[str, jax.Array]
Project = Callable[[tuple[jax.Array, ...], Env], tuple[jax.Array, ...]]
KLStep = Callable[[jax.Array, jax.Array, Any, Env], jax.Array]
#: ``(values, gradients, env) -> {id(constraint): dual}`` for a set's constraints at a solution.
Duals = Callable[[tuple[jax.Array, ...], tuple[jax.Array, ...], Env], dict[int, jax.Array]]

#: The norm atoms whose balls ``atom(x) <= r`` are recognised, and their kinds.
_BALLS = {Norm1: "l1", Norm2: "l2", NormInf: "linf"}
#: The projection onto a variable's one ball, hyperplane, halfspace or affine set, by kind.
_PROJECTIONS = {"l1": P.projection_l1_ball, "l2": P.projection_l2_ball, "linf": P.projection_linf_ball,
                "hyperplane": P.projection_hyperplane, "halfspace": P.projection_halfspace,
                "affine": P.projection_affine_set}
#: The dual norm of each ball's norm: the multiplier of an active ``norm(x) <= r`` is ``dual_norm(g)``.
_DUAL_NORMS = {"l1": lambda g: jnp.max(jnp.abs(g)), "l2": safe_norm, "linf": lambda g: jnp.sum(jnp.abs(g))}


@dataclass(frozen=True)
class VariableSet:
    """A set on a block of variables: its projection, the duals of its constraints (and a KL step for simplices)."""

    kind: str
    variables: tuple[str, ...]
    description: str
    project: Project
    constraints: tuple[Constraint, ...]
    duals: Duals
    kl_step: KLStep | None = None

    def empty(self, at: tuple[jax.Array, ...], env: Env, tol: jax.Array) -> jax.Array:
        """Whether the parameter values make the set empty: the exact projection of ``at`` violates the set."""
        projected = self.project(at, env)
        return primal_violation(self.constraints, {**env, **dict(zip(self.variables, projected))}, tol.dtype) > tol


@dataclass(frozen=True)
class _Fact:
    """One constraint read as a fact about one variable.

    ``side`` is +1 when the variable's expression is the constraint's ``lhs`` and
    -1 when it is the ``rhs``: the sign of that expression in ``lhs - rhs``.
    """

    kind: str
    data: tuple[Any, ...]
    constraint: Constraint
    side: float


@dataclass
class _Facts:
    """What the constraints say about one variable."""

    bounds: list[_Fact] = field(default_factory=list)  # kinds lower, upper, fixed; data (value,)
    sums: list[_Fact] = field(default_factory=list)  # data (axis, total)
    others: list[_Fact] = field(default_factory=list)  # balls, hyperplane, halfspace, affine

    @property
    def constraints(self) -> list[Constraint]:
        return [f.constraint for f in (*self.bounds, *self.sums, *self.others)]

    def has(self, kind: str) -> bool:
        return any(f.kind in (kind, "fixed") for f in self.bounds)


def _value(expr: Expression, env: Env, dtype: Any) -> jax.Array:
    return expr.evaluate({p.name: env[p.name] for p in expr.parameters()}, dtype=dtype)


def _whole_variable(expr: Expression) -> Variable | None:
    return expr if isinstance(expr, Variable) else None


def _fact(constraint: Constraint) -> tuple[Variable, _Fact] | None:
    """Read one constraint as a fact about one variable, or None."""
    if not isinstance(constraint, (Equality, Inequality)):
        return None
    lhs, rhs = constraint.args
    if isinstance(constraint, Inequality):
        if (v := _whole_variable(lhs)) is not None and rhs.is_constant():
            return v, _Fact("upper", (rhs,), constraint, 1.0)
        if (v := _whole_variable(rhs)) is not None and lhs.is_constant():
            return v, _Fact("lower", (lhs,), constraint, -1.0)
        if type(lhs) in _BALLS and lhs.axis is None and rhs.is_constant() and rhs.shape == ():
            if (v := _whole_variable(lhs.args[0])) is not None:
                return v, _Fact(_BALLS[type(lhs)], (rhs,), constraint, 1.0)
        if isinstance(lhs, MatMul) and rhs.is_constant() and rhs.shape == ():
            a, x = lhs.args
            if (v := _whole_variable(x)) is not None and a.is_constant() and a.ndim == 1 and v.ndim == 1:
                return v, _Fact("halfspace", (a, rhs), constraint, 1.0)
        return None
    for side, (expr, other) in ((1.0, (lhs, rhs)), (-1.0, (rhs, lhs))):
        if not other.is_constant():
            continue
        if (v := _whole_variable(expr)) is not None:
            return v, _Fact("fixed", (other,), constraint, side)
        if isinstance(expr, Sum) and not expr.keepdims and (v := _whole_variable(expr.args[0])) is not None:
            axis = None if v.ndim == 1 else expr.axis
            if axis is None and other.shape != ():
                return None
            return v, _Fact("sum", (axis, other), constraint, side)
        if isinstance(expr, MatMul):
            a, x = expr.args
            if (v := _whole_variable(x)) is not None and a.is_constant() and v.ndim == 1:
                if a.ndim == 1 and other.shape == ():
                    return v, _Fact("hyperplane", (a, other), constraint, side)
                if a.ndim == 2 and other.shape == (a.shape[0],):
                    return v, _Fact("affine", (a, other), constraint, side)
    return None


def _limits(facts: _Facts, env: Env, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The box ``[lo, hi]`` the bound facts put on ``x`` (infinite where unbounded)."""
    lo = jnp.full(x.shape, -jnp.inf, x.dtype)
    hi = jnp.full(x.shape, jnp.inf, x.dtype)
    for f in facts.bounds:
        bound = jnp.broadcast_to(_value(f.data[0], env, x.dtype), x.shape)
        if f.kind in ("lower", "fixed"):
            lo = jnp.maximum(lo, bound)
        if f.kind in ("upper", "fixed"):
            hi = jnp.minimum(hi, bound)
    return lo, hi


def _bound_duals(facts: _Facts, x: jax.Array, g: jax.Array, env: Env) -> dict[int, jax.Array]:
    """Duals of the bound facts at ``x``, where ``g`` is the part of the gradient the bounds hold.

    A fixed value takes the whole force ``-side g``; then each active bound, in
    order, takes ``max(-side g, 0)`` on the entries no earlier fact has taken.
    """
    out = {}
    open_ = jnp.ones(x.shape, bool)
    for f in sorted(facts.bounds, key=lambda f: f.kind != "fixed"):
        bound = jnp.broadcast_to(_value(f.data[0], env, x.dtype), x.shape)
        if f.kind == "fixed":
            dual, active = -f.side * g, open_
        else:
            dual = jnp.maximum(-f.side * g, 0)
            active = open_ & (x <= bound if f.kind == "lower" else x >= bound)
        out[id(f.constraint)] = jnp.broadcast_to(jnp.where(active, dual, 0), f.constraint.dual_shape)
        open_ = open_ & ~active
    return out


def _box(facts: _Facts) -> tuple[Project, Duals]:
    def project(values, env):
        (x,) = values
        return (jnp.clip(x, *_limits(facts, env, x)),)

    def duals(values, grads, env):
        return _bound_duals(facts, values[0], grads[0], env)

    return project, duals


def _is_zero(expr: Expression) -> bool:
    return isinstance(expr, Constant) and not expr.value.any()


def _as_rows(x: jax.Array, axis: int | None) -> jax.Array:
    """The blocks a sum constraint acts on, as rows of a 2-D array (one row when ``axis`` is None)."""
    if axis is None:
        return x.reshape(1, -1)
    return x.T if axis == 0 else x


def _from_rows(y: jax.Array, x: jax.Array, axis: int | None) -> jax.Array:
    if axis is None:
        return y.reshape(x.shape)
    return y.T if axis == 0 else y


def _sum_duals(facts: _Facts) -> Duals:
    """Duals of a sum constraint with bounds (simplex, box section, or none: a hyperplane of ones).

    With ``t`` the sum's force per block (its dual times ``side``), stationarity is
    ``g + t = 0`` on the entries strictly inside their bounds, so ``t`` is minus
    their mean gradient; a block with none inside takes the middle of the interval
    its active bounds leave for ``t``. The bounds then hold ``g + t``.
    """
    (total,) = facts.sums

    def duals(values, grads, env):
        (x,), (g,) = values, grads
        axis = total.data[0]
        lo, hi = (_as_rows(b, axis) for b in _limits(facts, env, x))
        xr, gr = _as_rows(x, axis), _as_rows(g, axis)
        inside = (xr > lo) & (xr < hi)
        count = jnp.sum(inside, axis=1)
        mean = -safe_div(jnp.sum(jnp.where(inside, gr, 0), axis=1), count.astype(x.dtype))
        floor = jnp.max(jnp.where(xr <= lo, -gr, -jnp.inf), axis=1)
        ceiling = jnp.min(jnp.where(xr >= hi, -gr, jnp.inf), axis=1)
        middle = jnp.where(jnp.isfinite(floor) & jnp.isfinite(ceiling), 0.5 * (floor + ceiling),
                           jnp.where(jnp.isfinite(floor), floor, jnp.where(jnp.isfinite(ceiling), ceiling, 0)))
        t = jnp.where(count > 0, mean, middle)
        shifted = _from_rows(gr + t[:, None], x, axis)
        out = _bound_duals(facts, x, shifted, env)
        out[id(total.constraint)] = (total.side * t).reshape(total.constraint.dual_shape)
        return out

    return duals


def _simplex(facts: _Facts) -> tuple[Project, KLStep]:
    """Projection and KL step onto ``{x >= 0, sum(x, axis) == total}``.

    With ``axis`` each row (``axis=1``) or column (``axis=0``) of a matrix lies on
    its own simplex; ``axis=None`` puts all entries on one simplex.
    """
    (fact,) = facts.sums
    axis, total = fact.data

    def project(values, env):
        (x,) = values
        r = _value(total, env, x.dtype)
        return (_from_rows(P.projection_simplex(_as_rows(x, axis), r if axis is not None else r.reshape(1)), x, axis),)

    def kl_step(x, g, eta, env):
        r = _value(total, env, x.dtype)
        r = r[:, None] if axis is not None and jnp.ndim(r) == 1 else r
        xb, gb = _as_rows(x, axis), _as_rows(g, axis)
        return _from_rows(r * simplex_kl_step(xb.ravel(), gb.ravel(), eta, xb.shape).reshape(xb.shape), x, axis)

    return project, kl_step


def _box_section(facts: _Facts) -> Project:
    (fact,) = facts.sums

    def project(values, env):
        (x,) = values
        lo, hi = _limits(facts, env, x)
        return (P.projection_box_section(x, lo, hi, jnp.ones_like(x), _value(fact.data[1], env, x.dtype)),)

    return project


def _one_set(fact: _Fact) -> tuple[Project, Duals]:
    """Projection and dual for a variable constrained by exactly one ball, hyperplane, halfspace or affine set."""
    kind, projection = fact.kind, _PROJECTIONS[fact.kind]
    key, dual_shape = id(fact.constraint), fact.constraint.dual_shape

    def project(values, env):
        (x,) = values
        args = [_value(e, env, x.dtype) for e in fact.data]
        if kind in _BALLS.values():
            return (projection(x.reshape(-1), args[0]).reshape(x.shape),)
        return (projection(x, *args),)

    def duals(values, grads, env):
        (g,) = grads
        if kind in _DUAL_NORMS:
            return {key: _DUAL_NORMS[kind](g.reshape(-1))}
        a = _value(fact.data[0], env, g.dtype)
        if kind == "affine":
            return {key: -fact.side * (jnp.linalg.pinv(a).T @ g)}
        force = -safe_div(a @ g, a @ a)
        return {key: jnp.maximum(force, 0) if kind == "halfspace" else (fact.side * force).reshape(dual_shape)}

    return project, duals


def _hyperplane_of_ones(facts: _Facts) -> Project:
    """``sum(x) == total`` alone: the hyperplane ``1 . x = total``."""
    (fact,) = facts.sums

    def project(values, env):
        (x,) = values
        return (P.projection_hyperplane(x, jnp.ones_like(x), _value(fact.data[1], env, x.dtype)),)

    return project


def _variable_set(v: Variable, facts: _Facts) -> VariableSet | None:
    """The set formed by one variable's facts, or None when the combination has no projection here."""
    constraints = tuple(facts.constraints)
    text = "; ".join(str(c) for c in constraints)
    if not facts.sums and not facts.others:
        nonneg = all(f.kind == "lower" and _is_zero(f.data[0]) for f in facts.bounds)
        project, duals = _box(facts)
        return VariableSet("nonneg" if nonneg else "box", (v.name,), text, project, constraints, duals)
    if len(facts.sums) == 1 and not facts.others:
        axis = facts.sums[0].data[0]
        if facts.bounds and all(f.kind == "lower" and _is_zero(f.data[0]) for f in facts.bounds):
            project, kl_step = _simplex(facts)
            kind = "simplex" if axis is None else ("simplex_rows" if axis == 1 else "simplex_columns")
            return VariableSet(kind, (v.name,), text, project, constraints, _sum_duals(facts), kl_step)
        if v.ndim == 1 and facts.has("lower") and facts.has("upper"):
            return VariableSet("box_section", (v.name,), text, _box_section(facts), constraints, _sum_duals(facts))
        if v.ndim == 1 and not facts.bounds:
            return VariableSet("hyperplane", (v.name,), text, _hyperplane_of_ones(facts), constraints,
                               _sum_duals(facts))
        return None
    if len(facts.others) == 1 and not facts.sums and not facts.bounds:
        (fact,) = facts.others
        ball = fact.kind in _BALLS.values()
        if ball or v.ndim == 1:
            project, duals = _one_set(fact)
            return VariableSet(f"{fact.kind}_ball" if ball else fact.kind, (v.name,), text, project, constraints,
                               duals)
    return None


def _cone_set(constraint: Constraint) -> VariableSet | None:
    """``SOC(t, x)`` on two whole variables, or ``PSD(X)`` on a whole variable.

    A cone's dual is the objective's gradient on its variables (stacked ``(t, x)``
    for the second-order cone; the symmetric part for the PSD cone).
    """
    text, key = str(constraint), id(constraint)
    if isinstance(constraint, SOC) and constraint.axis is None:
        t, x = _whole_variable(constraint.t), _whole_variable(constraint.x)
        if t is not None and x is not None and t is not x and t.shape == () and x.ndim == 1:
            return VariableSet("second_order_cone", (t.name, x.name), text,
                               lambda values, env: P.projection_second_order_cone(*values), (constraint,),
                               lambda values, grads, env: {key: jnp.concatenate([grads[0][None], grads[1]])})
    if isinstance(constraint, PSD) and (X := _whole_variable(constraint.expr)) is not None:
        def project(values, env):
            (x,) = values
            return (P.projection_psd_cone(0.5 * (x + x.T)),)

        return VariableSet("psd_cone", (X.name,), text, project, (constraint,),
                           lambda values, grads, env: {key: 0.5 * (grads[0] + grads[0].T)})
    return None


def recognise_sets(variables: list[Variable], constraints: tuple[Constraint, ...]
                   ) -> tuple[list[VariableSet], list[Constraint]]:
    """Sets with known projections, and the constraints left over for the KKT / conic lowerings."""
    facts = {v.name: _Facts() for v in variables}
    cones: list[VariableSet] = []
    leftover: list[Constraint] = []
    for c in constraints:
        found = _fact(c)
        if found is None:
            cone = _cone_set(c)
            (cones.append(cone) if cone is not None else leftover.append(c))
            continue
        v, fact = found
        f = facts[v.name]
        if fact.kind in ("lower", "upper", "fixed"):
            f.bounds.append(fact)
        elif fact.kind == "sum":
            f.sums.append(fact)
        else:
            f.others.append(fact)
    sets: list[VariableSet] = []
    for v in variables:
        f = facts[v.name]
        if not f.constraints:
            continue
        found_set = _variable_set(v, f)
        if found_set is None:
            leftover.extend(f.constraints)
        else:
            sets.append(found_set)
    # A variable in two sets (a cone and anything else) has no projection we know: leave both to KKT / conic.
    uses = Counter(name for s in sets + cones for name in s.variables)
    shared = [s for s in sets + cones if any(uses[name] > 1 for name in s.variables)]
    for s in shared:
        leftover.extend(s.constraints)
    return [s for s in sets + cones if all(s is not t for t in shared)], leftover
