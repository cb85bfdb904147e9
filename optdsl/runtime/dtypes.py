"""The one rule for the floating dtype a computation runs in."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp


def float_dtype(*inputs: Any) -> Any:
    """The common type of ``inputs`` (dtypes or values) if it is floating, else the default float.

    Integer or boolean data (and no data at all) compute in the default float
    (float64 under x64), so ``solve(lam=1)`` and ``solve(lam=1.0)`` agree; float32
    data stay float32, and a Python scalar (weakly typed) does not upcast them.
    """
    if not inputs:
        return jnp.result_type(float)
    dtype = jnp.result_type(*inputs)
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.result_type(float)
