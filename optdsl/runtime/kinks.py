"""Whether a piecewise-smooth map (a projection, a proximal operator) has a kink at a point.

The optimality maps of the conic and first-order routes apply such a map at the
solution. On a smooth piece its derivative is the one the implicit function theorem
needs; at a kink -- a constraint active with a zero multiplier, a point on the
boundary between a cone's projection regions, an entry exactly at a soft threshold --
the derivative jumps, the solution's derivative is not unique (its one-sided
derivatives differ), and the value JAX gives there is one element of the jump's range.
:func:`kinked` finds such a point by comparing the map's derivatives just before and
just after it along a few fixed directions: equal on a smooth piece up to its
curvature times the radius, apart by the jump across a kink.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

#: A derivative jump larger than this fraction of the direction's size is a kink.
KINK_JUMP = 0.1
#: Fixed directions tried: a kink surface almost parallel to one of them is crossed by another.
DIRECTIONS = 3


def _directions(size: int) -> np.ndarray:
    """Fixed directions crossing kink surfaces: entries of size 0.5 to 1.5 with pseudo-random signs."""
    rng = np.random.default_rng(0)
    return rng.choice([-1.0, 1.0], (DIRECTIONS, size)) * rng.uniform(0.5, 1.5, (DIRECTIONS, size))


def kinked(fn: Callable[[jax.Array], jax.Array], v: jax.Array, radius: jax.typing.ArrayLike) -> jax.Array:
    """Whether the derivative of ``fn`` (vector to vector) jumps within ``radius`` of ``v`` (a bool scalar).

    ``radius`` is the accuracy to which ``v`` is known: a kink closer than that may be
    where ``v`` really is. Pure JAX: ``jit``/``vmap`` apply; the result carries no derivative.

    >>> kinked(lambda v: jnp.maximum(v, 0), jnp.array([1.0, 0.0]), 1e-8).item()
    True
    >>> kinked(lambda v: jnp.maximum(v, 0), jnp.array([1.0, -1e-3]), 1e-8).item()
    False
    """
    v = jax.lax.stop_gradient(v)

    def jumps(d: jax.Array) -> jax.Array:
        # Both sides in one batch: ``fn`` (a cone's root search, say) is traced and compiled once.
        after, before = jax.vmap(lambda u: jax.jvp(fn, (u,), (d,))[1])(jnp.stack([v + radius * d, v - radius * d]))
        return jnp.max(jnp.abs(after - before), initial=0) > KINK_JUMP * jnp.max(jnp.abs(d), initial=0)

    directions = jnp.asarray(_directions(v.size), v.dtype).reshape((DIRECTIONS, *v.shape))
    return jnp.any(jax.vmap(jumps)(directions))
