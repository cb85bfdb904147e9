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
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import jax
import jax.numpy as jnp

from optdsl.modeling import (
    PSD, SOC, Constant, Constraint, Equality, Expression, Inequality, Variable,
)
from optdsl.modeling.affine.matmul import MatMul
from optdsl.modeling.affine.sum import Sum
from optdsl.modeling.atoms import Norm1, Norm2, NormInf
from optdsl.runtime import projections as P
from optdsl.runtime.solvers.mirror_descent import simplex_kl_step

Env = dict[str, jax.Array]
Project = Callable[[tuple[jax.Array, ...], Env], tuple[jax.Array, ...]]
KLStep = Callable[[jax.Array, jax.Array, Any, Env], jax.Array]

#: The norm atoms whose balls ``atom(x) <= r`` are recognised, and their kinds.
_BALLS = {Norm1: "l1", Norm2: "l2", NormInf: "linf"}
#: The projection onto a variable's one ball, hyperplane, halfspace or affine set, by kind.
_PROJECTIONS = {"l1": P.projection_l1_ball, "l2": P.projection_l2_ball, "linf": P.projection_linf_ball,
                "hyperplane": P.projection_hyperplane, "halfspace": P.projection_halfspace,
                "affine": P.projection_affine_set}


@dataclass(frozen=True)
class VariableSet:
    """A set on a block of variables with its projection (and KL step for simplices)."""

    kind: str
    variables: tuple[str, ...]
    description: str
    project: Project
    constraints: tuple[Constraint, ...]
    kl_step: KLStep | None = None


@dataclass
class _Facts:
    """What the constraints say about one variable."""

    lower: list[Expression] = field(default_factory=list)
    upper: list[Expression] = field(default_factory=list)
    sums: list[tuple[int | None, Expression]] = field(default_factory=list)
    others: list[tuple[str, tuple[Expression, ...]]] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)


def _value(expr: Expression, env: Env, dtype: Any) -> jax.Array:
    return expr.evaluate({p.name: env[p.name] for p in expr.parameters()}, dtype=dtype)


def _whole_variable(expr: Expression) -> Variable | None:
    return expr if isinstance(expr, Variable) else None


def _fact(constraint: Constraint) -> tuple[Variable, str, tuple[Expression, ...]] | None:
    """Read one constraint as a fact about one variable, or None."""
    if not isinstance(constraint, (Equality, Inequality)):
        return None
    lhs, rhs = constraint.args
    if isinstance(constraint, Inequality):
        if (v := _whole_variable(lhs)) is not None and rhs.is_constant():
            return v, "upper", (rhs,)
        if (v := _whole_variable(rhs)) is not None and lhs.is_constant():
            return v, "lower", (lhs,)
        if type(lhs) in _BALLS and lhs.axis is None and rhs.is_constant() and rhs.shape == ():
            if (v := _whole_variable(lhs.args[0])) is not None:
                return v, _BALLS[type(lhs)], (rhs,)
        if isinstance(lhs, MatMul) and rhs.is_constant() and rhs.shape == ():
            a, x = lhs.args
            if (v := _whole_variable(x)) is not None and a.is_constant() and a.ndim == 1 and v.ndim == 1:
                return v, "halfspace", (a, rhs)
        return None
    for side, other in ((lhs, rhs), (rhs, lhs)):
        if not other.is_constant():
            continue
        if (v := _whole_variable(side)) is not None:
            return v, "fixed", (other,)
        if isinstance(side, Sum) and not side.keepdims and (v := _whole_variable(side.args[0])) is not None:
            axis = None if v.ndim == 1 else side.axis
            if axis is None and other.shape != ():
                return None
            return v, "sum", (axis, other)
        if isinstance(side, MatMul):
            a, x = side.args
            if (v := _whole_variable(x)) is not None and a.is_constant() and v.ndim == 1:
                if a.ndim == 1 and other.shape == ():
                    return v, "hyperplane", (a, other)
                if a.ndim == 2 and other.shape == (a.shape[0],):
                    return v, "affine", (a, other)
    return None


def _box(facts: _Facts) -> Project:
    def project(values, env):
        (x,) = values
        lo = jnp.full(x.shape, -jnp.inf, x.dtype)
        hi = jnp.full(x.shape, jnp.inf, x.dtype)
        for e in facts.lower:
            lo = jnp.maximum(lo, jnp.broadcast_to(_value(e, env, x.dtype), x.shape))
        for e in facts.upper:
            hi = jnp.minimum(hi, jnp.broadcast_to(_value(e, env, x.dtype), x.shape))
        return (jnp.clip(x, lo, hi),)

    return project


def _is_zero(expr: Expression) -> bool:
    return isinstance(expr, Constant) and not expr.value.any()


def _simplex(v: Variable, axis: int | None, total: Expression) -> tuple[Project, KLStep]:
    """Projection and KL step onto ``{x >= 0, sum(x, axis) == total}``.

    With ``axis`` each row (``axis=1``) or column (``axis=0``) of a matrix lies on
    its own simplex; ``axis=None`` puts all entries on one simplex.
    """

    def blocks(x):  # the simplices as rows of a 2-D array (one row when axis is None)
        if axis is None:
            return x.reshape(1, -1)
        return x.T if axis == 0 else x

    def unblocks(y, x):
        if axis is None:
            return y.reshape(x.shape)
        return y.T if axis == 0 else y

    def project(values, env):
        (x,) = values
        r = _value(total, env, x.dtype)
        return (unblocks(P.projection_simplex(blocks(x), r if axis is not None else r.reshape(1)), x),)

    def kl_step(x, g, eta, env):
        r = _value(total, env, x.dtype)
        r = r[:, None] if axis is not None and jnp.ndim(r) == 1 else r
        xb, gb = blocks(x), blocks(g)
        return unblocks(r * simplex_kl_step(xb.ravel(), gb.ravel(), eta, xb.shape).reshape(xb.shape), x)

    return project, kl_step


def _one_set(v: Variable, kind: str, data: tuple[Expression, ...]) -> Project:
    """Projection for a variable constrained by exactly one ball, hyperplane, halfspace or affine set."""
    projection = _PROJECTIONS[kind]

    def project(values, env):
        (x,) = values
        args = [_value(e, env, x.dtype) for e in data]
        if kind in ("l1", "l2", "linf"):
            return (projection(x.reshape(-1), args[0]).reshape(x.shape),)
        return (projection(x, *args),)

    return project


def _variable_set(v: Variable, facts: _Facts) -> VariableSet | None:
    """The set formed by one variable's facts, or None when the combination has no projection here."""
    text = "; ".join(str(c) for c in facts.constraints)
    constraints = tuple(facts.constraints)
    if not facts.sums and not facts.others:
        kind = "nonneg" if all(_is_zero(e) for e in facts.lower) and facts.lower and not facts.upper else "box"
        return VariableSet(kind, (v.name,), text, _box(facts), constraints)
    if facts.sums and not facts.others and len(facts.sums) == 1:
        (axis, total), = facts.sums
        nonneg_only = facts.lower and all(_is_zero(e) for e in facts.lower) and not facts.upper
        if nonneg_only:
            project, kl_step = _simplex(v, axis, total)
            kind = "simplex" if axis is None else ("simplex_rows" if axis == 1 else "simplex_columns")
            return VariableSet(kind, (v.name,), text, project, constraints, kl_step)
        if v.ndim == 1 and facts.lower and facts.upper:
            return VariableSet("box_section", (v.name,), text, _box_section(facts, total), constraints)
        if v.ndim == 1 and not facts.lower and not facts.upper:
            ones = Constant(jnp.ones(v.shape))
            return VariableSet("hyperplane", (v.name,), text, _one_set(v, "hyperplane", (ones, total)), constraints)
        return None
    if len(facts.others) == 1 and not facts.sums and not facts.lower and not facts.upper:
        (kind, data), = facts.others
        if kind in ("l1", "l2", "linf") or v.ndim == 1:
            return VariableSet(kind if kind not in ("l1", "l2", "linf") else f"{kind}_ball", (v.name,), text,
                               _one_set(v, kind, data), constraints)
    return None


def _box_section(facts: _Facts, total: Expression) -> Project:
    box = _box(facts)

    def project(values, env):
        (x,) = values
        lo = box((jnp.full(x.shape, -jnp.inf, x.dtype),), env)[0]
        hi = box((jnp.full(x.shape, jnp.inf, x.dtype),), env)[0]
        c = _value(total, env, x.dtype)
        return (P.projection_box_section(x, lo, hi, jnp.ones_like(x), c),)

    return project


def _cone_set(constraint: Constraint) -> VariableSet | None:
    """``SOC(t, x)`` on two whole variables, or ``PSD(X)`` on a whole variable."""
    text = str(constraint)
    if isinstance(constraint, SOC) and constraint.axis is None:
        t, x = _whole_variable(constraint.t), _whole_variable(constraint.x)
        if t is not None and x is not None and t is not x and t.shape == () and x.ndim == 1:
            return VariableSet("second_order_cone", (t.name, x.name), text,
                               lambda values, env: P.projection_second_order_cone(*values), (constraint,))
    if isinstance(constraint, PSD) and (X := _whole_variable(constraint.expr)) is not None:
        def project(values, env):
            (x,) = values
            return (P.projection_psd_cone(0.5 * (x + x.T)),)

        return VariableSet("psd_cone", (X.name,), text, project, (constraint,))
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
        v, kind, data = found
        f = facts[v.name]
        f.constraints.append(c)
        if kind == "lower":
            f.lower.append(data[0])
        elif kind == "upper":
            f.upper.append(data[0])
        elif kind == "fixed":
            f.lower.append(data[0])
            f.upper.append(data[0])
        elif kind == "sum":
            f.sums.append(data)
        else:
            f.others.append((kind, data))
    sets: list[VariableSet] = []
    for v in variables:
        f = facts[v.name]
        if not (f.lower or f.upper or f.sums or f.others):
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
