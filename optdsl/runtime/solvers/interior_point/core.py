"""What the QP and NLP interior points share around their iterations: start, status, loop and result.

Each solver's iterate is a NamedTuple with a ``code`` field: :data:`RUNNING` until a
stopping test sets the final status. :func:`run` iterates a step until that happens
and :func:`result` factorises the KKT Jacobian at the returned point. A warm start
keeps the given point with ``s`` and ``lam`` raised to floors (:func:`floored`); each
solver takes it only where it is closer to a solution than its cold start
(:func:`select`).
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import jax
import jax.numpy as jnp

from optdsl.errors import ArgumentError, ArgumentTypeError
from optdsl.runtime.solvers.base import iterate
from optdsl.runtime.solvers.interior_point.kkt import KKTAux, KKTJacobian, KKTPoint, factor_kkt
from optdsl.runtime.status import MAX_ITERATIONS, NUMERICAL_ERROR, SOLVED

#: Status value of an iterate that has not met a stopping test yet.
RUNNING = -1

State = TypeVar("State")


def check_start(init: Any, n: int, p: int, m: int) -> KKTPoint:
    """``init`` as a :class:`KKTPoint` with shapes ``(n,), (p,), (m,)``; else an ArgumentError naming the field."""
    if not (isinstance(init, tuple) and len(init) == 3):
        raise ArgumentTypeError(f"init must be a KKTPoint(x, nu, lam), got {type(init).__name__}")
    point = KKTPoint(*(jnp.asarray(v) for v in init))
    for name, value, size in zip(KKTPoint._fields, point, (n, p, m)):
        if value.shape != (size,):
            raise ArgumentError(f"init.{name} must have shape ({size},), got {value.shape}")
    return point


def floored(v: jax.Array, residual: jax.Array) -> jax.Array:
    """``v`` raised to ``max(residual, sqrt(eps)) * max(1, |v|_inf)``: a warm start's slacks or multipliers.

    ``residual`` is the warm point's relative optimality residual, so the floor keeps the
    point about as far inside the cone as it is from the new solution.
    """
    floor = jnp.maximum(residual, jnp.finfo(v.dtype).eps ** 0.5) * jnp.maximum(1, jnp.max(jnp.abs(v), initial=0))
    return jnp.maximum(v, floor)


def select(pred: jax.Array, a: State, b: State) -> State:
    """``a`` where ``pred`` holds, else ``b`` (leaf by leaf)."""
    return jax.tree_util.tree_map(lambda u, v: jnp.where(pred, u, v), a, b)


def finite(*arrays: jax.Array) -> jax.Array:
    """Whether every entry of ``arrays`` is finite (one reduction: cheaper in a loop than one per array)."""
    return jnp.all(jnp.isfinite(jnp.concatenate([jnp.ravel(a) for a in arrays])))


def status(residual: jax.Array, tol: Any, ok: jax.Array) -> jax.Array:
    """SOLVED when ``residual <= tol``, else RUNNING; NUMERICAL_ERROR unless ``ok`` (finite values)."""
    return jnp.where(ok, jnp.where(residual <= tol, SOLVED, RUNNING), NUMERICAL_ERROR).astype(jnp.int32)


def conclude(new: State, old: State, moved: jax.Array) -> State:
    """The iterate after a step: ``new`` (its code and residual set), or ``old`` with ``new``'s code where that is
    NUMERICAL_ERROR (a non-finite or rejected step is not taken); NUMERICAL_ERROR also where the step did not
    ``moved`` and no stopping test has been met."""
    st = select(new.code != NUMERICAL_ERROR, new, old._replace(code=new.code))
    return st._replace(code=jnp.where((st.code == RUNNING) & ~moved, NUMERICAL_ERROR, st.code).astype(jnp.int32))


def run(step: Callable[[State], State], start: State, maxiter: int,
        log: Callable[[jax.Array, State, jax.Array], None] | None = None) -> tuple[State, jax.Array, jax.Array]:
    """``step`` while the iterate's code is RUNNING, at most ``maxiter`` times: ``(iterate, iterations, status)``.

    ``status`` is the iterate's code, MAX_ITERATIONS where it is still RUNNING. ``log``: as in
    :func:`~optdsl.runtime.solvers.base.iterate`.
    """
    state, iterations = iterate(lambda st: st.code == RUNNING, step, start, maxiter=maxiter, unroll=False, log=log)
    return state, iterations, jnp.where(state.code == RUNNING, MAX_ITERATIONS, state.code).astype(jnp.int32)


def result(point: KKTPoint, jacobian: KKTJacobian, iterations: jax.Array, residual: jax.Array, code: jax.Array, *,
           exact: bool, tol: Any) -> tuple[KKTPoint, KKTAux]:
    """``(point, KKTAux)`` with the report and the factorisation of the KKT Jacobian at ``point``."""
    return point, KKTAux(iterations, residual, code, *factor_kkt(jacobian, point, exact=exact, tol=tol))
