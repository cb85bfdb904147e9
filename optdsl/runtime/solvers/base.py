"""What every iterative solver shares: the info record, tolerances, the loop driver, argument checks.

Solvers work on one flat vector ``x`` of shape ``(n,)`` and pass one pytree
``params`` through to the user's functions. Each returns ``(x, info)`` with
``info`` a :class:`SolverInfo`. Loops go through :func:`iterate`, which is a
``lax.while_loop`` by default and a fixed-length ``lax.scan`` (updates skipped
once converged) when ``unroll=True``, so reverse-mode autodiff can run through
the iterations. Solvers that factorise the Jacobian of their optimality map at
the solution (interior points, the conic solver) differentiate with
:func:`lu_factor_checked` and :func:`lu_solve_or_least_squares`.
"""

from __future__ import annotations

from numbers import Real
from typing import Any, Callable, NamedTuple, TypeVar

import jax
import jax.numpy as jnp
from jax import lax

from optdsl.errors import ArgumentError, ArgumentTypeError
from optdsl.runtime.compilation_cache import jit
from optdsl.runtime.lu import LU, lu_factor, lu_solve
from optdsl.runtime.status import MAX_ITERATIONS, NUMERICAL_ERROR, SOLVED

State = TypeVar("State")


class SolverInfo(NamedTuple):
    """Report returned next to a solution; traced scalars, not differentiated.

    ``iterations``: int32, iterations taken. ``residual``: the solver's optimality
    residual at the returned ``x`` (dtype of ``x``). ``status``: int32 code from
    :mod:`optdsl.runtime.status` -- SOLVED if ``residual <= tol``, NUMERICAL_ERROR
    if ``x`` or the residual is not finite, MAX_ITERATIONS otherwise.
    """

    iterations: jax.Array
    residual: jax.Array
    status: jax.Array


def default_tol(dtype: Any) -> float:
    """Default residual tolerance in ``dtype``: ``max(1e-10, 100 * eps)``.

    That is 1e-10 in float64 (tight enough for ~1e-6 accurate implicit
    gradients) and about 1.2e-5 in float32 (a little above its rounding floor).
    """
    return max(1e-10, 100.0 * float(jnp.finfo(dtype).eps))


def resolve_tol(tol: Any, dtype: Any) -> Any:
    """``tol``, or :func:`default_tol` of ``dtype`` when it is None; rejects a non-positive number."""
    if tol is None:
        return default_tol(dtype)
    if isinstance(tol, Real) and not tol > 0:
        raise ArgumentError(f"tol must be positive, got {tol}")
    return tol


def check_init(init: Any) -> jax.Array:
    """``init`` as an array, checked to be one flat floating vector of shape (n,)."""
    x = jnp.asarray(init)
    if x.ndim != 1:
        raise ArgumentError(f"init must be a flat 1-D array of shape (n,), got shape {x.shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ArgumentTypeError(f"init must have a floating dtype, got {x.dtype}")
    return x


def check_count(name: str, value: Any, minimum: int) -> None:
    """Reject a loop count that is not a Python int >= ``minimum`` (it fixes static loop lengths)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ArgumentError(f"{name} must be an int >= {minimum}, got {value!r}")


def check_positive(name: str, value: Any) -> None:
    """Reject a step size given as a non-positive Python number (traced values are not checked)."""
    if isinstance(value, Real) and not value > 0:
        raise ArgumentError(f"{name} must be positive, got {value}")


def check_scalar_fun(fun: Callable, x: jax.Array, params: Any) -> None:
    """Check (abstractly, without running it) that ``fun(x, params)`` is a scalar."""
    out = jax.eval_shape(fun, x, params)
    if getattr(out, "shape", None) != ():
        raise ArgumentError(
            f"fun(x, params) must return a scalar, got {getattr(out, 'shape', type(out).__name__)}"
            f" for x of shape {x.shape}")


def check_same_shape(name: str, fn: Callable, x: jax.Array, *args: Any) -> None:
    """Check (abstractly) that ``fn(x, *args)`` has the shape and dtype of ``x``."""
    out = jax.eval_shape(fn, x, *args)
    if getattr(out, "shape", None) != x.shape or getattr(out, "dtype", None) != x.dtype:
        raise ArgumentError(
            f"{name} must return an array shaped like x {x.shape} {x.dtype}, got "
            f"{getattr(out, 'shape', type(out).__name__)} {getattr(out, 'dtype', '')}")


def iterate(cond: Callable[[State], jax.Array], body: Callable[[State], State], state: State,
            *, maxiter: int, unroll: bool,
            log: Callable[[jax.Array, State, jax.Array], None] | None = None) -> tuple[State, jax.Array]:
    """Apply ``body`` while ``cond`` holds, at most ``maxiter`` times; return (state, count).

    ``unroll=False``: a ``lax.while_loop`` (forward mode only). ``unroll=True``: a
    ``lax.scan`` of exactly ``maxiter`` steps in which ``body`` is skipped (``lax.cond``)
    once ``cond`` fails, so ``jax.grad`` can differentiate through it. ``count`` is
    the int32 number of ``body`` applications. ``log(count, state, active)``, when given, runs after
    each application (a solver's ``verbose`` iteration line, :mod:`optdsl.runtime.solvers.log`);
    ``active`` is False where ``vmap`` runs the body for an instance whose loop has stopped.
    """
    count0 = jnp.zeros((), jnp.int32)

    def logged(count, s):
        new = body(s)
        if log is not None:
            log(count + 1, new, (count < maxiter) & cond(s))
        return new

    if unroll:
        def step(carry, _):
            count, s = carry
            active = jnp.asarray(cond(s), bool)
            s = lax.cond(active, lambda s: logged(count, s), lambda s: s, s)
            return (count + active.astype(jnp.int32), s), None

        (count, state), _ = lax.scan(step, (count0, state), length=maxiter)
        return state, count

    def full_cond(carry):
        count, s = carry
        return (count < maxiter) & cond(s)

    def full_body(carry):
        count, s = carry
        return count + 1, logged(count, s)

    count, state = lax.while_loop(full_cond, full_body, (count0, state))
    return state, count


def run_if(pred: jax.Array, fn: Callable[..., State], operands: tuple, otherwise: State) -> State:
    """``fn(*operands)`` where ``pred`` holds, else ``otherwise``; ``fn`` runs only when needed, also under ``vmap``.

    ``lax.cond`` becomes a ``select`` under ``vmap`` with a batched ``pred``, so an
    expensive branch (a pseudo-inverse, say) would run for every instance of a batch at
    every call. Here a ``while_loop`` of at most one step runs ``fn`` once for the whole
    batch when some instance needs it, and not at all otherwise. The operands reach
    ``fn`` masked by the loop-carried flag, so XLA cannot hoist ``fn`` out of the loop
    as loop-invariant code (which would run it unconditionally); ``fn`` must accept
    all-zero operands (what the instances that do not need it pass). ``otherwise`` is
    computed before ``fn`` starts. Forward-mode only, like every ``while_loop``.
    """
    def body(carry):
        go, _ = carry
        live = jax.tree_util.tree_map(lambda a: jnp.where(go, a, jnp.zeros_like(a)), operands)
        return jnp.zeros_like(go), fn(*live)

    return lax.while_loop(lambda carry: carry[0], body, (jnp.asarray(pred, bool), otherwise))[1]


#: Largest instance, in unknowns (``n + p + m`` of a QP's KKT system), whose batches a CPU runs lock-step in
#: :func:`per_instance` when the caller gives its size. A step of a small dense solver is a few hundred tiny
#: operations whose dispatch, paid once per instance by a loop over the instances, outweighs their arithmetic; one
#: batched step of all the instances is then faster, although every instance runs as many steps as the slowest.
#: Measured with ``python -m benchmarks.lockstep`` (the QP interior point's forward and backward pass, one CPU
#: thread, process time; random QPs with m = n / 2 inequalities and p = n / 4 equalities, batches of 4 to 256): the
#: lock-step batch was 1.1-3x faster up to 35 unknowns at every batch; at 52 and 70 unknowns at most 1.13x faster up
#: to batch 64 (or a little slower) and 1.1-1.5x slower at batch 256; at 105 unknowns slower at every batch.
LOCKSTEP_MAX_SIZE = 40


def per_instance(fn: Callable[..., State], size: int | None = None,
                 limit: int | None = None) -> Callable[..., State]:
    """``fn`` whose ``vmap`` is a loop over the instances on a CPU and an ordinary ``vmap`` elsewhere.

    A batched ``while_loop`` runs every instance for as many steps as the slowest, and
    every pause one instance asks for (a re-factorisation, a polish) is taken by the
    whole batch; on a CPU, where batching buys little beyond the loop, an iterative
    solver with per-instance step counts runs faster instance by instance
    (``lax.map``). Accelerators keep the lock-step batch, which is what fills them.
    The choice is made when the program is lowered for its platform
    (``lax.platform_dependent``). ``size``: the number of unknowns of one instance, when the
    caller knows it; instances of at most ``limit`` unknowns (default :data:`LOCKSTEP_MAX_SIZE`, the QP
    interior point's) run lock-step on every platform, since on a CPU too their per-operation overhead,
    not their arithmetic, sets the time. A lock-step batch still gives each instance its own result: a batched
    ``while_loop`` keeps (``select``) the state of the instances that have stopped.
    Unbatched arguments are shared, not copied per instance. ``fn`` goes through ``jax.jit``
    so that the branches and transformations that trace it again with the same shapes can
    take the trace from JAX's cache.
    """
    fn = jit(fn)
    wrapped = jax.custom_batching.custom_vmap(fn)
    lockstep = size is not None and size <= (LOCKSTEP_MAX_SIZE if limit is None else limit)

    @wrapped.def_vmap
    def rule(axis_size, in_batched, *args):
        flags = jax.tree_util.tree_leaves(in_batched)
        leaves, tree = jax.tree_util.tree_flatten(args)
        mapped = [leaf for leaf, batched in zip(leaves, flags) if batched]

        def call(mapped_leaves):
            it = iter(mapped_leaves)
            full = [next(it) if batched else leaf for leaf, batched in zip(leaves, flags)]
            return fn(*jax.tree_util.tree_unflatten(tree, full))

        if lockstep:
            out = jax.vmap(call)(mapped)
        else:
            out = lax.platform_dependent(mapped, cpu=lambda m: lax.map(call, m), default=jax.vmap(call))
        return out, jax.tree_util.tree_map(lambda _: True, out)

    return wrapped


def lu_factor_checked(M: jax.Array) -> tuple[LU, jax.Array]:
    """LU factors of a square ``M`` (partial pivoting) and whether ``M`` is numerically singular.

    Singular: a pivot of ``U`` below ``sqrt(eps)`` times the largest, or a non-finite one.
    Returns ``(factors, singular)`` for :func:`lu_solve_or_least_squares`.
    """
    factors = lu_factor(M)
    diag_u = jnp.abs(jnp.diagonal(factors.lu))
    singular = ~(jnp.min(diag_u) > jnp.sqrt(jnp.finfo(M.dtype).eps) * jnp.max(diag_u))
    return factors, singular


def lu_solve_or_least_squares(factors: LU, b: jax.Array, *, transpose: bool, singular: jax.Array,
                              row_scale: jax.Array, keep: jax.Array | None = None) -> jax.Array:
    """``J^-1 b`` (``J^-T b`` when ``transpose``) for ``J = diag(row_scale)^-1 M``, from the LU factors of ``M``.

    ``J^-1 = M^-1 diag(row_scale)`` and ``J^-T = diag(row_scale) M^-T``: back-substitutions
    only. Where ``singular`` (one instance), ``M^-1`` is replaced by the pseudo-inverse
    (relative cutoff ``sqrt(eps)``) of ``M`` with the rows where ``keep`` is False zeroed:
    the least-squares solve of least norm. ``M`` is then rebuilt from its factors and its
    SVD taken only for that instance (:func:`run_if`), after the LU solve, not beside it.
    The forward and transposed operators are exact transposes of each other either way,
    so forward- and reverse-mode derivatives agree.
    """
    N = factors.lu.shape[0]
    eps = jnp.finfo(factors.lu.dtype).eps
    keep = jnp.ones((N,), bool) if keep is None else keep

    def least_squares(factors, keep, b):
        pinv = jnp.linalg.pinv(jnp.where(keep[:, None], factors.matrix(), 0), rtol=jnp.sqrt(eps))
        return (pinv.T if transpose else pinv) @ b

    def inner(b):
        exact = lu_solve(factors, b, transpose)
        return run_if(singular, least_squares, (factors, keep, b), exact)

    if transpose:
        return row_scale * inner(b)
    return inner(row_scale * b)


def make_info(x: jax.Array, residual: jax.Array, iterations: jax.Array, tol: Any) -> SolverInfo:
    """Build the :class:`SolverInfo` for a returned ``x`` (status from residual, tol and finiteness)."""
    x = lax.stop_gradient(x)
    residual = lax.stop_gradient(residual)
    finite = jnp.all(jnp.isfinite(x)) & jnp.isfinite(residual)
    code = jnp.where(finite, jnp.where(residual <= tol, SOLVED, MAX_ITERATIONS), NUMERICAL_ERROR)
    return SolverInfo(jnp.asarray(iterations, jnp.int32), residual, code.astype(jnp.int32))
