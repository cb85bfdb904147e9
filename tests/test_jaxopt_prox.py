"""JAXopt's prox tests (tests/prox_test.py) re-expressed against optdsl.runtime.prox.

Same inputs and assertions; only the calls are spelled the optdsl way: hyperparameters are positional arguments
instead of a ``hyperparams`` tuple, defaults are written out (JAXopt's regularisation strengths default to 1),
``make_prox_from_projection`` is ``prox_indicator``, and JAXopt's elastic net
``g = lam * (||y||_1 + gam / 2 ||y||^2)`` is ``prox_elastic_net(x, l1=lam, l2=lam * gam)``. Every test runs in
float32 and in float64 (inputs cast to the dtype); see tests/jaxopt_asserts.py for the tolerances.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as onp
import pytest

from jaxopt_asserts import assert_close
from optdsl.runtime import projections as projection
from optdsl.runtime import prox


@pytest.fixture(params=[onp.float32, onp.float64], ids=["float32", "float64"])
def dtype(request):
    return request.param


def _prox_l1(x, alpha):
    """A scalar implementation for check purposes."""
    if x >= alpha:
        return x - alpha
    if x <= -alpha:
        return x + alpha
    return 0


def _uniform(rng, n, dtype):
    return (rng.rand(n) * 2 - 1).astype(dtype)


def test_prox_none(dtype):
    x = _uniform(onp.random.RandomState(0), 20, dtype)
    assert_close(prox.prox_none(x), x)


def test_prox_lasso(dtype):
    rng = onp.random.RandomState(0)
    x = _uniform(rng, 20, dtype)
    alpha = 0.5
    expected = jnp.array([_prox_l1(x[i], alpha) for i in range(len(x))], dtype)
    assert_close(expected, prox.prox_lasso(x, alpha))

    jac = jax.jacobian(prox.prox_lasso)(x, alpha)
    jac_exact = onp.zeros_like(jac)
    for i in range(len(x)):
        jac_exact[i, i] = 1 if (x[i] >= alpha or x[i] <= -alpha) else 0
    assert_close(jac_exact, jac)

    alpha = rng.rand(20).astype(dtype)
    expected = jnp.array([_prox_l1(x[i], alpha[i]) for i in range(len(x))], dtype)
    assert_close(expected, prox.prox_lasso(x, alpha))

    x = (_uniform(rng, 20, dtype), _uniform(rng, 20, dtype))
    alpha = (rng.rand(20).astype(dtype), rng.rand(20).astype(dtype))
    expected = (jnp.array([_prox_l1(x[0][i], alpha[0][i]) for i in range(20)], dtype),
                jnp.array([_prox_l1(x[1][i], alpha[1][i]) for i in range(20)], dtype))
    assert_close(jnp.array(expected), jnp.array(prox.prox_lasso(x, alpha)))

    alpha = (0.5, 0.2)
    expected = (jnp.array([_prox_l1(x[0][i], alpha[0]) for i in range(20)], dtype),
                jnp.array([_prox_l1(x[1][i], alpha[1]) for i in range(20)], dtype))
    assert_close(jnp.array(expected), jnp.array(prox.prox_lasso(x, alpha)))

    got = jax.jit(prox.prox_lasso)(x, 0.5)
    expected = (jnp.array([_prox_l1(x[0][i], 0.5) for i in range(20)], dtype),
                jnp.array([_prox_l1(x[1][i], 0.5) for i in range(20)], dtype))
    assert_close(jnp.array(expected), jnp.array(got))


def _prox_enet(x, lam, gamma):
    return (1.0 / (1.0 + lam * gamma)) * _prox_l1(x, lam)


def test_prox_elastic_net(dtype):
    rng = onp.random.RandomState(0)
    x = _uniform(rng, 20, dtype)
    lam, gam = 0.5, 0.1
    expected = jnp.array([_prox_enet(x[i], lam, gam) for i in range(len(x))], dtype)
    assert_close(expected, prox.prox_elastic_net(x, lam, lam * gam))

    lam, gam = rng.rand(20).astype(dtype), rng.rand(20).astype(dtype)
    expected = jnp.array([_prox_enet(x[i], lam[i], gam[i]) for i in range(len(x))], dtype)
    assert_close(expected, prox.prox_elastic_net(x, lam, lam * gam))

    x = (_uniform(rng, 20, dtype), _uniform(rng, 20, dtype))
    expected = (jnp.array([_prox_enet(x[0][i], 0.5, 0.1) for i in range(20)], dtype),
                jnp.array([_prox_enet(x[1][i], 0.5, 0.1) for i in range(20)], dtype))
    got = prox.prox_elastic_net(x, (0.5, 0.5), (0.5 * 0.1, 0.5 * 0.1))
    assert_close(jnp.array(expected), jnp.array(got))


def _prox_l2(x, alpha):
    """A pure NumPy implementation for check purposes."""
    l2_norm = onp.sqrt(onp.sum(x ** 2))
    return max(1 - alpha / l2_norm, 0) * x


def test_prox_group_lasso(dtype):
    x = _uniform(onp.random.RandomState(0), 20, dtype)
    for alpha in (0.1, 10.0):  # a non-zero block, then a zero block
        assert_close(prox.prox_group_lasso(x, alpha), _prox_l2(x, alpha).astype(dtype))


def test_prox_ridge(dtype):
    x = jnp.array(_uniform(onp.random.RandomState(0), 20, dtype))
    alpha = 10.0

    def fun(y):
        """f(y) = 0.5 ||y - x||^2 + 0.5 * alpha ||y||_2^2."""
        diff = x - y
        return 0.5 * jnp.sum(diff ** 2) + 0.5 * alpha * jnp.sum(y ** 2)

    got = prox.prox_ridge(x, alpha)
    assert_close(jax.grad(fun)(got), jnp.zeros_like(got))


def test_prox_non_negative_ridge(dtype):
    x = jnp.array(_uniform(onp.random.RandomState(0), 20, dtype))
    alpha = 10.0

    def fun(y):
        diff = x - y
        return 0.5 * jnp.sum(diff ** 2) + 0.5 * alpha * jnp.sum(y ** 2)

    got = prox.prox_non_negative_ridge(x, alpha)
    assert_close(got, jax.nn.relu(got - jax.grad(fun)(got)))


def test_prox_non_negative_lasso(dtype):
    x = jnp.array(_uniform(onp.random.RandomState(0), 20, dtype))
    alpha = 0.5

    def fun(y):
        """f(y) = 0.5 ||y - x||^2 + alpha * sum(y)."""
        diff = x - y
        return 0.5 * jnp.sum(diff ** 2) + alpha * jnp.sum(y)

    got = prox.prox_non_negative_lasso(x, alpha)
    assert_close(got, jax.nn.relu(got - jax.grad(fun)(got)))


def test_make_prox_from_projection(dtype):
    x = onp.random.RandomState(0).rand(10).astype(dtype)
    proxop = prox.prox_indicator(projection.projection_simplex)
    assert_close(proxop(x), projection.projection_simplex(x))


#: Each prox with JAXopt's default hyperparameters written out.
_DEFAULTS = {
    "prox_none": (),
    "prox_lasso": (1.0,),
    "prox_non_negative_lasso": (1.0,),
    "prox_ridge": (1.0,),
    "prox_non_negative_ridge": (1.0,),
    "prox_elastic_net": (1.0, 1.0),
}


@pytest.mark.parametrize("name", list(_DEFAULTS))
def test_pytree_comptability(name, dtype):
    prox_op = getattr(prox, name)
    defaults = _DEFAULTS[name]
    rng = onp.random.RandomState(0)
    x = dict(a=rng.rand(16, 16).astype(dtype), b=rng.rand(16).astype(dtype))
    got = prox_op(x, *defaults)
    expected = jax.tree_util.tree_map(lambda leaf: prox_op(leaf, *defaults), x)
    assert_close(got, expected)
    if name == "prox_lasso":
        l1_reg = jax.tree_util.tree_map(jnp.ones_like, x)
        got = prox_op(x, l1_reg)
        expected = jax.tree_util.tree_map(prox_op, x, l1_reg)
        assert_close(got, expected)
    if name == "prox_elastic_net":
        ones = jax.tree_util.tree_map(jnp.ones_like, x)
        got = prox_op(x, ones, ones)
        expected = jax.tree_util.tree_map(lambda leaf: prox_op(leaf, jnp.ones_like(leaf), jnp.ones_like(leaf)), x)
        assert_close(got, expected)
