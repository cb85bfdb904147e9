"""``CompiledProblem.explain()``: the model, the chosen method and its optimality map, in words."""

from __future__ import annotations

from optdsl.compiler.analyze import Structure


def describe(structure: Structure, *, method: str, map_text: str, solver_text: str, differentiation: str,
             tol: float | None, maxiter: int | None) -> str:
    """A readable account of what a compiled problem runs."""
    indent = lambda text: "\n".join("  " + line for line in text.splitlines())  # noqa: E731
    sense = "minimised as written" if structure.sense > 0 else "maximised: its negation is minimised"
    return "\n".join([
        "model:",
        indent(str(structure.problem)),
        f"objective: {sense}",
        "structure:",
        indent(structure.summary()),
        "variables packed into z:",
        indent(structure.packing.describe() or "(none)"),
        f"method: {method}",
        f"optimality map: {map_text}",
        f"solver: {solver_text}; tol={'default' if tol is None else tol}, "
        f"maxiter={'default' if maxiter is None else maxiter}",
        f"differentiation: {differentiation}",
    ])
