"""One exception tree: every error optdsl raises on purpose is an ``OptDSLError``, exported and documented."""

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import jax.numpy as jnp
import pytest

import optdsl as od

ROOT = Path(od.__file__).parent
DOCS = ROOT.parent / "docs"
#: Built-in exceptions optdsl code must not raise directly (it raises its own subclasses of them).
BUILTINS = {"ValueError", "TypeError", "KeyError", "IndexError", "RuntimeError", "LookupError", "Exception"}


def _modules():
    for info in pkgutil.walk_packages([str(ROOT)], prefix="optdsl."):
        yield importlib.import_module(info.name)


def _error_classes():
    found = {}
    for module in _modules():
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__.startswith("optdsl"):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


def test_every_optdsl_exception_class_derives_from_optdsl_error():
    classes = _error_classes()
    assert len(classes) >= 15
    assert [name for name, cls in classes.items() if not issubclass(cls, od.OptDSLError)] == []


def test_no_module_raises_a_bare_builtin_exception():
    offenders = []
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(target, ast.Name) and target.id in BUILTINS:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} raises {target.id}")
    assert offenders == []


def test_the_top_level_exports_every_error_root_and_the_docs_list_them():
    exported = [name for name in od.__all__ if name.endswith("Error")]
    for name in exported:
        assert issubclass(getattr(od, name), od.OptDSLError), name
    assert {"OptDSLError", "ArgumentError", "ParameterError", "CompileError", "ModelingError", "ShapeError",
            "DCPError", "OptSyntaxError", "InteropError", "ClosureError", "UnknownNameError",
            "EmptySetError"} <= set(exported)
    api = (DOCS / "api.md").read_text()
    for module in {getattr(od, name).__module__ for name in exported}:
        assert f"::: {module}" in api, module


def test_errors_keep_the_builtin_base_callers_expect():
    x = od.Variable(2, name="x")
    lam = od.Parameter(nonneg=True, name="lam")
    solve = od.Problem(od.Minimize(od.sum_squares(x) + lam * od.sum(x))).compile()
    with pytest.raises(ValueError, match=r"missing parameters \['lam'\]"):
        solve()
    with pytest.raises(od.ParameterError, match="complex dtype"):
        solve(lam=1j)
    sol = solve(lam=1.0)
    with pytest.raises(KeyError, match="no variable named 'y'"):
        sol["y"]
    with pytest.raises(od.UnknownNameError, match="no dual for constraint"):
        sol.dual("c0")
    with pytest.raises(TypeError, match="floating"):
        od.runtime.solvers.newton(lambda z, p: jnp.sum(z ** 2), jnp.zeros(2, int))


@pytest.mark.parametrize("options, error, message", [
    ({"maxiter": 0}, od.ArgumentError, "maxiter must be an int >= 1, got 0"),
    ({"maxiter": 2.5}, od.ArgumentError, "maxiter must be an int >= 1, got 2.5"),
    ({"tol": -1}, od.ArgumentError, "tol must be a positive number, got -1"),
    ({"tol": "a"}, od.ArgumentError, "tol must be a positive number, got 'a'"),
    ({"foo": 1}, od.ArgumentTypeError, "compile: unknown options ['foo']"),
])
def test_bad_compile_options_are_refused_when_compiling(options, error, message):
    x, c = od.Variable(3, name="x"), od.Parameter(3, name="c")
    with pytest.raises(error) as raised:
        od.Problem(od.Minimize(od.sum_squares(x - c) + od.norm1(x))).compile(**options)
    assert message in str(raised.value)


def test_modeling_and_call_mistakes_are_typed_errors_that_say_what_is_wrong():
    x, c = od.Variable(3, name="x"), od.Parameter(3, name="c")
    with pytest.raises(od.ModelingError, match="slice step cannot be zero"):
        x[::0]
    with pytest.raises(od.CompileError, match=r"variables without entries: y \(0,\)"):
        od.Problem(od.Minimize(od.sum_squares(od.Variable(0, name="y") - 1) + od.sum_squares(x))).compile()
    solve = od.Problem(od.Minimize(od.sum_squares(x - c) + od.norm1(x))).compile()
    for init in (jnp.ones(3), {"x": jnp.ones(3)}):
        with pytest.raises(od.ArgumentTypeError, match="init must be a Solution a previous call returned"):
            solve(c=jnp.ones(3), init=init)
