"""Pytree helpers for the runtime's public functions: a pytree is handled as the vector of its concatenated leaves.

JAXopt users pass parameters as pytrees (tuples, dicts, nested containers of
arrays, e.g. network weights). The projections, proxes and linear solves
accept them by flattening the tree into one vector (:func:`ravel`), working on
that vector and rebuilding the tree with each leaf's shape and dtype. A single
array is not a tree here: it keeps each function's own shape convention.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from optdsl.runtime.dtypes import float_dtype

PyTree = Any
F = TypeVar("F", bound=Callable[..., Any])


def is_tree(x: PyTree) -> bool:
    """Whether ``x`` is a container of arrays (tuple, list, dict, ...) rather than one array or scalar."""
    return not jax.tree_util.treedef_is_leaf(jax.tree_util.tree_structure(x))


def float_leaves(x: PyTree) -> PyTree:
    """``x`` with every leaf an array of floating dtype (integer leaves become the default float)."""
    return jax.tree_util.tree_map(lambda leaf: jnp.asarray(leaf, float_dtype(leaf)), x)


def ravel(x: PyTree, *params: PyTree) -> tuple[jax.Array, tuple[Any, ...], Callable[[jax.Array], PyTree]]:
    """The vector of ``x``'s leaves, ``params`` on the same vector, and the map from a vector back to a tree like ``x``.

    A parameter with the tree structure of ``x`` is raveled the same way, each
    leaf first broadcast to the shape of the matching leaf of ``x`` (so a tuple
    of scalars weights each block); any other parameter (a scalar, an array) is
    passed through unchanged.
    """
    x = float_leaves(x)
    flat, unravel = ravel_pytree(x)
    structure = jax.tree_util.tree_structure(x)
    x_leaves = jax.tree_util.tree_leaves(x)

    def along(param: PyTree) -> Any:
        if jax.tree_util.tree_structure(param) != structure:
            return param
        leaves = jax.tree_util.tree_leaves(param)
        return jnp.concatenate([jnp.ravel(jnp.broadcast_to(jnp.asarray(p, flat.dtype), leaf.shape))
                                for p, leaf in zip(leaves, x_leaves)])

    return flat, tuple(along(p) for p in params), unravel


def on_leaves_vector(fn: F) -> F:
    """Let ``fn(x, *params, **options)`` (written for arrays) take a pytree ``x``: it runs on :func:`ravel`'s vector.

    A single array or scalar ``x`` goes to ``fn`` untouched; for a tree the
    result is rebuilt with the structure, shapes and dtypes of ``x``.
    """

    @functools.wraps(fn)
    def wrapped(x: PyTree, *params: PyTree, **options: Any) -> Any:
        if not is_tree(x):
            return fn(x, *params, **options)
        flat, params, unravel = ravel(x, *params)
        return unravel(fn(flat, *params, **options))

    return wrapped  # type: ignore[return-value]
