"""The root of a scalar equation by bracketed Newton: the inner solve of the exponential and power cones.

The projections onto those cones and the interior point's conjugate point of the
power cone each reduce to one scalar equation with a single sign change;
:func:`bracketed_root` finds its root to machine precision under ``jit``/``vmap``.
It is not differentiated (callers differentiate their root implicitly).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax

Array = jax.Array

#: Doublings of the bracket's growth step, and Newton/bisection steps, at most.
WIDEN_STEPS, ROOT_STEPS = 64, 200


def bracketed_root(f: Callable[[Array], Array], lo: Array, hi: Array) -> Array:
    """The root of ``f``, positive left of it and negative right of it, searched from the guess ``[lo, hi]``.

    An end on the wrong side moves outwards by steps 1, 2, 4, ... until ``f``
    changes sign across ``[lo, hi]``; Newton's method (slope by ``jvp``) then
    shrinks the bracket, falling back to bisection where a Newton step leaves it,
    until the step or the bracket is a few ulps.

    >>> round(float(bracketed_root(lambda w: 2.0 - w ** 3, jnp.array(5.0), jnp.array(6.0))), 6)
    1.259921
    """
    dtype = lo.dtype
    eps = jnp.finfo(dtype).eps

    def ends(lo: Array, hi: Array) -> tuple[Array, Array]:
        # Both ends in one batch and carried through the loop: ``f`` is traced once here, not at every test.
        values = jax.vmap(f)(jnp.stack([lo, hi]))
        return values[0], values[1]

    def unbracketed(state: tuple[Array, ...]) -> Array:
        _, _, f_lo, f_hi, _, it = state
        return ((f_lo < 0) | (f_hi > 0)) & (it < WIDEN_STEPS)

    def widen(state: tuple[Array, ...]) -> tuple[Array, ...]:
        lo, hi, f_lo, f_hi, width, it = state
        lo, hi = jnp.where(f_lo < 0, lo - width, lo), jnp.where(f_hi > 0, hi + width, hi)
        return lo, hi, *ends(lo, hi), 2 * width, it + 1

    one = jnp.ones((), dtype)
    lo, hi, *_ = lax.while_loop(unbracketed, widen, (lo, hi, *ends(lo, hi), one, jnp.zeros((), jnp.int32)))

    def unfinished(state: tuple[Array, Array, Array, Array, Array]) -> Array:
        lo, hi, w, step, it = state
        tol = 4 * eps * jnp.maximum(1, jnp.abs(w))
        return (jnp.abs(step) > tol) & (hi - lo > tol) & (it < ROOT_STEPS)

    def newton(state: tuple[Array, Array, Array, Array, Array]) -> tuple[Array, Array, Array, Array, Array]:
        lo, hi, w, _, it = state
        value, slope = jax.jvp(f, (w,), (jnp.ones_like(w),))
        lo = jnp.where(value > 0, w, lo)
        hi = jnp.where(value < 0, w, hi)
        trial = w - value / jnp.where(slope < 0, slope, -1)
        ok = (slope < 0) & (trial > lo) & (trial < hi) & jnp.isfinite(trial)
        new = jnp.where(value == 0, w, jnp.where(ok, trial, 0.5 * (lo + hi)))
        return lo, hi, new, new - w, it + 1

    state = (lo, hi, 0.5 * (lo + hi), jnp.asarray(jnp.inf, dtype), jnp.zeros((), jnp.int32))
    return lax.while_loop(unfinished, newton, state)[2]
