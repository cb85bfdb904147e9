"""Tests for optdsl.runtime.prox: each operator against its definition.

References: the prox problem ``min_y 0.5 ||y - x||^2 + step g(y)`` solved by
cvxpy + CLARABEL, the subgradient inequality of ``x - y in step dg(y)``, closed
forms for the conjugates, and central finite differences for the JVPs.
"""

from __future__ import annotations

import doctest
from dataclasses import dataclass
from typing import Callable

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optdsl.runtime.prox as prox_module
from optdsl.runtime.prox import (
    prox_conjugate,
    prox_elastic_net,
    prox_group_lasso,
    prox_huber,
    prox_indicator,
    prox_l2_norm,
    prox_lasso,
    prox_linf_norm,
    prox_neg_log,
    prox_non_negative_lasso,
    prox_non_negative_ridge,
    prox_none,
    prox_positive_part,
    prox_ridge,
)

N = 6
STEP = 0.7


def _positive(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(0.3, 1.2, size=shape)


@dataclass(frozen=True)
class Case:
    """One operator: how to draw hyperparameters, and ``g`` as a cvxpy expression."""

    prox: Callable
    n_hyper: int
    separable: bool
    g: Callable  # (cvxpy expression y, *numpy hyperparams) -> scalar expression
    domain: str = "free"  # "free", "nonneg" (indicator y >= 0) or "positive" (log barrier)

    def hyper(self, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        shape = (N,) if self.separable else ()
        return tuple(_positive(rng, shape) for _ in range(self.n_hyper))


def _huber(y, delta, reg):
    # cvxpy's huber(u, M) is twice huber_delta: u^2 inside, 2 M |u| - M^2 outside.
    return 0.5 * sum(reg[i] * cp.huber(y[i], delta[i]) for i in range(N))


CASES = {
    "none": Case(prox_none, 0, True, lambda y: cp.Constant(0.0)),
    "lasso": Case(prox_lasso, 1, True, lambda y, r: cp.sum(cp.multiply(r, cp.abs(y)))),
    "non_negative_lasso": Case(
        prox_non_negative_lasso, 1, True, lambda y, r: cp.sum(cp.multiply(r, cp.abs(y))), "nonneg"
    ),
    "elastic_net": Case(
        prox_elastic_net,
        2,
        True,
        lambda y, l1, l2: cp.sum(cp.multiply(l1, cp.abs(y))) + 0.5 * cp.sum(cp.multiply(l2, cp.square(y))),
    ),
    "group_lasso": Case(prox_group_lasso, 1, False, lambda y, r: r * cp.norm(y, 2)),
    "ridge": Case(prox_ridge, 1, True, lambda y, r: 0.5 * cp.sum(cp.multiply(r, cp.square(y)))),
    "non_negative_ridge": Case(
        prox_non_negative_ridge, 1, True, lambda y, r: 0.5 * cp.sum(cp.multiply(r, cp.square(y))), "nonneg"
    ),
    "linf_norm": Case(prox_linf_norm, 1, False, lambda y, r: r * cp.norm(y, "inf")),
    "huber": Case(prox_huber, 2, True, _huber),
    "positive_part": Case(prox_positive_part, 1, True, lambda y, r: cp.sum(cp.multiply(r, cp.pos(y)))),
    "neg_log": Case(prox_neg_log, 1, True, lambda y, r: -cp.sum(cp.multiply(r, cp.log(y))), "positive"),
}


def _instance(name: str, seed: int) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    rng = np.random.default_rng(seed)
    x = 1.5 * rng.standard_normal(N)
    return x, CASES[name].hyper(rng)


def _solve_prox_problem(case: Case, x: np.ndarray, hyper: tuple, step: float) -> np.ndarray:
    y = cp.Variable(N)
    constraints = [y >= 0] if case.domain == "nonneg" else []
    objective = 0.5 * cp.sum_squares(y - x) + step * case.g(y, *hyper)
    problem = cp.Problem(cp.Minimize(objective), constraints)
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    assert problem.status == cp.OPTIMAL
    return y.value


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", list(CASES))
def test_matches_numerical_prox(name: str, seed: int) -> None:
    case = CASES[name]
    x, hyper = _instance(name, seed)
    y = case.prox(jnp.asarray(x), *hyper, step=STEP)
    np.testing.assert_allclose(y, _solve_prox_problem(case, x, hyper, STEP), atol=1e-6)


def _in_domain(case: Case, z: np.ndarray) -> np.ndarray:
    if case.domain == "nonneg":
        return np.maximum(z, 0.0)
    if case.domain == "positive":
        return np.maximum(z, 1e-3)
    return z


@pytest.mark.parametrize("name", list(CASES))
def test_subgradient_inequality(name: str) -> None:
    """``x - y in step dg(y)`` <=> ``step g(z) >= step g(y) + <x - y, z - y>`` for all z."""
    case = CASES[name]
    x, hyper = _instance(name, 2)
    y = np.asarray(case.prox(jnp.asarray(x), *hyper, step=STEP))

    def g(z: np.ndarray) -> float:
        return float(case.g(cp.Constant(z), *hyper).value)

    rng = np.random.default_rng(3)
    for scale in (1e-3, 1e-1, 2.0):
        for _ in range(8):
            z = _in_domain(case, y + scale * rng.standard_normal(N))
            assert STEP * g(z) >= STEP * g(y) + np.dot(x - y, z - y) - 1e-10


def _all_args(name: str, seed: int) -> tuple[np.ndarray, ...]:
    x, hyper = _instance(name, seed)
    return (x, *hyper, np.asarray(STEP))


def _call(name: str, args: tuple) -> jax.Array:
    x, *hyper, step = args
    return CASES[name].prox(x, *hyper, step=step)


def _central_difference(f: Callable, args: tuple, tangents: tuple, eps: float = 1e-6) -> np.ndarray:
    plus = f(*(a + eps * t for a, t in zip(args, tangents)))
    minus = f(*(a - eps * t for a, t in zip(args, tangents)))
    return (np.asarray(plus) - np.asarray(minus)) / (2 * eps)


@pytest.mark.parametrize("name", list(CASES))
def test_jvp_and_vjp_match_finite_differences(name: str) -> None:
    """Tangents in x, every hyperparameter and the step at once, at a generic point."""
    args = _all_args(name, 4)
    rng = np.random.default_rng(5)
    tangents = tuple(rng.standard_normal(np.shape(a)) for a in args)
    f = lambda *a: _call(name, a)  # noqa: E731
    value, jvp = jax.jvp(f, args, tangents)

    np.testing.assert_allclose(jvp, _central_difference(f, args, tangents), rtol=1e-6, atol=1e-8)

    cotangent = rng.standard_normal(N)
    _, vjp = jax.vjp(f, *args)
    pulled = vjp(cotangent)
    assert np.isclose(sum(np.vdot(p, t) for p, t in zip(pulled, tangents)), np.vdot(cotangent, jvp))


@pytest.mark.parametrize("name", list(CASES))
def test_finite_value_and_derivatives_at_zero(name: str) -> None:
    _, *hyper, step = _all_args(name, 6)
    args = (np.zeros(N), *hyper, step)
    f = lambda *a: _call(name, a)  # noqa: E731
    value, jvp = jax.jvp(f, args, tuple(np.ones(np.shape(a)) for a in args))
    grads = jax.grad(lambda *a: jnp.sum(f(*a) ** 2 + f(*a)), argnums=tuple(range(len(args))))(*args)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(jvp))
    assert all(np.all(np.isfinite(g)) for g in grads)


@pytest.mark.parametrize("prox", [prox_group_lasso, prox_linf_norm])
@pytest.mark.parametrize("x", [np.zeros(N), np.linspace(-1.0, 2.0, N)])
def test_norm_prox_with_zero_reg_is_identity(prox: Callable, x: np.ndarray) -> None:
    """step * reg = 0 gives the identity map, with identity Jacobian (no NaN from the guards)."""
    np.testing.assert_array_equal(prox(x, 0.0), x)
    np.testing.assert_array_equal(jax.jacfwd(prox)(x, 0.0), np.eye(N))
    np.testing.assert_array_equal(jax.jacrev(prox)(x, 0.0), np.eye(N))


@pytest.mark.parametrize("prox", [prox_group_lasso, prox_linf_norm])
def test_norm_prox_jacobian_at_zero(prox: Callable) -> None:
    """At x = 0 with step * reg > 0 the exact map is 0 in a neighbourhood: zero Jacobian."""
    np.testing.assert_array_equal(jax.jacfwd(prox)(jnp.zeros(N), 0.5), np.zeros((N, N)))
    np.testing.assert_array_equal(jax.jacrev(prox)(jnp.zeros(N), 0.5), np.zeros((N, N)))


@pytest.mark.parametrize("prox", [prox_group_lasso, prox_linf_norm])
def test_norm_prox_of_matrix_uses_whole_input(prox: Callable) -> None:
    x = np.random.default_rng(18).standard_normal((2, 3))
    np.testing.assert_allclose(prox(x, 0.4), prox(x.ravel(), 0.4).reshape(2, 3), rtol=1e-14)


def test_l2_norm_is_group_lasso() -> None:
    assert prox_l2_norm is prox_group_lasso


@pytest.mark.parametrize("name", list(CASES))
def test_jit_and_vmap_match_eager(name: str) -> None:
    batch = [_all_args(name, seed) for seed in (7, 8, 9)]
    stacked = tuple(np.stack(column) for column in zip(*batch))
    f = lambda *a: _call(name, a)  # noqa: E731
    eager = np.stack([f(*args) for args in batch])
    np.testing.assert_allclose(jax.jit(jax.vmap(f))(*stacked), eager, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(jax.jit(f)(*batch[0]), eager[0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", list(CASES))
def test_float32(name: str) -> None:
    """float32 in, float32 out (float64 hyperparameters are cast, not promoted), close to float64."""
    args = _all_args(name, 10)
    x32 = args[0].astype(np.float32)
    y32 = _call(name, (x32, *args[1:]))
    assert y32.dtype == jnp.float32
    np.testing.assert_allclose(y32, _call(name, args), rtol=1e-5, atol=1e-5)
    _, jvp32 = jax.jvp(lambda x: _call(name, (x, *args[1:])), (x32,), (np.ones(N, np.float32),))
    assert jvp32.dtype == jnp.float32 and np.all(np.isfinite(jvp32))


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.separable and c.n_hyper])
def test_separable_hyperparameters_broadcast(name: str) -> None:
    x, hyper = _instance(name, 11)
    scalars = tuple(float(h[0]) for h in hyper)
    full = tuple(np.full(N, s) for s in scalars)
    np.testing.assert_allclose(
        CASES[name].prox(x, *scalars, step=STEP),
        CASES[name].prox(x, *full, step=np.full(N, STEP)),
        rtol=1e-14,
    )


def test_group_lasso_over_rows_by_vmap() -> None:
    rng = np.random.default_rng(12)
    rows = rng.standard_normal((4, 3))
    rows[1] *= 0.1  # a row below the threshold, zeroed
    y = jax.vmap(prox_group_lasso, in_axes=(0, None))(rows, 0.8)
    expected = np.stack([max(1 - 0.8 / np.linalg.norm(r), 0.0) * r for r in rows])
    np.testing.assert_allclose(y, expected, rtol=1e-13)
    assert np.all(y[1] == 0)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: prox_lasso(jnp.zeros(3), jnp.ones(2)), "reg"),
        (lambda: prox_huber(jnp.zeros(3), jnp.ones((3, 1)), 1.0), "delta"),
        (lambda: prox_ridge(jnp.zeros(3), 1.0, step=jnp.ones(4)), "step"),
        (lambda: prox_group_lasso(jnp.zeros(3), jnp.ones(3)), "reg"),
        (lambda: prox_linf_norm(jnp.zeros(3), 1.0, step=jnp.ones(3)), "step"),
    ],
)
def test_bad_hyperparameter_shapes_raise(call: Callable, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def _l2_ball(x, radius):
    return x * min(1.0, radius / np.linalg.norm(x))


CONJUGATES = {
    # g = reg ||.||_1          -> g* = indicator of the linf ball of radius reg
    "lasso": (prox_lasso, lambda x, reg, step: np.clip(x, -reg, reg)),
    # g = reg ||.||_2          -> g* = indicator of the l2 ball of radius reg
    "group_lasso": (prox_group_lasso, lambda x, reg, step: _l2_ball(x, reg)),
    # g = reg/2 ||.||^2        -> g* = ||.||^2 / (2 reg)
    "ridge": (prox_ridge, lambda x, reg, step: x / (1 + step / reg)),
    # g = reg * huber_delta    -> g* = z^2 / (2 reg) + indicator(|z| <= reg delta)
    "huber": (
        lambda x, reg, step=1.0: prox_huber(x, 0.6, reg, step=step),
        lambda x, reg, step: np.clip(x / (1 + step / reg), -0.6 * reg, 0.6 * reg),
    ),
}


@pytest.mark.parametrize("step", [0.4, 1.0, 2.5])
@pytest.mark.parametrize("name", list(CONJUGATES))
def test_conjugate_matches_closed_form(name: str, step: float) -> None:
    prox, closed_form = CONJUGATES[name]
    x = 2.0 * np.random.default_rng(13).standard_normal(N)
    reg = 0.9
    y = prox_conjugate(prox)(jnp.asarray(x), reg, step=step)
    np.testing.assert_allclose(y, closed_form(x, reg, step), rtol=1e-12, atol=1e-14)


def test_conjugate_of_linf_norm_is_l1_ball_projection() -> None:
    """g = reg ||.||_inf -> g* = indicator of the l1 ball of radius reg; compared with cvxpy."""
    x = np.random.default_rng(14).standard_normal(N)
    y = prox_conjugate(prox_linf_norm)(jnp.asarray(x), 1.3, step=0.8)
    z = cp.Variable(N)
    cp.Problem(cp.Minimize(cp.sum_squares(z - x)), [cp.norm(z, 1) <= 1.3]).solve(solver=cp.CLARABEL)
    np.testing.assert_allclose(y, z.value, atol=1e-6)


def test_conjugate_jvp_matches_finite_differences() -> None:
    x = 2.0 * np.random.default_rng(15).standard_normal(N)
    f = lambda x, reg, step: prox_conjugate(prox_huber)(x, 0.6, reg, step=step)  # noqa: E731
    args, tangents = (x, 0.9, 1.7), (np.ones(N), 0.3, -0.2)
    _, jvp = jax.jvp(f, args, tangents)
    np.testing.assert_allclose(jvp, _central_difference(f, args, tangents), rtol=1e-6, atol=1e-8)


def _box(x, lower, upper):
    return jnp.clip(x, lower, upper)


@pytest.mark.parametrize("step", [0.1, 1.0, 10.0])
def test_indicator_wraps_projection(step: float) -> None:
    x = 2.0 * np.random.default_rng(16).standard_normal(N)
    prox = prox_indicator(_box)
    np.testing.assert_array_equal(prox(x, -0.5, 1.0, step=step), np.clip(x, -0.5, 1.0))
    assert "_box" in prox.__name__
    # Set parameters stay differentiable: d/d upper of sum(clip(x, lower, upper)) = #{x > upper}.
    grad_upper = jax.grad(lambda u: jnp.sum(prox(x, -0.5, u, step=step)))(1.0)
    assert grad_upper == np.sum(x > 1.0)
    np.testing.assert_array_equal(jax.jit(prox)(x, -0.5, 1.0, step=step), np.clip(x, -0.5, 1.0))


def test_indicator_of_l1_ball_solves_prox_problem() -> None:
    from optdsl.runtime.projections import projection_l1_ball

    x = np.random.default_rng(17).standard_normal(N)
    y = prox_indicator(projection_l1_ball)(jnp.asarray(x), 0.8, step=3.0)
    z = cp.Variable(N)
    cp.Problem(cp.Minimize(cp.sum_squares(z - x)), [cp.norm(z, 1) <= 0.8]).solve(solver=cp.CLARABEL)
    np.testing.assert_allclose(y, z.value, atol=1e-6)


def test_docstring_examples() -> None:
    result = doctest.testmod(prox_module, extraglobs={"jnp": jnp})
    assert result.attempted >= 13 and result.failed == 0
