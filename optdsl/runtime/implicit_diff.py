"""Implicit differentiation of the root of an optimality map.

If ``x*(θ)`` solves ``F(x*(θ), θ) = 0`` and ``∂₁F`` is invertible, the implicit
function theorem gives ``∂₁F · ∂x* = -∂₂F``. So the derivatives of a solution
need the map ``F`` and one linear solve per tangent (forward mode) or per
cotangent (reverse mode), never the solver's iterations (Blondel et al. 2021).

``custom_root`` and ``custom_fixed_point`` decorate a solver
``solver(init, *params) -> x*`` with that rule. The rule is a ``jax.custom_jvp``
whose tangent is ``lax.custom_linear_solve(∂₁F, -∂₂F · dθ)``: JAX transposes the
linear solve for reverse mode, so one rule gives ``jvp``/``jacfwd`` *and*
``grad``/``vjp``/``jacrev``, and it differentiates again for ``hessian``.
``root_jvp`` and ``root_vjp`` are the same products as plain functions.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree

from optdsl.errors import ArgumentError, ClosureError
from optdsl.runtime.linear_solve import LinearSolve, get_solver

PyTree = Any
#: ``factored_solve(aux, b, transpose) -> x``: a solve with a factorisation the solver returned in ``aux``.
FactoredSolve = Callable[[Any, jax.Array, bool], jax.Array]


_CLOSURE_HINT = (
    "the solver (or the optimality function) closes over a value that JAX is differentiating. "
    "Implicit differentiation only sees the explicit parameters, so that derivative would be lost: "
    "pass the value as a parameter, `solver(init, *params)` and `optimality_fun(x, *params)`, "
    "instead of capturing it in a closure."
)


def _tree_neg(tree: PyTree) -> PyTree:
    return jax.tree_util.tree_map(jnp.negative, tree)


def _zero_tangent(value: Any) -> Any:
    """A zero tangent for a primal output that is not differentiated (aux data)."""
    value = jnp.asarray(value)
    if jnp.issubdtype(value.dtype, jnp.inexact):
        return jnp.zeros_like(value)
    return np.zeros(value.shape, dtype=jax.dtypes.float0)


def _tangent_solve(matvec: Callable, rhs: PyTree, solve: LinearSolve, symmetric: bool,
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


def root_jvp(optimality_fun: Callable, sol: PyTree, params: Sequence[PyTree],
             tangents: Sequence[PyTree], solve: str | LinearSolve = "auto", *,
             symmetric: bool = False, positive_definite: bool = False) -> PyTree:
    """Jacobian-vector product ``∂x*(θ) · dθ`` of a root ``F(x*, θ) = 0``.

    Solves ``∂₁F(x*, θ) · dx = -∂₂F(x*, θ) · dθ``. ``params`` and ``tangents``
    are sequences matching the positional parameters of
    ``optimality_fun(x, *params)``.
    """
    params, tangents = tuple(params), tuple(tangents)
    _, rhs = jax.jvp(lambda *p: optimality_fun(sol, *p), params, tangents)
    _, matvec = jax.linearize(lambda x: optimality_fun(x, *params), sol)
    linear_solve = get_solver(solve, symmetric=symmetric, positive_definite=positive_definite)
    return _tangent_solve(matvec, _tree_neg(rhs), linear_solve, symmetric)


def root_vjp(optimality_fun: Callable, sol: PyTree, params: Sequence[PyTree],
             cotangent: PyTree, solve: str | LinearSolve = "auto", *,
             symmetric: bool = False, positive_definite: bool = False) -> tuple:
    """Vector-Jacobian product ``cotangent · ∂x*(θ)``, one entry per parameter.

    Solves ``∂₁F(x*, θ)ᵀ u = cotangent`` and returns ``-∂₂F(x*, θ)ᵀ u``.
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
    """Decorator adding implicit differentiation to ``solver(init, *params)``.

    ``optimality_fun(x, *params)`` returns a pytree shaped like ``x`` that is zero
    at the solution. ``solve`` is a linear solver name from
    :mod:`optdsl.runtime.linear_solve` or a callable ``solve(matvec, b)``;
    ``symmetric`` / ``positive_definite`` describe ``∂₁F`` (e.g. a Hessian) and
    steer ``"auto"``. With ``has_aux`` the solver returns ``(x, aux)`` and ``aux``
    is passed through undifferentiated. ``init`` gets a zero derivative: the
    solution does not depend on where the solver started.

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

    def decorator(solver: Callable) -> Callable:
        # Under jit the JVP rule, its linearisation and vmap call the solver again with the same shapes;
        # jax.jit lets those calls take its (large) program from the trace cache instead of re-tracing.
        traced_once = jax.jit(solver)

        @jax.custom_jvp
        def run(init, params):
            return traced_once(init, *params)

        @run.defjvp
        def run_jvp(primals, tangents):
            init, params = primals
            _, dparams = tangents
            out = run(init, params)
            sol, aux = out if has_aux else (out, None)
            _, rhs = jax.jvp(lambda *p: optimality_fun(sol, *p), params, dparams)
            _, matvec = jax.linearize(lambda x: optimality_fun(x, *params), sol)
            if factored_solve is None:
                dsol = _tangent_solve(matvec, _tree_neg(rhs), linear_solve, symmetric)
            else:
                dsol = _tangent_solve(matvec, _tree_neg(rhs), lambda mv, b: factored_solve(aux, b, False),
                                      symmetric, lambda vm, b: factored_solve(aux, b, True))
            if has_aux:
                return out, (dsol, jax.tree_util.tree_map(_zero_tangent, aux))
            return out, dsol

        @functools.wraps(solver)
        def wrapped(init, *params):
            try:
                return run(init, params)
            except jax.errors.UnexpectedTracerError as err:
                raise ClosureError(_CLOSURE_HINT) from err
            except Exception as err:  # JAX's CustomJVPException is not public API
                if type(err).__name__ == "CustomJVPException":
                    raise ClosureError(_CLOSURE_HINT) from err
                raise

        return wrapped

    return decorator


def custom_fixed_point(fixed_point_fun: Callable, solve: str | LinearSolve = "auto",
                       has_aux: bool = False) -> Callable[[Callable], Callable]:
    """Decorator like :func:`custom_root` for a fixed point ``x* = T(x*, *params)``.

    Differentiates the root of ``F(x, θ) = T(x, θ) - x`` (so ``∂₁F = ∂₁T - I``).
    """

    def optimality_fun(x, *params):
        return jax.tree_util.tree_map(jnp.subtract, fixed_point_fun(x, *params), x)

    return custom_root(optimality_fun, solve=solve, has_aux=has_aux)
