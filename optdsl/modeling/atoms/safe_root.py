"""``s ** (1/p)`` for ``s >= 0`` whose gradient at ``s = 0`` is 0 instead of NaN (for norms at the origin)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def safe_root(s: jax.Array, p: float) -> jax.Array:
    """``s ** (1/p)``, differentiable with zero gradient where ``s == 0`` (a valid subgradient of the norm)."""
    positive = s > 0
    return jnp.where(positive, jnp.where(positive, s, 1) ** (1 / p), 0)
