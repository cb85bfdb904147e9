"""The optimality conditions the compiler generated, rendered as LaTeX (``compiled.conditions_latex()``).

The pieces of the model (smooth part, non-smooth terms, sets, constraints) are
rendered through sympy by :mod:`optdsl.modeling.latex`; the surrounding map is the
one the chosen method differentiates.
"""

from __future__ import annotations

from optdsl.errors import ArgumentError
from optdsl.compiler.analyze import Structure
from optdsl.modeling import Equality
from optdsl.modeling.latex import constraint_latex, expression_latex


def _rows(lines: list[str]) -> str:
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


def _variables(structure: Structure) -> str:
    return ", ".join(structure.packing.names) or r"\varnothing"


def conditions_latex(structure: Structure, method: str, smoothed: bool = False) -> str:
    """LaTeX of the optimality map ``F(z, θ) = 0`` that ``method`` differentiates."""
    z = rf"z = ({_variables(structure)})"
    f = expression_latex(structure.smooth) if structure.smooth is not None else "0"
    if method == "stationary":
        return _rows([rf"&\nabla_z f(z, \theta) = 0, \quad f = {f}", rf"&{z}"])
    if method in ("projected_gradient", "proximal_gradient", "mirror"):
        lines = [rf"&f = {f}"]
        if structure.prox_terms:
            lines.append("&g = " + " + ".join(expression_latex(t.term) for t in structure.prox_terms))
        sets = [constraint_latex(c) for s in structure.sets for c in s.constraints]
        if sets:
            lines.append(r"&C = \{z : " + r",\ ".join(sets) + r"\}")
        if method == "mirror":
            fixed = (r"&z = \operatorname{argmin}_{y \in C} \langle \nabla_z f(z, \theta), y \rangle"
                     r" + \tfrac{1}{\eta} \operatorname{KL}(y, z), \quad \eta = 1")
        else:
            op = r"\Pi_C" if not structure.prox_terms else (
                r"\operatorname{prox}_{\eta g + \iota_C}" if sets else r"\operatorname{prox}_{\eta g}")
            fixed = rf"&z = {op}\left(z - \eta \nabla_z f(z, \theta)\right), \quad \eta = 1"
        return _rows([fixed, *lines, rf"&{z}"])
    if method == "kkt":
        problem = structure.problem
        eqs = [constraint_latex(c) for c in problem.constraints if isinstance(c, Equality)]
        ineqs = [constraint_latex(c) for c in problem.constraints if not isinstance(c, Equality)]
        complementarity = r"\lambda \circ G(z, \theta) = -\mu" if smoothed else r"\lambda \circ G(z, \theta) = 0"
        return _rows([
            r"&\nabla_z f(z, \theta) + \partial_z H(z, \theta)^\top \nu + \partial_z G(z, \theta)^\top \lambda = 0",
            r"&H(z, \theta) = 0, \quad " + complementarity + r", \quad \lambda \geq 0, \quad G(z, \theta) \leq 0",
            rf"&f = {expression_latex(problem.objective.expr if structure.sense > 0 else -problem.objective.expr)}",
            r"&H = 0:\ " + (r",\ ".join(eqs) or r"\text{none}"),
            r"&G \leq 0:\ " + (r",\ ".join(ineqs) or r"\text{none}"),
            rf"&{z}",
        ])
    if method == "conic":
        return _rows([
            r"&\mathcal{N}(u, v, w; A, b, c) = \frac{(Q - I)\,\Pi(u, v, w) + (u, v, w)}{|w|} = 0",
            r"&Q = \begin{pmatrix} 0 & A^\top & c \\ -A & 0 & b \\ -c^\top & -b^\top & 0 \end{pmatrix}, "
            r"\quad \Pi = \text{projection onto } \mathbb{R}^n \times K^* \times \mathbb{R}_+",
            r"&\min\ c^\top x \ \text{ s.t. } Ax + s = b,\ s \in K \text{ (the canonicalised model)}",
        ])
    raise ArgumentError(f"no conditions for method {method!r}")
