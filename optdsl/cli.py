"""The ``optdsl`` command: solve, check, differentiate and render ``.opt`` models.

    optdsl solve MODEL --data DATA [--method M] [--json]
    optdsl check MODEL [--data DATA | --dim NAME=SIZE ...]
    optdsl grad  MODEL --data DATA --of EXPR --wrt PARAM [--method M] [--json]
    optdsl latex MODEL [--data DATA | --dim NAME=SIZE ...]

``DATA`` is a ``.npz`` or ``.json`` file of parameter values by name; dims are
bound from their shapes. Errors print the located message and exit with 1; so does a
solve that ends with a status other than ``solved`` (one line on stderr, after the report).
``--json`` output is strict JSON: non-finite numbers are ``null``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import optdsl
from optdsl.errors import OptDSLError


def _load_data(path: str | None) -> dict[str, np.ndarray]:
    if path is None:
        return {}
    suffix = Path(path).suffix
    if suffix == ".npz":
        with np.load(path) as archive:
            return {k: np.asarray(archive[k]) for k in archive.files}
    if suffix == ".json":
        with open(path) as f:
            return {k: np.asarray(v, dtype=float) for k, v in json.load(f).items()}
    raise OptDSLError(f"{path}: data files are .npz or .json, not {suffix or 'without a suffix'!r}")


def _dims(pairs: Sequence[str]) -> dict[str, int]:
    dims = {}
    for pair in pairs:
        name, _, size = pair.partition("=")
        if not size.isdigit():
            raise OptDSLError(f"--dim expects NAME=SIZE with a whole number, got {pair!r}")
        dims[name] = int(size)
    return dims


def _problem(args: argparse.Namespace):
    from optdsl.grammar import load

    data = _load_data(getattr(args, "data", None))
    problem = load(args.model, data=data, **_dims(getattr(args, "dim", []) or []))
    return problem, data


def _parameters(problem, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {p.name: data[p.name] for p in problem.parameters() if p.name in data}


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
    solve = problem.compile(method=args.method)
    sol = solve(_parameters(problem, data))
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
        print(f"constraint {name}: {constraint}  ({'DCP' if constraint.is_dcp() else 'not DCP'})")
    violations = problem.dcp_violations()
    if violations:
        print("not DCP:\n" + "\n".join(f"  {v}" for v in violations))
        return 1
    print("DCP: yes")
    problem.compile(method=args.method).explain()
    return 0


def _expression(problem, text: str, data: dict[str, np.ndarray]):
    """``text`` (``.opt`` expression syntax) over the model's variables and parameters."""
    from optdsl.grammar import parse

    source, constants = problem.to_opt(with_data=True)
    lines = source.splitlines()
    head = lines[:next(i for i, line in enumerate(lines) if line.startswith(("minimize", "maximize")))]
    probe = parse("\n".join([*head, f"minimize {text}"]), filename="<--of>", data={**data, **constants})
    return probe.objective.expr, constants


def _grad(args: argparse.Namespace) -> int:
    import jax
    import jax.numpy as jnp

    from optdsl.runtime.status import describe

    problem, data = _problem(args)
    params = {k: jnp.asarray(v) for k, v in _parameters(problem, data).items()}
    if args.wrt not in params:
        raise OptDSLError(f"--wrt {args.wrt!r} is not a parameter with data; parameters: {sorted(params)}")
    of, constants = _expression(problem, args.of, data)
    if of.shape != ():
        raise OptDSLError(f"--of must be a scalar expression; {args.of!r} has shape {of.shape}")
    solve = problem.compile(method=args.method)

    def value(theta):
        p = {**params, args.wrt: theta}
        sol = solve(p)
        return of.evaluate({**p, **sol.values, **constants}), sol.status

    (of_value, status), grad = jax.value_and_grad(value, has_aux=True)(params[args.wrt])
    status_name = describe(int(status))
    solved = status_name == "solved"
    if args.json:
        print(json.dumps({"of": args.of, "wrt": args.wrt, "status": status_name, "method": solve.method,
                          "value": _jsonable(of_value), "gradient": _jsonable(grad) if solved else None},
                         indent=2, allow_nan=False))
    elif solved:
        print(f"d({args.of})/d({args.wrt}) = {np.array2string(np.asarray(grad), precision=10)}")
    if not solved:
        return _not_solved("grad", status_name, "no gradient of an uncertified solution")
    return 0


def _latex(args: argparse.Namespace) -> int:
    problem, _ = _problem(args)
    print(problem.to_latex())
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optdsl", description="Solve and differentiate .opt models.")
    parser.add_argument("--version", action="version", version=f"optdsl {optdsl.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, handler, help_text: str, data_required: bool) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("model", help="the .opt model file")
        sub.add_argument("--data", required=data_required, help="parameter values (.npz or .json)")
        sub.set_defaults(handler=handler)
        return sub

    solve = command("solve", _solve, "solve a model and print status, objective and variables", True)
    solve.add_argument("--method", help="override the compiler's choice of optimality map")
    solve.add_argument("--json", action="store_true", help="print JSON")
    check = command("check", _check, "print curvature, the chosen method and the optimality map", False)
    check.add_argument("--dim", action="append", help="NAME=SIZE for a dim without data")
    check.add_argument("--method", help="override the compiler's choice of optimality map")
    grad = command("grad", _grad, "print the gradient of a function of the solution", True)
    grad.add_argument("--of", required=True, help="a scalar expression of variables and parameters")
    grad.add_argument("--wrt", required=True, help="the parameter to differentiate with respect to")
    grad.add_argument("--method", help="override the compiler's choice of optimality map")
    grad.add_argument("--json", action="store_true", help="print JSON")
    latex = command("latex", _latex, "print the model as LaTeX", False)
    latex.add_argument("--dim", action="append", help="NAME=SIZE for a dim without data")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0 success, 1 error or unsolved, 2 usage)."""
    args = _parser().parse_args(argv)  # --help and --version end here, before JAX is imported
    import jax

    jax.config.update("jax_enable_x64", True)
    try:
        return args.handler(args)
    except (OptDSLError, OSError) as error:
        print(f"optdsl {args.command}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
