"""Sparse parameter values: ``jax.experimental.sparse`` matrices (BCOO, BCSR) fed to a model.

A sparse value is kept sparse through evaluation. Only the nodes that declare
``accepts_sparse`` (the matrix product and the transpose) receive it; each
returns a dense array or another sparse matrix, so a solver's matrix-vector
products never form the dense matrix.
"""

from __future__ import annotations

from typing import Any

from jax.experimental import sparse


def is_sparse(value: Any) -> bool:
    """Whether ``value`` is a JAX sparse matrix (BCOO, BCSR, ...)."""
    return isinstance(value, sparse.JAXSparse)


def with_dtype(value: sparse.JAXSparse, dtype: Any) -> sparse.JAXSparse:
    """``value`` with its stored entries cast to ``dtype`` (indices and sparsity pattern kept)."""
    if value.dtype == dtype:
        return value
    children, aux = value.tree_flatten()
    return type(value).tree_unflatten(aux, (children[0].astype(dtype), *children[1:]))
