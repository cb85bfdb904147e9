"""Derivatives that replay the forward's solves (``forward_shared``): the solver is not traced again for them, and
they are the implicit derivatives, in every transformation and at second order."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optdsl as od
from optdsl.runtime.implicit_diff import custom_root, forward_shared


def cubic_root_function():
    """``θ -> {"x": x*(θ), "steps": ...}`` with ``x*³ + x* = θ`` entrywise, and a list counting the solver's traces."""
    traces = []

    @custom_root(lambda x, theta: x ** 3 + x - theta, has_aux=True)
    def solver(init, theta):
        traces.append(1)
        x = jax.lax.fori_loop(0, 60, lambda _, x: x - (x ** 3 + x - theta) / (3 * x ** 2 + 1), init)
        return x, jnp.asarray(60, jnp.int32)

    def fn(theta, scale):
        x, steps = solver(jnp.zeros_like(theta), theta)
        return {"x": scale * x, "steps": steps}

    return forward_shared(fn), traces


def exact(theta):
    """``x*``, ``dx*/dθ`` and ``d²x*/dθ²`` of the cubic, entrywise."""
    x = np.array([np.real(r[np.isreal(r)][0]) for r in (np.roots([1, 0, 1, -t]) for t in theta)])
    d1 = 1 / (3 * x ** 2 + 1)
    return x, d1, -6 * x * d1 ** 3


THETA = jnp.asarray([-2.0, 0.3, 1.5])


def test_the_first_gradient_after_a_forward_call_does_not_trace_the_solver_again():
    fn, traces = cubic_root_function()
    x, d1, _ = exact(np.asarray(THETA))
    assert np.allclose(fn(THETA, 2.0)["x"], 2 * x, atol=1e-12)
    assert len(traces) == 1
    grad = jax.grad(lambda t: fn(t, 2.0)["x"].sum())(THETA)
    assert np.allclose(grad, 2 * d1, atol=1e-12)
    assert len(traces) == 1  # the forward's solve was replayed, not traced again
    assert np.allclose(jax.jit(jax.grad(lambda t: fn(t, 2.0)["x"].sum()))(THETA), 2 * d1, atol=1e-12)
    assert len(traces) == 1  # under jit too: the forward program's trace is JAX's cached one


def test_every_transformation_gives_the_implicit_derivatives_including_the_second():
    fn, _ = cubic_root_function()
    x, d1, d2 = exact(np.asarray(THETA))
    f = lambda t: fn(t, 1.0)["x"]
    assert np.allclose(jax.jacfwd(f)(THETA), np.diag(d1), atol=1e-12)
    assert np.allclose(jax.jacrev(f)(THETA), np.diag(d1), atol=1e-12)
    batch = jnp.stack([THETA, THETA + 0.5])
    vmapped = jax.vmap(jax.grad(lambda t: f(t).sum()))(batch)
    assert np.allclose(vmapped, np.stack([d1, exact(np.asarray(THETA) + 0.5)[1]]), atol=1e-12)
    assert np.allclose(jax.hessian(lambda t: f(t).sum())(THETA), np.diag(d2), atol=1e-10)
    assert fn(THETA, 1.0)["steps"] == 60 and jax.jvp(lambda t: fn(t, 1.0)["steps"], (THETA,), (THETA,))[1].dtype \
        == jax.dtypes.float0


def central(f, theta, h=1e-6):
    """Central differences of a scalar ``f`` at the vector ``theta``."""
    theta = np.asarray(theta, float)
    return np.array([(f(theta + h * e) - f(theta - h * e)) / (2 * h) for e in np.eye(theta.size)])


@pytest.fixture(scope="module")
def qp():
    x, c = od.Variable(4, name="x"), od.Parameter(4, name="c")
    G = np.random.default_rng(0).normal(size=(6, 4))
    problem = od.Problem(od.Minimize(0.5 * od.sum_squares(x) + c @ x), [G @ x <= 1.0])
    return problem.compile(), jnp.asarray([0.9, -1.2, 0.4, 2.0])


@pytest.fixture(scope="module")
def socp():
    x, c = od.Variable(3, name="x"), od.Parameter(3, name="c")
    A = np.random.default_rng(1).normal(size=(5, 3))
    problem = od.Problem(od.Minimize(od.norm2(A @ x - 1.0) + c @ x), [x >= -1, x <= 1])
    return problem.compile(), jnp.asarray([0.1, -0.2, 0.05])


@pytest.mark.parametrize("model", ["qp", "socp"])
def test_compiled_problems_differentiate_alike_eagerly_under_jit_and_by_finite_differences(model, request):
    solve, c0 = request.getfixturevalue(model)
    assert solve.method == {"qp": "kkt", "socp": "conic"}[model]
    w = jnp.asarray([1.0, -2.0, 0.5, 1.5][:c0.size])
    loss = lambda c: solve(c=c).x @ w + solve(c=c).objective
    assert int(solve(c=c0).status) == 0
    eager = jax.grad(loss)(c0)
    assert np.allclose(eager, central(lambda c: float(loss(jnp.asarray(c))), c0), atol=1e-6)
    if model == "qp":  # under jit, one program; a warm start changes the solve's input, not its derivative
        assert np.allclose(jax.jit(jax.grad(loss))(c0), eager, atol=1e-9)
        warm = solve(c=c0 + 0.01)
        assert np.allclose(jax.grad(lambda c: solve(c=c, init=warm).x @ w)(c0),
                           jax.grad(lambda c: solve(c=c).x @ w)(c0), atol=1e-9)


def test_second_derivatives_of_a_compiled_problem():
    # ridge regression: x*(lam) = (A'A + lam I)^-1 A'b, so |x*|² has a closed-form second derivative in lam.
    rng = np.random.default_rng(2)
    A, b = rng.normal(size=(8, 3)), rng.normal(size=8)
    x, lam, b_ = od.Variable(3, name="x"), od.Parameter(nonneg=True, name="lam"), od.Parameter(8, name="b")
    solve = od.Problem(od.Minimize(od.sum_squares(A @ x - b_) + lam * od.sum_squares(x))).compile()
    norm2 = lambda lam, b: jnp.sum(solve(lam=lam, b=b).x ** 2)
    lam0 = 0.7
    M = np.linalg.inv(A.T @ A + lam0 * np.eye(3))
    xs = M @ A.T @ b
    dx, d2x = -M @ xs, 2 * M @ M @ xs
    assert float(jax.hessian(norm2)(jnp.asarray(lam0), b)) == pytest.approx(2 * (dx @ dx + xs @ d2x), rel=1e-7)
    # one parameter of two differentiated (the other's tangent is a symbolic zero)
    assert np.allclose(jax.grad(norm2, argnums=1)(lam0, jnp.asarray(b)), 2 * A @ M @ xs, atol=1e-9)


def test_a_compiled_problem_traces_its_solver_once_for_a_solve_and_its_gradient(monkeypatch):
    from optdsl.compiler.lowerings import kkt

    traces = []

    @functools.wraps(kkt.qp_interior_point)
    def counted(*args, **kw):
        traces.append(1)
        return counted.__wrapped__(*args, **kw)

    monkeypatch.setattr(kkt, "qp_interior_point", counted)
    x, c = od.Variable(3, name="x"), od.Parameter(3, name="c")
    solve = od.Problem(od.Minimize(od.sum_squares(x - c)), [x >= 0, od.sum(x) == 1]).compile(method="kkt")
    c0 = jnp.asarray([0.5, -0.2, 0.9])
    assert np.allclose(solve(c=c0).x, [0.3, 0.0, 0.7], atol=1e-9) and len(traces) == 1
    # x = c - mean shift on the support {0, 2}: dx_0/dc = (1/2, 0, -1/2)
    assert np.allclose(jax.grad(lambda c: solve(c=c).x[0])(c0), [0.5, 0.0, -0.5], atol=1e-9)
    assert len(traces) == 1


def test_a_geometric_program_traces_its_cone_solver_once_for_a_solve_and_its_gradient(monkeypatch):
    from optdsl.runtime.solvers import conic_diff

    traces = []

    @functools.wraps(conic_diff.SOLVERS["interior_point"])
    def counted(*args, **kw):
        traces.append(1)
        return counted.__wrapped__(*args, **kw)

    monkeypatch.setitem(conic_diff.SOLVERS, "interior_point", counted)
    x, y, a = od.Variable(name="x", pos=True), od.Variable(name="y", pos=True), od.Parameter(name="a", pos=True)
    solve = od.Problem(od.Minimize(x + y), [x * y >= a]).compile(gp=True)
    a0 = jnp.asarray(4.0)
    # x = y = sqrt(a): objective 2 sqrt(a), slope 1 / sqrt(a)
    assert float(solve(a=a0).objective) == pytest.approx(4.0, rel=1e-8) and len(traces) == 1
    assert float(jax.grad(lambda a: solve(a=a).objective)(a0)) == pytest.approx(0.5, rel=1e-7)
    assert len(traces) == 1
