"""Proximal operators: a flat catalogue with one signature.

Every operator has the form::

    prox_<name>(x, *hyperparams, step=1.0) = argmin_y 0.5 * ||y - x||^2 + step * g(y; hyperparams)

Hyperparameters are positional (so JAX differentiates with respect to them),
``step`` is a keyword. All operators are closed forms in pure JAX: they work
under ``jit``, ``vmap``, ``grad`` and ``jvp``, keep the dtype of ``x``
(hyperparameters and ``step`` are cast to it), and have finite derivatives
everywhere, including at ``x = 0``. Autodiff of the closed forms gives the
derivative wherever they are smooth; at a kink it picks one element of the
generalised Jacobian.

For separable ``g`` (sums over coordinates) the hyperparameters and ``step``
may be scalars or arrays of the shape of ``x``; for the others they must be
scalars. Hyperparameters are assumed to lie in the stated ranges (``reg >= 0``
and so on); values are not checked because they may be traced.

``x`` may also be a pytree (tuple, dict, nested containers of arrays): it is
treated as the vector of its concatenated leaves (so ``prox_group_lasso`` and
``prox_linf_norm`` take the norm of the whole tree), and the result has the
structure, shapes and dtypes of ``x``. A hyperparameter of separable ``g`` may
then be a scalar or a pytree of the structure of ``x`` (one value or array per leaf).
"""

from __future__ import annotations

from typing import Callable

import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from optdsl.errors import ArgumentError
from optdsl.runtime.projections import projection_l1_ball
from optdsl.runtime.tree import on_leaves_vector

Prox = Callable[..., Array]


def _floating(x: ArrayLike) -> Array:
    """``x`` as an array of inexact dtype (integers become the default float)."""
    return jnp.asarray(x, dtype=jnp.result_type(x, float))


def _elementwise(name: str, value: ArrayLike, x: Array) -> Array:
    """A parameter of a separable ``g``: a scalar or an array shaped like ``x``, cast to its dtype."""
    value = jnp.asarray(value, dtype=x.dtype)
    if value.shape not in ((), x.shape):
        raise ArgumentError(
            f"{name} must be a scalar or have the shape of x {x.shape}; got shape {value.shape}"
        )
    return value


def _scalar(name: str, value: ArrayLike, x: Array) -> Array:
    """A parameter of a non-separable ``g``: a scalar, cast to the dtype of ``x``."""
    value = jnp.asarray(value, dtype=x.dtype)
    if value.shape != ():
        raise ArgumentError(f"{name} must be a scalar for this operator; got shape {value.shape}")
    return value


def _soft_threshold(x: Array, threshold: Array) -> Array:
    """``sign(x) * max(|x| - threshold, 0)``, written as ``x - clip(x, -t, t)``."""
    return x - jnp.clip(x, -threshold, threshold)


@on_leaves_vector
def prox_none(x: ArrayLike, step: ArrayLike = 1.0) -> Array:
    """Prox of ``g = 0``: the identity, ``y = x``.

    >>> prox_none(jnp.array([1.0, -2.0])).tolist()
    [1.0, -2.0]
    """
    del step
    return _floating(x)


@on_leaves_vector
def prox_lasso(x: ArrayLike, reg: ArrayLike, step: ArrayLike = 1.0) -> Array:
    """Prox of ``g(y) = reg * ||y||_1``: soft-thresholding.

    ``y = sign(x) * max(|x| - step * reg, 0)``; ``reg`` is a scalar or has the shape of ``x``.

    >>> prox_lasso(jnp.array([3.0, -0.5, -2.0]), 1.0).tolist()
    [2.0, 0.0, -1.0]
    """
    x = _floating(x)
    reg = _elementwise("reg", reg, x)
    step = _elementwise("step", step, x)
    return _soft_threshold(x, step * reg)


@on_leaves_vector
def prox_non_negative_lasso(x: ArrayLike, reg: ArrayLike, step: ArrayLike = 1.0) -> Array:
    """Prox of ``g(y) = reg * ||y||_1 + indicator(y >= 0)``.

    ``y = max(x - step * reg, 0)``.

    >>> prox_non_negative_lasso(jnp.array([3.0, 0.5, -2.0]), 1.0).tolist()
    [2.0, 0.0, 0.0]
    """
    x = _floating(x)
    reg = _elementwise("reg", reg, x)
    step = _elementwise("step", step, x)
    return jnp.maximum(x - step * reg, 0)


@on_leaves_vector
def prox_elastic_net(x: ArrayLike, l1: ArrayLike, l2: ArrayLike, step: ArrayLike = 1.0) -> Array:
    """Prox of ``g(y) = l1 * ||y||_1 + 0.5 * l2 * ||y||_2^2``.

    ``y = soft_threshold(x, step * l1) / (1 + step * l2)``.

    >>> prox_elastic_net(jnp.array([3.0, -0.5]), 1.0, 1.0).tolist()
    [1.0, 0.0]
    """
    x = _floating(x)
    l1 = _elementwise("l1", l1, x)
    l2 = _elementwise("l2", l2, x)
    step = _elementwise("step", step, x)
    return _soft_threshold(x, step * l1) / (1 + step * l2)


@on_leaves_vector
def prox_group_lasso(x: ArrayLike, reg: ArrayLike, step: ArrayLike = 1.0) -> Array:
    """Prox of ``g(y) = reg * ||y||_2`` (the l2 norm of the whole input): block soft-thresholding.

    ``y = max(1 - step * reg / ||x||_2, 0) * x``. For several groups, ``vmap`` it
    over them. The norm is guarded so that value and derivatives are finite at
    ``x = 0``: there the derivative is 0 when ``step * reg > 0`` and the
    identity when ``step * reg = 0``, as for the exact map.

    >>> prox_group_lasso(jnp.array([3.0, 4.0]), 2.5).tolist()
    [1.5, 2.0]
    """
    x = _floating(x)
    reg = _scalar("reg", reg, x)
    step = _scalar("step", step, x)
    threshold = step * reg
    squared_norm = jnp.sum(x * x)
    nonzero = squared_norm > 0
    norm = jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, squared_norm, 1)), 0)
    safe_norm = jnp.where(nonzero, norm, 1)
    scale = jnp.where(norm >= threshold, 1 - threshold / safe_norm, 0)
    return scale * x


prox_l2_norm = prox_group_lasso
"""Prox of ``g(y) = reg * ||y||_2``: the same map as :func:`prox_group_lasso`."""


@on_leaves_vector
def prox_ridge(x: ArrayLike, reg: ArrayLike, step: ArrayLike = 1.0) -> Array:
    """Prox of ``g(y) = 0.5 * reg * ||y||_2^2``: shrinkage ``y = x / (1 + step * reg)``.

    >>> prox_ridge(jnp.array([3.0, -1.5]), 2.0).tolist()
    [1.0, -0.5]
    """
    x = _floating(x)
    reg = _elementwise("reg", reg, x)
    step = _elementwise("step", step, x)
    return x / (1 + step * reg)


@on_leaves_vector
def prox_non_negative_ridge(x: ArrayLike, reg: ArrayLike, step: ArrayLike = 1.0) -> Array:
    """Prox of ``g(y) = 0.5 * reg * ||y||_2^2 + indicator(y >= 0)``.

    ``y = max(x, 0) / (1 + step * reg)``.

    >>> prox_non_negative_ridge(jnp.array([3.0, -1.5]), 2.0).tolist()
    [1.0, 0.0]
    """
    x = _floating(x)
    reg = _elementwise("reg", reg, x)
    step = _elementwise("step", step, x)
    return jnp.maximum(x, 0) / (1 + step * reg)


@on_leaves_vector
def prox_linf_norm(x: ArrayLike, reg: ArrayLike, step: ArrayLike = 1.0) -> Array:
    """Prox of ``g(y) = reg * ||y||_inf`` (largest absolute entry of the whole input).

    By Moreau decomposition (the dual norm of l-inf is l1),
    ``y = x - step * reg * P_B(x / (step * reg))`` with ``B`` the unit l1 ball,
    computed as ``y = x - P_{B(step * reg)}(x)``, which is the same map; at
    ``step * reg = 0`` it is the identity (guarded, so derivatives stay
    finite). Matrix inputs are one flattened vector, like :func:`prox_group_lasso`.

    >>> prox_linf_norm(jnp.array([3.0, -1.0]), 1.0).tolist()
    [2.0, -1.0]
    """
    x = _floating(x)
    reg = _scalar("reg", reg, x)
    step = _scalar("step", step, x)
    radius = step * reg
    positive = radius > 0
    safe_radius = jnp.where(positive, radius, 1)
    moreau = x - projection_l1_ball(x.ravel(), safe_radius).reshape(x.shape)
    return jnp.where(positive, moreau, x)


@on_leaves_vector
def prox_huber(x: ArrayLike, delta: ArrayLike, reg: ArrayLike, step: ArrayLike = 1.0) -> Array:
    """Prox of ``g(y) = reg * sum_i huber_delta(y_i)``.

    ``huber_delta(u) = u^2 / 2`` if ``|u| <= delta`` else ``delta * (|u| - delta / 2)``.
    With ``t = step * reg``: ``y = x / (1 + t)`` if ``|x| <= delta * (1 + t)``,
    else ``y = x - t * delta * sign(x)``.

    >>> prox_huber(jnp.array([1.0, -5.0]), 1.0, 1.0).tolist()
    [0.5, -4.0]
    """
    x = _floating(x)
    delta = _elementwise("delta", delta, x)
    reg = _elementwise("reg", reg, x)
    step = _elementwise("step", step, x)
    t = step * reg
    quadratic = jnp.abs(x) <= delta * (1 + t)
    return jnp.where(quadratic, x / (1 + t), x - t * delta * jnp.sign(x))


@on_leaves_vector
def prox_positive_part(x: ArrayLike, reg: ArrayLike, step: ArrayLike = 1.0) -> Array:
    """Prox of ``g(y) = reg * sum_i max(y_i, 0)`` (hinge-type penalty).

    ``y = x - step * reg`` if ``x > step * reg``, ``0`` if ``0 <= x <= step * reg``,
    ``x`` if ``x < 0``; in one line ``y = x - clip(x, 0, step * reg)``.

    >>> prox_positive_part(jnp.array([3.0, 0.5, -2.0]), 1.0).tolist()
    [2.0, 0.0, -2.0]
    """
    x = _floating(x)
    reg = _elementwise("reg", reg, x)
    step = _elementwise("step", step, x)
    return x - jnp.clip(x, 0, step * reg)


@on_leaves_vector
def prox_neg_log(x: ArrayLike, reg: ArrayLike, step: ArrayLike = 1.0) -> Array:
    """Prox of ``g(y) = -reg * sum_i log(y_i)`` (log barrier of ``y > 0``), for ``reg > 0``.

    The positive root of ``y^2 - x y - t = 0`` with ``t = step * reg``:
    ``y = (x + sqrt(x^2 + 4 t)) / 2``, evaluated as ``2 t / (sqrt(x^2 + 4 t) - x)``
    for ``x < 0`` to avoid cancellation.

    >>> prox_neg_log(jnp.array([3.0, -3.0]), 4.0).tolist()
    [4.0, 1.0]
    """
    x = _floating(x)
    reg = _elementwise("reg", reg, x)
    step = _elementwise("step", step, x)
    t = step * reg
    root = jnp.sqrt(x * x + 4 * t)
    return jnp.where(x >= 0, (x + root) / 2, 2 * t / (root + jnp.abs(x)))


def prox_indicator(projection: Callable[..., Array]) -> Prox:
    """Prox of the indicator of a set, from its Euclidean projection.

    Returns ``prox(x, *set_params, step=1.0) = projection(x, *set_params)``; the
    step is ignored because ``step * indicator = indicator``.

    >>> box = prox_indicator(lambda x, lo, hi: jnp.clip(x, lo, hi))
    >>> box(jnp.array([3.0, -2.0]), -1.0, 1.0, step=0.5).tolist()
    [1.0, -1.0]
    """

    def prox(x: ArrayLike, *set_params: ArrayLike, step: ArrayLike = 1.0) -> Array:
        del step
        return projection(x, *set_params)

    name = getattr(projection, "__name__", "projection")
    prox.__name__ = prox.__qualname__ = f"prox_indicator({name})"
    prox.__doc__ = f"Prox of the indicator of the set that {name} projects onto (step ignored)."
    return prox


def prox_conjugate(prox: Prox) -> Prox:
    """Prox of the convex conjugate ``g*`` from the prox of ``g`` (Moreau identity).

    ``prox_{step g*}(x) = x - step * prox_{g / step}(x / step)``, i.e. the returned
    function is ``(x, *hyperparams, step=1.0) -> x - step * prox(x / step, *hyperparams, step=1 / step)``.
    Useful in dual and primal-dual (conic) methods. ``step`` must be positive.

    >>> linf_ball = prox_conjugate(prox_lasso)  # conjugate of reg * ||.||_1
    >>> linf_ball(jnp.array([3.0, -0.5]), 1.0).tolist()
    [1.0, -0.5]
    """

    @on_leaves_vector
    def conjugate(x: ArrayLike, *hyperparams: ArrayLike, step: ArrayLike = 1.0) -> Array:
        x = _floating(x)
        step = jnp.asarray(step, dtype=x.dtype)
        return x - step * prox(x / step, *hyperparams, step=1 / step)

    name = getattr(prox, "__name__", "prox")
    conjugate.__name__ = conjugate.__qualname__ = f"prox_conjugate({name})"
    conjugate.__doc__ = f"Prox of the convex conjugate of the function whose prox is {name}."
    return conjugate
