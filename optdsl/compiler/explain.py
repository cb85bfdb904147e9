"""``CompiledProblem.explain()``: the model, the chosen method and its optimality map, in words."""

from __future__ import annotations

from optdsl.compiler.analyze import Structure
from optdsl.compiler.first_order import Lowering


def describe(structure: Structure, lowering: Lowering, *, diff: str, linear_solve: str,
             tol: float | None, maxiter: int | None) -> str:
    """A readable account of what a compiled problem runs."""
    indent = lambda text: "\n".join("  " + line for line in text.splitlines())  # noqa: E731
    sense = "minimised as written" if structure.sense > 0 else "maximised: its negation is minimised"
    if diff == "implicit":
        differentiation = (f"implicit: custom_root on F, linear solve {linear_solve!r}"
                           + (" (symmetric" + (", positive definite)" if lowering.positive_definite else ")")
                              if lowering.symmetric else ""))
    else:
        differentiation = "unrolled through the solver's iterations (for comparisons; slower, less accurate)"
    return "\n".join([
        "model:",
        indent(str(structure.problem)),
        f"objective: {sense}",
        "structure:",
        indent(structure.summary()),
        "variables packed into z:",
        indent(structure.packing.describe() or "(none)"),
        f"method: {lowering.method}",
        f"optimality map: {lowering.map_text}",
        f"solver: {lowering.solver_text}; tol={'default' if tol is None else tol}, "
        f"maxiter={'default' if maxiter is None else maxiter}",
        f"differentiation: {differentiation}",
    ])
