"""``batch_map`` in chunks equals ``jax.vmap``, for any chunk size and for outputs with an empty axis."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optdsl.runtime import batch_map


def per_instance(params: dict) -> tuple:
    """A nonlinear value, an empty output (like the equality duals of a model without equalities), a matrix."""
    return jnp.sin(params["a"]) @ params["b"], jnp.zeros((0,)), jnp.outer(params["a"], params["b"])


@pytest.mark.parametrize("batch_size", [1, 3, 7, 9])
def test_chunked_batch_map_equals_vmap(batch_size):
    rng = np.random.default_rng(batch_size)
    params = {"a": rng.normal(size=(7, 3)), "b": rng.normal(size=(7, 3))}
    got = jax.jit(batch_map(per_instance, batch_size=batch_size))(params)
    want = jax.vmap(per_instance)(params)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))
