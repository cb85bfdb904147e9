"""The objective split into a smooth part and separable non-smooth terms with known proxes.

The objective (negated for ``Maximize``) is read as a sum of terms. Smooth terms
(every node differentiable) form ``f``. A non-smooth term is proxable when it is a
nonnegative scalar weight (constant or parameter) times one of

==============================  =========================================
term                            proximal operator
==============================  =========================================
``norm1(x)``, ``sum(abs(x))``   soft thresholding (``prox_lasso``)
``norm2(x)``                    block soft thresholding (``prox_group_lasso``)
``sum(norm2(X, axis=a))``       block soft thresholding per row / column
``norm_inf(x)``                 ``prox_linf_norm`` (Moreau decomposition)
==============================  =========================================

applied to a whole variable, at most one such term per variable. A nonnegative
variable with an l1 term gets ``prox_non_negative_lasso`` (the set is absorbed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import jax

from optdsl.compiler.sets import VariableSet
from optdsl.modeling import Constant, Expression, Variable
from optdsl.modeling.affine.add import Add
from optdsl.modeling.affine.multiply import Multiply
from optdsl.modeling.affine.negation import Negation
from optdsl.modeling.affine.sum import Sum
from optdsl.modeling.atoms import Abs, Norm1, Norm2, NormInf
from optdsl.runtime import prox as X

Env = dict[str, jax.Array]
#: ``prox(x, weight, step) -> prox_{step * weight * g}(x)`` for one variable's value ``x``.
VariableProx = Callable[[jax.Array, jax.Array, Any], jax.Array]


@dataclass(frozen=True)
class ProxTerm:
    """A non-smooth term ``weight * g(x)`` on one whole variable, with the prox of ``g``."""

    kind: str
    variable: str
    weight: Expression
    prox: VariableProx
    term: Expression
    absorbed: VariableSet | None = None  # the nonnegative orthant of ``prox_non_negative_lasso``

    def weight_value(self, env: Env, dtype: Any) -> jax.Array:
        """The weight, evaluated from the parameters."""
        return self.weight.evaluate({p.name: env[p.name] for p in self.weight.parameters()}, dtype=dtype)

    def apply(self, x: jax.Array, env: Env, step: Any) -> jax.Array:
        """``prox_{step * weight * g}(x)``."""
        return self.prox(x, self.weight_value(env, x.dtype), step)

    def duals(self, x: jax.Array, g: jax.Array, env: Env) -> dict[int, jax.Array]:
        """Duals of the absorbed set's constraints at ``x``, where the smooth part's gradient is ``g``.

        On the nonnegative orthant the l1 term is ``weight * sum(x)``, whose gradient joins ``g``.
        """
        if self.absorbed is None:
            return {}
        return self.absorbed.duals((x,), (g + self.weight_value(env, x.dtype),), env)


def _flat(prox: Callable) -> VariableProx:
    return lambda x, w, step: prox(x.reshape(-1), w, step=step).reshape(x.shape)


def _blocks(axis: int) -> VariableProx:
    def prox(x, w, step):
        rows = x if axis == 1 else x.T
        out = jax.vmap(lambda r: X.prox_group_lasso(r, w, step=step))(rows)
        return out if axis == 1 else out.T

    return prox


def _match(inner: Expression) -> tuple[str, Variable, VariableProx] | None:
    """The prox kind, variable and operator of an unweighted non-smooth term, or None."""
    if isinstance(inner, Sum) and inner.axis is None:
        (arg,) = inner.args
        if isinstance(arg, Abs) and isinstance(arg.args[0], Variable):
            return "l1", arg.args[0], _flat(X.prox_lasso)
        if isinstance(arg, Norm2) and arg.axis is not None and not arg.keepdims:
            v = arg.args[0]
            if isinstance(v, Variable) and v.ndim == 2:
                return ("group_l2_rows" if arg.axis == 1 else "group_l2_columns"), v, _blocks(arg.axis)
        return None
    table = {Norm1: ("l1", X.prox_lasso), Norm2: ("l2", X.prox_group_lasso), NormInf: ("linf", X.prox_linf_norm)}
    if type(inner) in table and inner.axis is None and isinstance(inner.args[0], Variable):
        kind, prox = table[type(inner)]
        return kind, inner.args[0], _flat(prox)
    return None


def _weighted(term: Expression) -> tuple[Expression, Expression]:
    """``(weight, inner)`` for ``weight * inner`` with a scalar constant weight; ``(1, term)`` otherwise."""
    if isinstance(term, Negation):
        weight, inner = _weighted(term.args[0])
        return -weight, inner
    if isinstance(term, Multiply):
        a, b = term.args
        for weight, inner in ((a, b), (b, a)):
            if weight.shape == () and weight.is_constant() and not inner.is_constant():
                return weight, inner
    return Constant(1.0), term


@dataclass(frozen=True)
class ObjectiveSplit:
    """``objective = smooth + sum(prox_terms) + rest`` (``rest``: non-smooth terms without a prox here)."""

    smooth: list[Expression]
    prox_terms: list[ProxTerm]
    rest: list[Expression]


def split_objective(expr: Expression) -> ObjectiveSplit:
    """Split a (minimised) objective into smooth, proxable and remaining terms."""
    terms = list(expr.args) if isinstance(expr, Add) else [expr]
    smooth, prox_terms, rest = [], [], []
    seen: set[str] = set()
    for term in terms:
        if term.is_smooth():
            smooth.append(term)
            continue
        weight, inner = _weighted(term)
        found = _match(inner) if weight.is_nonneg() else None
        if found is None or found[1].name in seen:
            rest.append(term)
            continue
        kind, v, prox = found
        seen.add(v.name)
        prox_terms.append(ProxTerm(kind, v.name, weight, prox, term))
    return ObjectiveSplit(smooth, prox_terms, rest)


def non_negative_lasso(term: ProxTerm, nonneg: VariableSet) -> ProxTerm:
    """The l1 term of a nonnegative variable, with the set absorbed into its prox."""
    return ProxTerm("non_negative_l1", term.variable, term.weight, _flat(X.prox_non_negative_lasso), term.term,
                    nonneg)
