"""Evaluating an expression to a JAX array, given values for its leaves (what the compiler lowers with)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from optdsl.modeling.atom import Atom
from optdsl.modeling.errors import ModelingError, ShapeError
from optdsl.modeling.expression import Expression
from optdsl.modeling.leaves import Constant, Leaf, Parameter, Variable
from optdsl.runtime.dtypes import float_dtype
from optdsl.runtime.sparse import is_sparse, with_dtype


def _lookup(leaves: list[Variable | Parameter], values: Mapping[Any, Any]) -> dict[int, Any]:
    """The value of each leaf (by id), looked up by the leaf object first, then by its name."""
    by_id: dict[int, Any] = {}
    by_name: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(key, str):
            by_name[key] = value
        elif isinstance(key, (Variable, Parameter)):
            by_id[id(key)] = value
        else:
            raise ModelingError(f"evaluate: values must be keyed by variables, parameters or names, got {key!r}")
    names: dict[str, int] = {}
    found: dict[int, Any] = {}
    for leaf in leaves:
        if names.setdefault(leaf.name, id(leaf)) != id(leaf) and leaf.name in by_name:
            raise ModelingError(f"evaluate: the name {leaf.name!r} belongs to two different leaves; key by the leaf")
        if id(leaf) in by_id:
            found[id(leaf)] = by_id[id(leaf)]
        elif leaf.name in by_name:
            found[id(leaf)] = by_name[leaf.name]
        else:
            raise ModelingError(f"evaluate: no value given for {leaf.kind} {leaf.name!r}")
        shape = jnp.shape(found[id(leaf)])
        if shape != leaf.shape:
            raise ShapeError(f"evaluate: value for {leaf.kind} {leaf.name!r} has shape {shape}, expected {leaf.shape}")
    return found


def children_first(expr: Expression,
                   children: Callable[[Expression], Sequence[Expression]] = lambda node: node.args,
                   ) -> list[Expression]:
    """Distinct nodes of ``expr`` reached through ``children``, ordered so every node comes after all of its
    children (without recursion, so deep expressions are fine)."""
    order: list[Expression] = []
    seen: set[int] = set()
    stack: list[tuple[Expression, bool]] = [(expr, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((a, False) for a in reversed(children(node)) if id(a) not in seen)
    return order


def evaluate(expr: Expression, values: Mapping[Any, Any], dtype: Any = None,
             domain_gaps: list[jax.Array] | None = None) -> jax.Array:
    """Value of ``expr`` as a JAX array (see ``Expression.evaluate``); traceable, shared nodes computed once.

    With a list as ``domain_gaps``, each atom with a restricted domain is evaluated at its arguments moved onto
    that domain (``Atom.clip_to_domain``), and how far they were moved, relative to their size, is appended to
    the list: how a returned point is checked, where rounding can leave it just outside an atom's domain.
    """
    value = evaluate_operand(expr, values, dtype, domain_gaps)
    if is_sparse(value):
        raise ModelingError(f"evaluate: {expr} is a sparse matrix; a model's expressions must evaluate to dense arrays")
    return value


def evaluate_operand(expr: Expression, values: Mapping[Any, Any], dtype: Any = None,
                     domain_gaps: list[jax.Array] | None = None) -> Any:
    """Value of ``expr`` like :func:`evaluate`, but a sparse matrix stays one: the constant factor of a product."""
    nodes = children_first(expr)
    leaves = [n for n in nodes if isinstance(n, (Variable, Parameter))]
    found = _lookup(leaves, values)
    if dtype is None:
        dtype = float_dtype(*(v.dtype if is_sparse(v) else v for v in found.values()))
    cache: dict[int, Any] = {}
    for node in nodes:
        if isinstance(node, Constant):
            cache[id(node)] = jnp.asarray(node.value, dtype=dtype)
        elif isinstance(node, Leaf):
            value = found[id(node)]
            cache[id(node)] = with_dtype(value, dtype) if is_sparse(value) else jnp.asarray(value, dtype=dtype)
        else:
            args = [cache[id(a)] for a in node.args]
            if not node.accepts_sparse and any(map(is_sparse, args)):
                raise ModelingError(
                    f"evaluate: {node} receives a sparse matrix; sparse parameter values may only enter matrix "
                    f"products (A @ x, x @ A) and transposes, not {type(node).__name__}")
            if domain_gaps is not None and isinstance(node, Atom) and node.restricted_domain:
                clipped = node.clip_to_domain(*args)
                domain_gaps.extend(jnp.max(jnp.abs(a - c), initial=0) / (1 + jnp.max(jnp.abs(a), initial=0))
                                   for a, c in zip(args, clipped))
                args = clipped
            cache[id(node)] = node.forward(*args)
    return cache[id(expr)]
