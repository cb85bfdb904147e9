"""Every atom and operator evaluates like a numpy/scipy reference, and its JAX gradient matches
central finite differences of that reference at generic points (float64); float32 stays float32."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special

import optdsl as od

rng = np.random.default_rng(20240611)


def real(*shape):
    return rng.normal(size=shape)


def positive(*shape):
    return rng.uniform(0.5, 2.0, size=shape)


def spd(n):
    m = rng.normal(size=(n, n))
    return m @ m.T + n * np.eye(n)


# name -> (build(*variables) -> expression, reference(*arrays) -> array, inputs)
CASES = {
    # atoms
    "sum_squares": (od.sum_squares, lambda x: np.sum(x**2), [real(2, 3)]),
    "square": (od.square, np.square, [real(4)]),
    "abs": (od.abs, np.abs, [real(2, 2)]),
    "norm1": (od.norm1, lambda x: np.sum(np.abs(x)), [real(5)]),
    "norm1 axis=1": (lambda x: od.norm1(x, axis=1), lambda x: np.sum(np.abs(x), axis=1), [real(2, 3)]),
    "norm2": (od.norm2, np.linalg.norm, [real(4)]),
    "norm2 axis=0 keepdims": (lambda x: od.norm2(x, axis=0, keepdims=True),
                              lambda x: np.linalg.norm(x, axis=0, keepdims=True), [real(3, 2)]),
    "norm fro": (lambda x: od.norm(x, "fro"), lambda x: np.linalg.norm(x, "fro"), [real(2, 3)]),
    "norm_inf": (od.norm_inf, lambda x: np.max(np.abs(x)), [real(5)]),
    "pnorm 3": (lambda x: od.pnorm(x, 3), lambda x: np.sum(np.abs(x) ** 3) ** (1 / 3), [real(4)]),
    "pnorm 1.5 axis=1": (lambda x: od.pnorm(x, 1.5, axis=1),
                         lambda x: np.sum(np.abs(x) ** 1.5, axis=1) ** (1 / 1.5), [real(2, 3)]),
    "quad_form": (lambda x, P: od.quad_form(x, P), lambda x, P: x @ P @ x, [real(3), spd(3)]),
    "quad_over_lin": (od.quad_over_lin, lambda x, y: np.sum(x**2) / y, [real(2, 2), positive()]),
    "exp": (od.exp, np.exp, [real(3)]),
    "log": (od.log, np.log, [positive(3)]),
    "log_sum_exp": (od.log_sum_exp, scipy.special.logsumexp, [real(4)]),
    "log_sum_exp axis=1": (lambda x: od.log_sum_exp(x, axis=1),
                           lambda x: scipy.special.logsumexp(x, axis=1), [real(2, 3)]),
    "logistic": (od.logistic, lambda x: np.logaddexp(0, x), [3 * real(4)]),
    "entropy": (od.entropy, scipy.special.entr, [positive(4)]),
    "kl_div": (od.kl_div, scipy.special.kl_div, [positive(3), positive(3)]),
    "kl_div broadcast": (od.kl_div, scipy.special.kl_div, [positive(2, 3), positive(3)]),
    "rel_entr": (od.rel_entr, scipy.special.rel_entr, [positive(3), positive(3)]),
    "huber": (od.huber, lambda x: 2 * scipy.special.huber(1.0, x), [2 * real(6)]),
    "huber M=0.7": (lambda x: od.huber(x, 0.7), lambda x: 2 * scipy.special.huber(0.7, x), [2 * real(6)]),
    "pos": (od.pos, lambda x: np.maximum(x, 0), [real(5)]),
    "neg": (od.neg, lambda x: np.maximum(-x, 0), [real(5)]),
    "maximum": (od.maximum, lambda a, b, c: np.maximum(np.maximum(a, b), c), [real(3), real(3), real(3)]),
    "maximum broadcast": (lambda a, b: od.maximum(a, b, 0.1), lambda a, b: np.maximum(np.maximum(a, b), 0.1),
                          [real(2, 3), real(3)]),
    "minimum": (od.minimum, np.minimum, [real(2, 2), real(2, 2)]),
    "max": (od.max, np.max, [real(5)]),
    "max axis=0": (lambda x: od.max(x, axis=0), lambda x: np.max(x, axis=0), [real(3, 2)]),
    "min": (od.min, np.min, [real(5)]),
    "min axis=-1 keepdims": (lambda x: od.min(x, axis=-1, keepdims=True),
                             lambda x: np.min(x, axis=-1, keepdims=True), [real(3, 2)]),
    "sqrt": (od.sqrt, np.sqrt, [positive(4)]),
    "power 2": (lambda x: x**2, lambda x: x**2, [real(3)]),
    "power 3": (lambda x: od.power(x, 3), lambda x: x**3, [positive(3)]),
    "power 0.5": (lambda x: x**0.5, np.sqrt, [positive(3)]),
    "power -1.5": (lambda x: x**-1.5, lambda x: x**-1.5, [positive(3)]),
    "power 1": (lambda x: x**1, lambda x: x, [real(3)]),
    "inv_pos": (od.inv_pos, lambda x: 1 / x, [positive(4)]),
    "log_det": (od.log_det, lambda X: np.linalg.slogdet((X + X.T) / 2)[1], [spd(3)]),
    "lambda_max": (od.lambda_max, lambda X: np.linalg.eigvalsh((X + X.T) / 2)[-1], [real(3, 3)]),
    "matrix_frac": (od.matrix_frac, lambda x, P: x @ np.linalg.solve(P, x), [real(3), spd(3)]),
    "matrix_frac matrix": (od.matrix_frac, lambda X, P: np.trace(X.T @ np.linalg.solve(P, X)), [real(3, 2), spd(3)]),
    "sin": (od.sin, np.sin, [real(4)]),
    "cos": (od.cos, np.cos, [real(4)]),
    "tanh": (od.tanh, np.tanh, [real(4)]),
    "sigmoid": (od.sigmoid, scipy.special.expit, [3 * real(4)]),
    # operators
    "add broadcast": (lambda a, b: a + b, lambda a, b: a + b, [real(2, 3), real(3)]),
    "subtract": (lambda a, b: a - b - 1, lambda a, b: a - b - 1, [real(3), real()]),
    "negate": (lambda a: -a, lambda a: -a, [real(3)]),
    "multiply": (lambda a, b: a * b, lambda a, b: a * b, [real(2, 1), real(3)]),
    "divide": (lambda a, b: a / b, lambda a, b: a / b, [real(3), positive(3)]),
    "matmul": (lambda A, x: A @ x, lambda A, x: A @ x, [real(2, 3), real(3)]),
    "vector @ matrix": (lambda x, B: x @ B, lambda x, B: x @ B, [real(2), real(2, 3)]),
    "index": (lambda X: X[1:, [0, 2]], lambda X: X[1:, [0, 2]], [real(3, 3)]),
    "index int": (lambda X: X[-1, 1], lambda X: X[-1, 1], [real(2, 3)]),
    "transpose": (lambda X: X.T @ np.arange(2.0), lambda X: X.T @ np.arange(2.0), [real(2, 3)]),
    "sum axis": (lambda X: X.sum(axis=0), lambda X: X.sum(axis=0), [real(2, 3)]),
    "mean": (od.mean, np.mean, [real(2, 3)]),
    "mean axis=1": (lambda X: od.mean(X, axis=1), lambda X: np.mean(X, axis=1), [real(2, 3)]),
    "reshape": (lambda X: od.reshape(X, (3, 2)), lambda X: np.reshape(X, (3, 2)), [real(2, 3)]),
    "hstack": (lambda a, b: od.hstack([a, b, 1.0]), lambda a, b: np.hstack([a, b, 1.0]), [real(2), real(3)]),
    "vstack": (lambda a, B: od.vstack([a, B]), lambda a, B: np.vstack([a, B]), [real(3), real(2, 3)]),
    "concatenate": (lambda A, B: od.concatenate([A, B], axis=1), lambda A, B: np.concatenate([A, B], axis=1),
                    [real(2, 1), real(2, 3)]),
    "diag vector": (od.diag, np.diag, [real(3)]),
    "diag matrix": (od.diag, np.diag, [real(2, 3)]),
    "trace": (od.trace, np.trace, [real(3, 3)]),
    "cumsum": (lambda X: od.cumsum(X, axis=1), lambda X: np.cumsum(X, axis=1), [real(2, 3)]),
}


def evaluate(name, arrays):
    build, _, _ = CASES[name]
    variables = [od.Variable(np.shape(a)) for a in arrays]
    return build(*variables).evaluate(dict(zip(variables, arrays)))


@pytest.mark.parametrize("name", list(CASES))
def test_value_matches_reference(name):
    _, reference, inputs = CASES[name]
    value = evaluate(name, inputs)
    expected = reference(*inputs)
    assert value.shape == np.shape(expected) and value.dtype == jnp.float64
    np.testing.assert_allclose(value, expected, rtol=1e-10, atol=1e-12)


def finite_difference(function, arrays, index, step=1e-6):
    """Central differences of the scalar ``function(*arrays)`` with respect to ``arrays[index]``."""
    base = np.asarray(arrays[index], dtype=np.float64)
    gradient = np.zeros_like(base)
    for position in np.ndindex(base.shape):
        h = step * max(1.0, abs(base[position]))
        values = []
        for sign in (1, -1):
            shifted = base.copy()
            shifted[position] += sign * h
            values.append(function(*arrays[:index], shifted, *arrays[index + 1 :]))
        gradient[position] = (values[0] - values[1]) / (2 * h)
    return gradient


@pytest.mark.parametrize("name", list(CASES))
def test_gradient_matches_finite_differences(name):
    _, reference, inputs = CASES[name]
    weights = rng.normal(size=np.shape(reference(*inputs)))

    def scalar(*arrays):
        return jnp.sum(weights * evaluate(name, arrays))

    gradients = jax.grad(scalar, argnums=tuple(range(len(inputs))))(*map(jnp.asarray, inputs))
    for index, gradient in enumerate(gradients):
        expected = finite_difference(lambda *a: np.sum(weights * reference(*a)), inputs, index)
        np.testing.assert_allclose(gradient, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["sum_squares", "norm2", "log_sum_exp", "huber M=0.7", "entropy", "kl_div",
                                  "quad_form", "log_det", "matrix_frac", "power -1.5", "divide", "mean"])
def test_float32_in_float32_out(name):
    _, reference, inputs = CASES[name]
    value = evaluate(name, [np.asarray(a, dtype=np.float32) for a in inputs])
    assert value.dtype == jnp.float32
    np.testing.assert_allclose(value, reference(*inputs), rtol=2e-4, atol=1e-5)


def test_norms_have_zero_gradient_at_the_origin():
    x = od.Variable(3)
    for expr in (od.norm2(x), od.pnorm(x, 3), od.norm2(od.reshape(x, (3, 1)), axis=1).sum()):
        gradient = jax.grad(lambda v, e=expr: e.evaluate({x: v}))(jnp.zeros(3))
        np.testing.assert_array_equal(gradient, np.zeros(3))


def test_domain_edges():
    x = od.Variable(3)
    np.testing.assert_array_equal(od.entropy(x).evaluate({x: np.array([0.0, 1.0, -1.0])}), [0.0, 0.0, -np.inf])
    X = od.Variable((2, 2))
    assert od.log_det(X).evaluate({X: -np.diag([1.0, 2.0])}) == -np.inf  # det > 0 but not positive definite
    assert od.log_det(X).evaluate({X: np.diag([1.0, -2.0])}) == -np.inf


def test_pnorm_dispatches_to_named_norms():
    x = od.Variable(3)
    assert type(od.pnorm(x, 1)) is od.modeling.atoms.Norm1
    assert type(od.pnorm(x, 2)) is od.modeling.atoms.Norm2
    assert type(od.pnorm(x, np.inf)) is od.modeling.atoms.NormInf
    assert type(od.norm(x, "inf")) is od.modeling.atoms.NormInf
    assert type(od.norm(x)) is od.modeling.atoms.Norm2
    assert type(od.norm(x, 4)) is od.modeling.atoms.Pnorm


@pytest.mark.parametrize(
    "build, fragment",
    [
        (lambda x: od.pnorm(x, 0.5), "pnorm: p must be a number >= 1"),
        (lambda x: od.norm(x, "max"), "norm: p must be a number >= 1, 'inf', 'fro' or 'nuc'"),
        (lambda x: od.norm(x, "nuc"), "normNuc: shape (3,) is not a matrix"),
        (lambda x: od.norm(od.reshape(x, (1, 3)) * np.ones((3, 1)), 3), "norm: matrix norm p=3"),
        (lambda x: od.norm(x, "fro", axis=0), "takes no axis"),
        (lambda x: od.huber(x, -1), "huber: M must be a positive number"),
        (lambda x: od.huber(x, x), "huber: M must be a real number"),
        (lambda x: x**0, "power: the exponent must be a finite nonzero number"),
        (lambda x: x**x, "power: the exponent p must be a real number"),
        (lambda x: 2**x, "power: the exponent must be a constant number"),
    ],
)
def test_bad_atom_settings(build, fragment):
    with pytest.raises(od.ModelingError) as error:
        build(od.Variable(3, name="x"))
    assert fragment in str(error.value)
