"""``CompiledProblem.explain()``: the model, the chosen method and why, and its optimality map, in words.

Why a method was chosen is decided once, with the choice (``compiler.compile.choose_lowering``,
which sets ``lowering.reason``); this module only prints it.
"""

from __future__ import annotations

import jax.numpy as jnp

from optdsl.compiler.lowerings import Lowering


def _tol_text(lowering: Lowering) -> str:
    """``tol`` as given, or the dtype-dependent default it stands for."""
    tol = lowering.options.tol
    if tol is not None:
        return f"{tol:g}"
    return (f"{lowering.default_tol(jnp.float64):g} in float64, {lowering.default_tol(jnp.float32):.2g} in float32 "
            "(the default)")


def describe(lowering: Lowering) -> str:
    """A readable account of what a compiled problem runs."""
    structure, options = lowering.structure, lowering.options
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
        f"method: {lowering.name}",
        f"route: {lowering.name} — {lowering.reason}",
        f"optimality map: {lowering.map_text}",
        f"solver: {lowering.solver_text}; tol={_tol_text(lowering)}, maxiter={lowering.maxiter}"
        + ("; verbose (prints its iteration log)" if options.verbose else ""),
        f"differentiation: {lowering.differentiation_text}",
    ])
