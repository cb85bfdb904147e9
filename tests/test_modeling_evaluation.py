"""Evaluation: leaf lookup, dtypes, shared sub-expressions, jit/vmap/grad, and import hygiene."""

import doctest
import importlib
import pkgutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optdsl as od
import optdsl.modeling
from optdsl.modeling import ModelingError, ShapeError

rng = np.random.default_rng(7)
m, n = 6, 4
A0, b0, x0 = rng.normal(size=(m, n)), rng.normal(size=m), rng.normal(size=n)

x = od.Variable(n, name="x")
A = od.Parameter((m, n), name="A")
b = od.Parameter(m, name="b")
lam = od.Parameter(nonneg=True, name="lam")
objective = 0.5 * od.sum_squares(A @ x - b) + lam * od.norm1(x)


def lasso_value(xv, Av, bv, lv):
    return 0.5 * np.sum((Av @ xv - bv) ** 2) + lv * np.sum(np.abs(xv))


def test_values_by_leaf_or_by_name():
    expected = lasso_value(x0, A0, b0, 0.3)
    by_leaf = objective.evaluate({x: x0, A: A0, b: b0, lam: 0.3})
    by_name = objective.evaluate({"x": x0, "A": A0, "b": b0, "lam": 0.3, "unused": 1.0})
    mixed = objective.evaluate({x: x0, "A": A0, b: b0, "lam": 0.3})
    for value in (by_leaf, by_name, mixed):
        assert isinstance(value, jax.Array)
        np.testing.assert_allclose(value, expected, rtol=1e-12)


@pytest.mark.parametrize(
    "values, error, fragment",
    [
        ({"x": x0, "A": A0, "b": b0}, ModelingError, "evaluate: no value given for parameter 'lam'"),
        ({"x": x0[:3], "A": A0, "b": b0, "lam": 1.0}, ShapeError,
         "evaluate: value for variable 'x' has shape (3,), expected (4,)"),
        ({"x": x0, "A": A0.T, "b": b0, "lam": 1.0}, ShapeError, "has shape (4, 6), expected (6, 4)"),
        ({"x": x0, "A": A0, "b": b0, "lam": 1.0, 3: 1.0}, ModelingError, "keyed by variables, parameters or names"),
    ],
)
def test_evaluation_errors(values, error, fragment):
    with pytest.raises(error) as raised:
        objective.evaluate(values)
    assert fragment in str(raised.value)


def test_same_name_two_leaves_needs_leaf_keys():
    twin = od.Variable(n, name="x")
    expr = od.sum(x) + od.sum(twin)
    with pytest.raises(ModelingError, match="the name 'x' belongs to two different leaves"):
        expr.evaluate({"x": x0})
    assert float(expr.evaluate({x: x0, twin: 2 * x0})) == pytest.approx(3 * x0.sum())


def test_dtypes_follow_the_leaf_values():
    f32 = {x: x0.astype(np.float32), A: A0.astype(np.float32), b: b0.astype(np.float32), lam: 0.3}
    value = objective.evaluate(f32)
    assert value.dtype == jnp.float32  # a Python float for lam does not upcast
    np.testing.assert_allclose(value, lasso_value(x0, A0, b0, 0.3), rtol=1e-5)
    assert objective.evaluate({x: x0, A: A0, b: b0, lam: 0.3}, dtype=jnp.float32).dtype == jnp.float32
    integer = (od.sum(x) / 3).evaluate({x: np.arange(n)})
    assert integer.dtype == jnp.float64 and float(integer) == pytest.approx(2.0)
    constant = (od.Constant([1.0, 2.0]) * 3).evaluate({})
    assert constant.dtype == jnp.float64 and constant.tolist() == [3.0, 6.0]


def test_shared_subexpressions_are_computed_once_and_in_order():
    shared = od.exp(x)
    left = od.sum(shared) + od.log_sum_exp(shared)
    expr = left * 2 + od.sum(od.square(shared)) + left
    jaxpr = jax.make_jaxpr(lambda v: expr.evaluate({x: v}))(x0)
    assert str(jaxpr).count(" exp ") == 1 + 1  # exp(x) once; log_sum_exp has its own exp inside
    e = np.exp(x0)
    reference = np.sum(e) + np.log(np.sum(np.exp(e)))
    np.testing.assert_allclose(expr.evaluate({x: x0}), 3 * reference + np.sum(e**2), rtol=1e-12)


def test_jit_vmap_grad():
    def value(xv, bv, lv):
        return objective.evaluate({x: xv, A: A0, b: bv, lam: lv})

    jitted = jax.jit(value)
    np.testing.assert_allclose(jitted(x0, b0, 0.3), lasso_value(x0, A0, b0, 0.3), rtol=1e-12)

    batch = rng.normal(size=(5, m))
    batched = jax.vmap(value, in_axes=(None, 0, None))(x0, batch, 0.3)
    np.testing.assert_allclose(batched, [lasso_value(x0, A0, bb, 0.3) for bb in batch], rtol=1e-12)

    gradient = jax.grad(value)(x0, b0, 0.3)
    np.testing.assert_allclose(gradient, A0.T @ (A0 @ x0 - b0) + 0.3 * np.sign(x0), rtol=1e-10)
    dlam = jax.grad(value, argnums=2)(x0, b0, 0.3)
    assert float(dlam) == pytest.approx(np.sum(np.abs(x0)), rel=1e-12)

    per_example = jax.jit(jax.vmap(jax.grad(value), in_axes=(0, None, None)))(batch[:, :n], b0, 0.3)
    expected = [A0.T @ (A0 @ xx - b0) + 0.3 * np.sign(xx) for xx in batch[:, :n]]
    np.testing.assert_allclose(per_example, expected, rtol=1e-10)


def test_constraint_sides_evaluate_for_the_compiler():
    constraint = od.norm2(x) <= lam * 3
    residual = constraint.lhs.evaluate({x: x0}) - constraint.rhs.evaluate({lam: 1.0})
    assert float(residual) == pytest.approx(np.linalg.norm(x0) - 3)


def test_modeling_imports_neither_compiler_nor_grammar():
    code = (
        "import sys, optdsl.modeling, optdsl\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('optdsl.compiler', 'optdsl.grammar')))\n"
        "assert not bad, bad\n"
        "print('clean')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"


def test_docstring_examples_run():
    failures = attempts = 0
    for info in pkgutil.walk_packages(optdsl.modeling.__path__, "optdsl.modeling."):
        result = doctest.testmod(importlib.import_module(info.name), verbose=False)
        failures += result.failed
        attempts += result.attempted
    result = doctest.testmod(optdsl.modeling)
    assert failures + result.failed == 0
    assert attempts + result.attempted >= 200  # every user-facing function has an example


def test_public_names_are_exported_at_the_top_level():
    for name in optdsl.modeling.__all__:
        assert getattr(od, name) is getattr(optdsl.modeling, name)
    assert od.__version__ == "0.1.0"
