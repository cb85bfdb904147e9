"""Implicit differentiation of the root of an optimality map.

If ``x*(θ)`` solves ``F(x*(θ), θ) = 0`` and ``∂₁F`` is invertible, the implicit
function theorem gives ``∂₁F · ∂x* = -∂₂F``. So the derivatives of a solution
need the map ``F`` and one linear solve per tangent (forward mode) or per
cotangent (reverse mode), never the solver's iterations (Blondel et al. 2021).

``custom_root`` and ``custom_fixed_point`` decorate a solver
``solver(init, *args, **kwargs) -> x*`` (JAXopt's convention) with that rule.
The rule is a ``jax.custom_jvp`` whose tangent is
``lax.custom_linear_solve(∂₁F, -∂₂F · dθ)``: JAX transposes the linear solve
for reverse mode, so one rule gives ``jvp``/``jacfwd`` *and*
``grad``/``vjp``/``jacrev``, and it differentiates again for ``hessian``.
``root_jvp`` and ``root_vjp`` are the same products as plain functions.

``forward_shared`` differentiates a function built from such solvers without
running them again: its forward program also returns what each solver
returned, and its derivative program replays that (see there).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.custom_derivatives import SymbolicZero
from jax.flatten_util import ravel_pytree

from optdsl.errors import ArgumentError, ArgumentTypeError, ClosureError
from optdsl.runtime.compilation_cache import jit_by_position
from optdsl.runtime.linear_solve import LinearSolve, get_solver

PyTree = Any
#: ``factored_solve(aux, b, transpose) -> x``: a solve with a factorisation the solver returned in ``aux``.
FactoredSolve = Callable[[Any, jax.Array, bool], jax.Array]


_CLOSURE_HINT = (
    "the solver (or the optimality function) closes over a value that JAX is differentiating. "
    "Implicit differentiation only sees the explicit parameters, so that derivative would be lost: "
    "pass the value as a parameter, `solver(init, *args, **kwargs)` and `optimality_fun(x, *args, **kwargs)`, "
    "instead of capturing it in a closure."
)


def _tree_neg(tree: PyTree) -> PyTree:
    return jax.tree_util.tree_map(jnp.negative, tree)


def zero_tangent(value: Any) -> Any:
    """A zero tangent for a primal output that is not differentiated (aux data)."""
    value = jnp.asarray(value)
    if jnp.issubdtype(value.dtype, jnp.inexact):
        return jnp.zeros_like(value)
    return np.zeros(value.shape, dtype=jax.dtypes.float0)


def _bound(fun: Callable) -> Callable:
    """``fun`` with keyword arguments bound to its declared signature (``inspect.signature``, which follows
    ``functools.wraps``): a ``lambda x, *args`` that wraps ``f(x, lam, X, y)`` then takes ``X=...`` too."""
    try:
        signature = inspect.signature(fun)
    except (TypeError, ValueError):
        return fun

    def call(*args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as err:
            name = getattr(fun, "__name__", repr(fun))
            raise ArgumentTypeError(f"{name}{signature} cannot take the solver's arguments (x, {len(args) - 1} "
                                    f"positional, keywords {sorted(kwargs)}): {err}") from None
        return fun(*bound.args, **bound.kwargs)

    return call


def tangent_solve(matvec: Callable, rhs: PyTree, solve: LinearSolve, symmetric: bool,
                   transpose_solve: LinearSolve | None = None) -> PyTree:
    """``matvec⁻¹(rhs)`` as a linear solve JAX can transpose and differentiate.

    The system is posed on the flattened vector: ``custom_linear_solve`` can only
    transpose a right-hand side whose parts are all linear, and a pytree
    right-hand side may mix linear parts with known zeros (e.g. under ``hessian``).
    """
    rhs_flat, unravel = ravel_pytree(rhs)

    def flat_matvec(v):
        return ravel_pytree(matvec(unravel(v)))[0]

    sol = lax.custom_linear_solve(
        flat_matvec, rhs_flat,
        solve=lambda mv, b: solve(mv, b),
        transpose_solve=transpose_solve or (lambda vm, b: solve(vm, b)),
        symmetric=symmetric,
    )
    return unravel(sol)


def _jvp_of_root(optimality_fun: Callable, sol: PyTree, params: tuple, tangents: tuple, solve: LinearSolve,
                 symmetric: bool, transpose_solve: LinearSolve | None = None) -> PyTree:
    """``∂x*(θ) · dθ`` by solving ``∂₁F(x*, θ) · dx = -∂₂F(x*, θ) · dθ`` for ``F = optimality_fun(x, *params)``."""
    _, rhs = jax.jvp(lambda *p: optimality_fun(sol, *p), params, tangents)
    _, matvec = jax.linearize(lambda x: optimality_fun(x, *params), sol)
    return tangent_solve(matvec, _tree_neg(rhs), solve, symmetric, transpose_solve)


def root_jvp(optimality_fun: Callable, sol: PyTree, params: Sequence[PyTree],
             tangents: Sequence[PyTree], solve: str | LinearSolve = "auto", *,
             symmetric: bool = False, positive_definite: bool = False) -> PyTree:
    """Jacobian-vector product ``∂x*(θ) · dθ`` of a root ``F(x*, θ) = 0``.

    Solves ``∂₁F(x*, θ) · dx = -∂₂F(x*, θ) · dθ``. ``params`` and ``tangents``
    are sequences matching the positional parameters of
    ``optimality_fun(x, *params)``; ``sol`` and each parameter may be any pytree.
    """
    params, tangents = tuple(params), tuple(tangents)
    if len(params) != len(tangents):
        raise ArgumentError(f"root_jvp: {len(params)} params but {len(tangents)} tangents; give one tangent per "
                            "parameter of optimality_fun(x, *params)")
    linear_solve = get_solver(solve, symmetric=symmetric, positive_definite=positive_definite)
    return _jvp_of_root(optimality_fun, sol, params, tangents, linear_solve, symmetric)


def root_vjp(optimality_fun: Callable, sol: PyTree, params: Sequence[PyTree],
             cotangent: PyTree, solve: str | LinearSolve = "auto", *,
             symmetric: bool = False, positive_definite: bool = False) -> tuple:
    """Vector-Jacobian product ``cotangent · ∂x*(θ)``, one entry per parameter (each shaped like it).

    Solves ``∂₁F(x*, θ)ᵀ u = cotangent`` and returns ``-∂₂F(x*, θ)ᵀ u``;
    ``sol``, ``cotangent`` (shaped like ``sol``) and the parameters may be any pytrees.
    """
    params = tuple(params)
    _, vjp_x = jax.vjp(lambda x: optimality_fun(x, *params), sol)
    linear_solve = get_solver(solve, symmetric=symmetric, positive_definite=positive_definite)
    u = linear_solve(lambda v: vjp_x(v)[0], cotangent)
    _, vjp_params = jax.vjp(lambda *p: optimality_fun(sol, *p), *params)
    return _tree_neg(vjp_params(u))


def custom_root(optimality_fun: Callable, solve: str | LinearSolve = "auto",
                has_aux: bool = False, *, symmetric: bool = False,
                positive_definite: bool = False,
                factored_solve: FactoredSolve | None = None) -> Callable[[Callable], Callable]:
    """Decorator adding implicit differentiation to ``solver(init, *args, **kwargs)``.

    ``optimality_fun(x, *args, **kwargs)`` returns a pytree shaped like ``x``
    that is zero at the solution; it is called with the arguments the solver
    got, keywords bound to its declared signature (so a wrapper made with
    ``functools.wraps`` takes them by name), and every argument (any pytree)
    is differentiable. ``solve`` is a linear solver name from
    :mod:`optdsl.runtime.linear_solve` or a callable ``solve(matvec, b)``;
    ``symmetric`` / ``positive_definite`` describe ``∂₁F`` (e.g. a Hessian) and
    steer ``"auto"``. With ``has_aux`` the solver returns ``(x, aux)`` and ``aux``
    is passed through undifferentiated. ``init`` gets a zero derivative: the
    solution does not depend on where the solver started.

    The solver runs as written, not under ``jax.jit``: outside ``jit`` it sees
    concrete arrays, so it may call a host library (``scipy.optimize``) and still
    be differentiated by ``jax.grad`` / ``jax.jvp``; under ``jit`` such a solver
    goes through ``jax.pure_callback``. A solver that is itself JAX code and is
    decorated inside a ``jit`` can be passed as ``jax.jit(solver)``: the
    derivative rule, its linearisation and ``vmap`` call the solver again with
    the same shapes and then reuse its trace.

    ``factored_solve(aux, b, transpose)`` (with ``has_aux``) replaces ``solve``
    when the solver already factorised ``∂₁F`` at its solution (an interior-point
    method's last KKT factorisation): it returns ``∂₁F⁻¹ b`` (``∂₁F⁻ᵀ b`` when
    ``transpose``) for ``b`` the flattened ``x`` (``jax.flatten_util.ravel_pytree``
    order), so differentiation costs back-substitutions only.

    Example::

        @custom_root(jax.grad(f))
        def argmin_f(init, theta):
            return my_solver(f, init, theta)

        jax.jacfwd(argmin_f, argnums=1)(x0, theta)
    """
    if factored_solve is not None and not has_aux:
        raise ArgumentError("factored_solve needs has_aux=True: the factorisation comes in the solver's aux output")
    linear_solve = get_solver(solve, symmetric=symmetric, positive_definite=positive_definite)
    optimality = _bound(optimality_fun)

    def called(x: PyTree, args: tuple, kwargs: dict) -> PyTree:
        return optimality(x, *args, **kwargs)

    def decorator(solver: Callable) -> Callable:
        @jax.custom_jvp
        def run(init, args, kwargs):
            if isinstance(init, _Replayed):
                return init.output
            return solver(init, *args, **kwargs)

        @run.defjvp
        def run_jvp(primals, tangents):
            init, args, kwargs = primals
            out = run(init, args, kwargs)
            sol, aux = out if has_aux else (out, None)
            if factored_solve is None:
                dsol = _jvp_of_root(called, sol, (args, kwargs), tangents[1:], linear_solve, symmetric)
            else:
                dsol = _jvp_of_root(called, sol, (args, kwargs), tangents[1:],
                                    lambda mv, b: factored_solve(aux, b, False), symmetric,
                                    lambda vm, b: factored_solve(aux, b, True))
            if has_aux:
                return out, (dsol, jax.tree_util.tree_map(zero_tangent, aux))
            return out, dsol

        @functools.wraps(solver)
        def wrapped(init, *args, **kwargs):
            try:
                with _taped(init) as (init, record):
                    return record(run(init, args, kwargs))
            except jax.errors.UnexpectedTracerError as err:
                raise ClosureError(_CLOSURE_HINT) from err
            except Exception as err:  # JAX's CustomJVPException is not public API
                if type(err).__name__ == "CustomJVPException":
                    raise ClosureError(_CLOSURE_HINT) from err
                raise

        return wrapped

    return decorator


class _Replayed(NamedTuple):
    """A ``custom_root`` solver's ``init`` that makes it return ``output`` (a recorded solve) instead of solving."""

    output: PyTree


class _Tape:
    """The outputs of the outermost ``custom_root`` solves of one trace: being recorded, or being replayed."""

    def __init__(self, replay: Sequence[PyTree] | None = None):
        self.replaying = replay is not None
        self.outputs = list(replay or ())


_TAPE: contextvars.ContextVar[_Tape | None] = contextvars.ContextVar("optdsl_custom_root_tape", default=None)
_NESTED: contextvars.ContextVar[bool] = contextvars.ContextVar("optdsl_custom_root_nested", default=False)


@contextlib.contextmanager
def _taped(init: Any):
    """``(init, record)`` for one ``custom_root`` call, following the tape of :func:`forward_shared` if any.

    Only the outermost solves are taped (a solve inside another solver's trace is that solver's own business).
    Replaying, ``init`` is the next recorded output; recording, ``record`` appends the output to the tape.
    """
    tape = _TAPE.get()
    outermost = tape is not None and not _NESTED.get()
    nested = _NESTED.set(True)
    try:
        if outermost and tape.replaying:
            if not tape.outputs:
                raise ArgumentError("forward_shared: the function made more custom_root solves when its derivative "
                                    "was traced than when its forward was; it must make the same solves every time")
            yield _Replayed(tape.outputs.pop(0)), lambda out: out
        elif outermost:
            yield init, lambda out: tape.outputs.append(out) or out
        else:
            yield init, lambda out: out
    finally:
        _NESTED.reset(nested)


def _with_tape(tape: _Tape, fn: Callable, *args: Any) -> Any:
    token = _TAPE.set(tape)
    try:
        return fn(*args)
    finally:
        _TAPE.reset(token)


def forward_shared(fn: Callable[..., PyTree]) -> Callable[..., PyTree]:
    """``jax.jit(fn)`` for ``fn(params, *rest)`` whose solvers use :func:`custom_root`, with derivatives in
    ``params`` that do not run the solvers again (``rest`` gets none).

    Called outside ``jit``, a jitted function compiles once for its forward call and once more
    for each transformation, ``grad`` compiling the whole forward again. Here the forward
    program also returns what each outermost ``custom_root`` solver returned (solution and
    aux, in call order), and the derivative is a second program that runs ``fn`` again with
    every such solver replaying its recorded output instead of solving, differentiated
    through the implicit rule as usual. So the first ``grad`` after a forward call compiles
    only the derivative, and the forward program is the same executable for both. Under an
    outer ``jit`` the two programs are traced into one, with each solve in it once; higher
    derivatives hold, since the replayed output still carries the rule. A ``forward_shared``
    function called by ``fn`` runs as its plain function, its solves taped with ``fn``'s.
    """
    def recorded(*args):
        tape = _Tape()
        out = _with_tape(tape, fn, *args)
        return out, tape.outputs

    def replayed_tangent(outputs, params, rest, tangents):
        # ``tangents`` is ``params`` with None for the leaves that have none: only the others are differentiated.
        leaves, tree = jax.tree_util.tree_flatten(params)
        moving = [i for i, t in enumerate(jax.tree_util.tree_leaves(tangents, is_leaf=_is_none)) if t is not None]

        def of_moving(*values):
            full = list(leaves)
            for i, v in zip(moving, values):
                full[i] = v
            return fn(jax.tree_util.tree_unflatten(tree, full), *rest)

        primals = [leaves[i] for i in moving]
        dmoving = [t for t in jax.tree_util.tree_leaves(tangents, is_leaf=_is_none) if t is not None]
        _, dout = _with_tape(_Tape(outputs), lambda: jax.jvp(of_moving, primals, dmoving))
        return [None if t.dtype == jax.dtypes.float0 else t for t in jax.tree_util.tree_leaves(dout)]

    forward, tangent = jit_by_position(recorded), jit_by_position(replayed_tangent)

    @jax.custom_jvp
    def differentiable(params, *rest):
        return forward(params, *rest)[0]

    def differentiable_jvp(primals, tangents):
        params, *rest = primals
        if _traced(primals):
            out, outputs = forward(params, *rest)
        else:
            # Outside jit the primals are arrays; evaluated as such, the forward runs its own executable.
            with jax.core.eval_context():
                out, outputs = forward(params, *rest)
        leaves, tree = jax.tree_util.tree_flatten(out)
        moving = jax.tree_util.tree_map(lambda t: None if isinstance(t, SymbolicZero) else t, tangents[0])
        if not any(t is not None for t in jax.tree_util.tree_leaves(moving, is_leaf=_is_none)):
            return out, jax.tree_util.tree_map(zero_tangent, out)
        dleaves = tangent(outputs, params, tuple(rest), moving)
        dout = [zero_tangent(v) if d is None else d for v, d in zip(leaves, dleaves)]
        return out, jax.tree_util.tree_unflatten(tree, dout)

    differentiable.defjvp(differentiable_jvp, symbolic_zeros=True)

    @functools.wraps(fn)
    def call(params, *rest):
        if _TAPE.get() is not None:
            return fn(params, *rest)  # inside another forward_shared function: its solves are taped by that one
        if _traced((params, rest)):
            return differentiable(params, *rest)
        return forward(params, *rest)[0]  # arrays in: nothing to differentiate, and no custom_jvp call to pay for

    call.shares_forward = True
    return call


def shares_forward(fn: Callable) -> bool:
    """Whether ``fn`` was made by :func:`forward_shared` (a function calling it can then be one too)."""
    return getattr(fn, "shares_forward", False)


def _is_none(value: Any) -> bool:
    return value is None


def _traced(tree: PyTree) -> bool:
    """Whether a leaf of ``tree`` is a tracer (an argument of a transformation), not an array."""
    return any(isinstance(v, jax.core.Tracer) for v in jax.tree_util.tree_leaves(tree))


def custom_fixed_point(fixed_point_fun: Callable, solve: str | LinearSolve = "auto",
                       has_aux: bool = False) -> Callable[[Callable], Callable]:
    """Decorator like :func:`custom_root` for a fixed point ``x* = T(x*, *args, **kwargs)``.

    Differentiates the root of ``F(x, θ) = T(x, θ) - x`` (so ``∂₁F = ∂₁T - I``).
    """

    fixed_point = _bound(fixed_point_fun)

    def optimality_fun(x, *args, **kwargs):
        return jax.tree_util.tree_map(jnp.subtract, fixed_point(x, *args, **kwargs), x)

    return custom_root(optimality_fun, solve=solve, has_aux=has_aux)
