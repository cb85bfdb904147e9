"""``parameter_domains(problem)``: what a model requires of its parameter values, collected once.

Every parameter's entries must be finite (a sparse value's are not checked). Beyond that,
two sources: each parameter's declared domain (``pos``, ``nonneg``, ``nonpos``, ``psd`` —
symmetric and PSD —, ``nsd``), and what atoms took on trust of parameter arguments
(:meth:`~optdsl.modeling.atom.Atom.parameter_requirements`, e.g. ``quad_form``'s matrix PSD).
The result is runtime data (:class:`~optdsl.runtime.domains.Domains`): the compiled problem
checks concrete values against it, and the lowering turns a violation into the status
``invalid_parameter`` under ``jit`` / ``vmap``.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp

from optdsl.modeling import Expression, Parameter, Problem
from optdsl.modeling.atom import Atom
from optdsl.runtime.domains import PROPERTIES, Domains, Requirement
from optdsl.runtime.sparse import is_sparse

#: The properties each declaration stands for (``pos`` first: it implies ``nonneg`` and says more).
DECLARED = {"pos": ("pos",), "nonneg": ("nonneg",), "nonpos": ("nonpos",), "psd": ("symmetric", "psd"),
            "nsd": ("symmetric", "nsd")}


def _requirement(expression: Expression, prop: str, reason: str) -> Requirement:
    def value(params: Mapping[str, jax.Array], dtype: Any) -> jax.Array:
        return expression.evaluate(params, dtype=dtype)

    if isinstance(expression, Parameter):
        subject = f"parameter {expression.name!r}"
    else:
        names = ", ".join(repr(p.name) for p in expression.parameters())
        subject = f"the value of {expression} (from parameters {names})"
    return Requirement(subject, expression.shape, prop, reason, value)


def _finite(parameter: Parameter) -> Requirement:
    """Every entry of ``parameter``'s value finite. A sparse value passes: its stored entries, checked, would
    locate a bad one by its place in the storage, and the matrix is never formed densely."""
    def value(params: Mapping[str, jax.Array], dtype: Any) -> jax.Array:
        given = params[parameter.name]
        return jnp.zeros((), dtype) if is_sparse(given) else jnp.asarray(given, dtype)

    return Requirement(f"parameter {parameter.name!r}", parameter.shape, "finite", "must be finite", value)


def parameter_domains(problem: Problem, tol: float | None = None, trusted: bool = True) -> Domains:
    """The requirements on ``problem``'s parameter values, tested at the solver tolerance ``tol``.

    ``trusted=False`` (a model compiled with ``nonconvex=True``, whose curvature nothing relied
    on) keeps the declared domains only.
    """
    found: dict[tuple, Requirement] = {}
    for parameter in problem.parameters():
        found[(parameter.structure_key(), "finite")] = _finite(parameter)
    for parameter in problem.parameters():
        for flag, props in DECLARED.items():
            if getattr(parameter, flag):
                for prop in props:
                    found.setdefault((parameter.structure_key(), prop),
                                     _requirement(parameter, prop, f"is declared {flag}"))
    if trusted:
        expressions = [problem.objective.expr, *(a for c in problem.constraints for a in c.args)]
        nodes = {id(n): n for e in expressions for n in e.subexpressions() if isinstance(n, Atom)}
        for atom in nodes.values():
            for argument, prop in atom.parameter_requirements():
                found.setdefault((argument.structure_key(), prop),
                                 _requirement(argument, prop, f"must be {PROPERTIES[prop].words} for {atom}"))
    return Domains(tuple(found.values()), tol)
