"""The model's own check of a returned point: how far each constraint is from holding.

Whatever route solved a model, its answer is checked against the model as
written: every constraint (and every variable's sign attribute) evaluated at the
returned values, and the arguments of every atom, in the objective too, within
the atom's domain. A violation is measured relative to the size of the terms, so
rescaling a constraint changes nothing: ``|lhs - rhs|`` over ``1 + max(|lhs|, |rhs|)``
for ``==``, its positive part for ``<=``, ``‖x‖ - t`` over ``1 + max(|t|, ‖x‖)``
for a second-order cone, the most negative eigenvalue over ``1 + max|X|`` for
``X >> 0``, and the distance to the exponential or power cone over ``1 + ‖(x, y, z)‖``.
Traceable; no derivative flows through it.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp

from optdsl.errors import CompileError
from optdsl.modeling import PSD, SOC, Constraint, Equality, ExpCone, Expression, Inequality, PowCone3D
from optdsl.modeling.evaluation import evaluate
from optdsl.runtime.projections import projection_exp_cone, projection_power_cone
from optdsl.runtime.safe_math import safe_norm

Values = dict[str, jax.Array]


def _inf(v: jax.Array) -> jax.Array:
    return jnp.max(jnp.abs(v), initial=0)


def constraint_violation(constraint: Constraint, values: Values, dtype: Any) -> jax.Array:
    """The relative violation of one constraint at ``values`` (parameters and variables by name); 0 when it holds.

    Its terms are evaluated with every atom's arguments moved onto the atom's domain, and the relative distance
    they were moved counts as violation too: a point a rounding error outside ``sqrt``'s domain, at an optimum on
    its edge, is that rounding error from feasible, not NaN.
    """
    gaps: list[jax.Array] = []
    violation = _violation(constraint, lambda e: jnp.asarray(evaluate(e, values, dtype, gaps), dtype))
    return jnp.maximum(violation, _largest(gaps, dtype))


def _largest(gaps: list[jax.Array], dtype: Any) -> jax.Array:
    """The largest of the scalar ``gaps`` (0 for none)."""
    return jnp.max(jnp.stack(gaps)) if gaps else jnp.zeros((), dtype)


def _violation(constraint: Constraint, value: Callable[[Expression], jax.Array]) -> jax.Array:
    """The relative violation of ``constraint`` with its terms' values from ``value``."""
    if isinstance(constraint, (Equality, Inequality)):
        lhs, rhs = value(constraint.lhs), value(constraint.rhs)
        gap = lhs - rhs
        gap = jnp.abs(gap) if isinstance(constraint, Equality) else jnp.maximum(gap, 0)
        return _inf(gap) / (1 + jnp.maximum(_inf(lhs), _inf(rhs)))
    if isinstance(constraint, SOC):
        t, x = value(constraint.t), value(constraint.x)
        norm = safe_norm(x, axis=-1 if constraint.axis is None else constraint.axis)
        return jnp.max(jnp.maximum(norm - t, 0) / (1 + jnp.maximum(jnp.abs(t), norm)), initial=0)
    if isinstance(constraint, PSD):
        X = value(constraint.expr)
        lowest = jnp.linalg.eigvalsh(0.5 * (X + X.T))[0]
        asymmetry = _inf(X - X.T)
        return jnp.maximum(jnp.maximum(-lowest, 0), asymmetry) / (1 + _inf(X))
    if isinstance(constraint, (ExpCone, PowCone3D)):
        point = jnp.stack([value(constraint.x), value(constraint.y), value(constraint.z)])
        if isinstance(constraint, ExpCone):
            projected = projection_exp_cone(*point)
        else:
            projected = projection_power_cone(*point, jnp.asarray(constraint.alpha, point.dtype))
        distance = point - jnp.stack(projected)
        return jnp.max(jnp.linalg.norm(distance, axis=0) / (1 + jnp.linalg.norm(point, axis=0)), initial=0)
    raise CompileError(f"no violation measure for a {type(constraint).__name__} constraint")


def domain_violation(expr: Expression, values: Values, dtype: Any) -> jax.Array:
    """How far, relatively, the arguments of ``expr``'s atoms are outside their domains at ``values`` (0 inside):
    an objective such as ``inv_pos(y)`` is defined only for ``y > 0``, and a point with ``y < 0`` is no solution
    whatever value ``1 / y`` takes there. Only an expression with such an atom of a variable is evaluated."""
    gaps: list[jax.Array] = []
    if expr.restricted_nodes():
        evaluate(expr, values, dtype, gaps)
    return _largest(gaps, dtype)


def primal_violation(constraints: Sequence[Constraint], values: Values, dtype: Any,
                     objective: Expression | None = None) -> jax.Array:
    """The largest relative violation over ``constraints`` at ``values``, and of the domains of the atoms of
    ``objective`` where one is given (:func:`domain_violation`); 0 without either."""
    values = jax.lax.stop_gradient(values)
    found = [constraint_violation(c, values, dtype) for c in constraints]
    if objective is not None:
        found.append(domain_violation(objective, values, dtype))
    return _largest(found, dtype)
