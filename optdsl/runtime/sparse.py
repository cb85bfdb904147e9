"""Sparse parameter values: ``jax.experimental.sparse`` matrices (BCOO, BCSR) fed to a model.

A sparse value is kept sparse through evaluation. Only the nodes that declare
``accepts_sparse`` (the matrix product and the transpose) receive it; each
returns a dense array or another sparse matrix, so a solver's matrix-vector
products never form the dense matrix.

``jax.experimental.sparse`` (and the SciPy modules it loads) is imported only where a sparse matrix is made:
a value can be one of its matrices only once its user has imported it, so :func:`is_sparse` looks the module up
among the loaded ones instead of importing it with optdsl.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jax
    from jax.experimental.sparse import BCOO, JAXSparse

_MODULE = "jax.experimental.sparse"


def is_sparse(value: Any) -> bool:
    """Whether ``value`` is a JAX sparse matrix (BCOO, BCSR, ...)."""
    module = sys.modules.get(_MODULE)
    return module is not None and isinstance(value, module.JAXSparse)


def as_bcoo(value: JAXSparse) -> BCOO:
    """A JAX sparse matrix in BCOO form (a BCSR or other format converted)."""
    return value if isinstance(value, sys.modules[_MODULE].BCOO) else value.to_bcoo()


def bcoo(data: jax.Array, indices: jax.Array, shape: tuple[int, ...]) -> BCOO:
    """The BCOO matrix of ``shape`` with entries ``data`` at ``indices`` (one row of indices per entry)."""
    from jax.experimental import sparse

    return sparse.BCOO((data, indices), shape=shape)


def with_dtype(value: JAXSparse, dtype: Any) -> JAXSparse:
    """``value`` with its stored entries cast to ``dtype`` (indices and sparsity pattern kept)."""
    if value.dtype == dtype:
        return value
    children, aux = value.tree_flatten()
    return type(value).tree_unflatten(aux, (children[0].astype(dtype), *children[1:]))
