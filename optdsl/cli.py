"""The ``optdsl`` command: solve, check, differentiate and render ``.opt`` models.

    optdsl solve MODEL --data DATA [COMPILE OPTIONS] [--json]
    optdsl check MODEL [--data DATA | --dim NAME=SIZE ...] [COMPILE OPTIONS]
    optdsl grad  MODEL --data DATA --of EXPR --wrt PARAM [COMPILE OPTIONS] [--json]
    optdsl latex MODEL [--data DATA | --dim NAME=SIZE ...]

``COMPILE OPTIONS`` are ``--method``, ``--solver``, ``--tol`` and ``--maxiter``, passed to
``Problem.compile``. ``DATA`` is a ``.npz`` or ``.json`` file of parameter values by name
(see ``optdsl.cli_input``); dims are bound from their shapes. Every error prints the
message, starting with the file and line:column it is about (``--of`` for the expression),
on stderr and exits with 1, never a traceback; so does a solve that ends with a status other
than ``solved`` (one line on stderr, after the report). Bad usage exits with 2.
``--json`` output is strict JSON: non-finite numbers are ``null``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

import optdsl
from optdsl.cli_input import DataFileError, read_data
from optdsl.errors import ArgumentError, OptDSLError, ParameterError, SolverWarning


def _dims(pairs: Sequence[str]) -> dict[str, int]:
    dims: dict[str, int] = {}
    for pair in pairs:
        name, _, size = pair.partition("=")
        if not (size.isascii() and size.isdigit() and len(size) <= 18):
            raise ArgumentError(f"--dim expects NAME=SIZE with a whole number, got {pair!r}")
        if name in dims:
            raise ArgumentError(f"--dim {name} is given twice")
        dims[name] = int(size)
    return dims


def _problem(args: argparse.Namespace):
    from optdsl.grammar import load

    data = {} if getattr(args, "data", None) is None else read_data(args.data)
    problem = load(args.model, data=data, **_dims(getattr(args, "dim", []) or []))
    return problem, data


def _compile(problem, args: argparse.Namespace):
    """``problem.compile`` with the command's compile options (those given)."""
    options = {name: getattr(args, name, None) for name in ("method", "solver", "tol", "maxiter")}
    options["verbose"] = getattr(args, "verbose", False) or None
    return problem.compile(**{name: value for name, value in options.items() if value is not None})


@contextlib.contextmanager
def _values_from(path: str | None) -> Iterator[None]:
    """A parameter value the compiled problem refuses (missing, mis-shaped, outside its domain) is the data file's."""
    try:
        yield
    except ParameterError as error:
        if path is None:
            raise
        raise DataFileError(f"{path}: {error}") from None


def _parameters(problem, data: dict[str, np.ndarray], path: str | None) -> dict[str, np.ndarray]:
    """The data of every parameter of ``problem``; a ``DataFileError`` naming those the file lacks (an
    ``ArgumentError`` when no file was given)."""
    names = [p.name for p in problem.parameters()]
    missing = [name for name in names if name not in data]
    if missing and path is None:
        raise ArgumentError(f"the model has params {names}: give their values with --data FILE (.npz or .json)")
    if missing:
        raise DataFileError(f"{path}: missing parameters {missing} (the model's parameters are {names})")
    return {name: data[name] for name in names}


def _jsonable(value: Any) -> Any:
    """``value`` as JSON data: a number or nested lists of its shape, non-finite entries as ``null``.

    JSON has no NaN or Infinity; an infeasible or unbounded solve can return them.
    """
    array = np.asarray(value)
    entries = array.astype(object)
    entries[~np.isfinite(array)] = None
    return entries.tolist()


def _not_solved(command: str, status: str, reason: str) -> int:
    """Say in one line on stderr that the solve did not succeed; the exit status 1."""
    print(f"optdsl {command}: the solve ended with status {status}: {reason}", file=sys.stderr)
    return 1


def _solve(args: argparse.Namespace) -> int:
    problem, data = _problem(args)
    solve = _compile(problem, args)
    with _values_from(args.data):
        sol = solve(_parameters(problem, data, args.data))
    report = {"status": sol.status_name(), "method": solve.method, "objective": _jsonable(sol.objective),
              "iterations": _jsonable(sol.iterations), "residual": _jsonable(sol.residual),
              "primal_violation": _jsonable(sol.primal_violation),
              "variables": {k: _jsonable(v) for k, v in sol.values.items()},
              "duals": {k: _jsonable(v) for k, v in sol.duals.items()}}
    if args.json:
        print(json.dumps(report, indent=2, allow_nan=False))
    else:
        print(f"status: {report['status']} ({report['iterations']} iterations, residual {float(sol.residual):.2e}, "
              f"constraint violation {float(sol.primal_violation):.1e}, method {solve.method})")
        print(f"objective: {float(sol.objective):.10g}")
        for name, value in sol.values.items():
            print(f"{name} = {np.array2string(np.asarray(value), precision=8)}")
        for name, value in sol.duals.items():
            print(f"dual {name} = {np.array2string(np.asarray(value), precision=8)}")
    if report["status"] != "solved":
        return _not_solved("solve", report["status"], f"constraint violation {float(sol.primal_violation):.1e}, "
                                                     f"optimality residual {float(sol.residual):.1e}")
    return 0


def _check(args: argparse.Namespace) -> int:
    problem, _ = _problem(args)
    print(f"objective: {problem.objective.sense} {problem.objective.expr}  "
          f"(curvature {problem.objective.expr.curvature.value})")
    for name, constraint in problem.named_constraints().items():
        print(f"constraint {name}: {constraint.body()}  ({'DCP' if constraint.is_dcp() else 'not DCP'})")
    violations = problem.dcp_violations()
    if violations:
        print("not DCP:\n" + "\n".join(f"  {v}" for v in violations))
        return 1
    print("DCP: yes")
    print(_compile(problem, args).explain())
    return 0


def _grad(args: argparse.Namespace) -> int:
    import jax
    import jax.numpy as jnp

    from optdsl.grammar import parse_expression
    from optdsl.runtime.dtypes import float_dtype
    from optdsl.runtime.status import describe

    problem, data = _problem(args)
    params = {k: jnp.asarray(v) for k, v in _parameters(problem, data, args.data).items()}
    if args.wrt not in params:
        raise ArgumentError(f"--wrt {args.wrt!r} is not a parameter with data; parameters: {sorted(params)}")
    of = parse_expression(args.of, problem, filename="--of")
    if of.shape != ():
        raise ArgumentError(f"--of must be a scalar expression; {args.of!r} has shape {of.shape}")
    solve = _compile(problem, args)

    def value(theta):
        p = {**params, args.wrt: theta}
        sol = solve(p)
        return of.evaluate({**p, **sol.values}), sol.status

    with _values_from(args.data):
        # Checked here, concretely: under differentiation a value outside its domain is only a status.
        solve.domains.check(params, float_dtype(*params.values()))
        (of_value, status), grad = jax.value_and_grad(value, has_aux=True)(params[args.wrt])
    status_name = describe(int(status))
    solved = status_name == "solved"
    finite = bool(np.isfinite(of_value)) and bool(np.all(np.isfinite(grad)))
    if args.json:
        print(json.dumps({"of": args.of, "wrt": args.wrt, "status": status_name, "method": solve.method,
                          "value": _jsonable(of_value), "gradient": _jsonable(grad) if solved else None},
                         indent=2, allow_nan=False))
    elif solved:
        print(f"d({args.of})/d({args.wrt}) = {np.array2string(np.asarray(grad), precision=10)}")
    if not solved:
        return _not_solved("grad", status_name, "no gradient of an uncertified solution")
    if not finite:
        print(f"optdsl grad: {args.of} or its gradient is not finite at the solution (outside the expression's "
              "domain there)", file=sys.stderr)
        return 1
    return 0


def _latex(args: argparse.Namespace) -> int:
    problem, _ = _problem(args)
    print(problem.to_latex())
    return 0


class _Methods:
    """The compiler's ``method`` names as argparse choices, imported (with JAX) only when help or a check reads them.

    With a ``metavar``, building the parser does not read them: ``optdsl --version`` stays free of JAX.
    """

    def __iter__(self) -> Iterator[str]:
        from optdsl.compiler.compile import METHODS

        return iter(METHODS)

    def __contains__(self, name: object) -> bool:
        return name in tuple(self)


def _positive(kind: type) -> Callable[[str], Any]:
    """An argparse type: a finite number of ``kind`` greater than 0."""
    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"expected a positive {'whole ' if kind is int else ''}number, "
                                             f"got {text!r}")
        return value

    return convert


def _compile_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--method", choices=_Methods(), metavar="METHOD",
                     help="the optimality map, one of %(choices)s (default: the compiler's choice)")
    sub.add_argument("--solver", help="the forward solver for the method (default: the method's first)")
    sub.add_argument("--tol", type=_positive(float), help="the solver's tolerance (default: set by the dtype)")
    sub.add_argument("--maxiter", type=_positive(int), help="the solver's iteration limit")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optdsl", description="Solve and differentiate .opt models.")
    parser.add_argument("--version", action="version", version=f"optdsl {optdsl.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("model", help="the .opt model file")
        sub.add_argument("--data", help="parameter values (.npz or .json); needed where the model has params")
        sub.add_argument("--dim", action="append", help="NAME=SIZE for a dim no param's data sizes")
        sub.set_defaults(handler=handler)
        return sub

    solve = command("solve", _solve, "solve a model and print status, objective and variables")
    _compile_options(solve)
    solve.add_argument("-v", "--verbose", action="store_true", help="print the solver's iterations")
    solve.add_argument("--json", action="store_true", help="print JSON")
    check = command("check", _check, "print curvature, the chosen method and the optimality map")
    _compile_options(check)
    grad = command("grad", _grad, "print the gradient of a function of the solution")
    grad.add_argument("--of", required=True, help="a scalar expression of variables and parameters")
    grad.add_argument("--wrt", required=True, help="the parameter to differentiate with respect to")
    _compile_options(grad)
    grad.add_argument("-v", "--verbose", action="store_true", help="print the solver's iterations")
    grad.add_argument("--json", action="store_true", help="print JSON")
    command("latex", _latex, "print the model as LaTeX")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0 success, 1 error or unsolved, 2 usage)."""
    args = _parser().parse_args(argv)  # optdsl --help and --version end here, before JAX is imported
    import jax

    jax.config.update("jax_enable_x64", True)
    try:
        with warnings.catch_warnings():  # an unsolved answer is reported by the command itself, in one line
            warnings.simplefilter("ignore", SolverWarning)
            return args.handler(args)
    except (OptDSLError, OSError) as error:
        print(f"optdsl {args.command}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
