"""Explaining DCP failures: find the innermost offending nodes and say which rule they break.

A node has unknown curvature either because its atom has none (``sin``, a product of
two non-constant factors) or because an argument breaks the composition rule. Since
unknown curvature propagates upward, the useful place to point at is the innermost
unknown node whose arguments all have a known curvature.
"""

from __future__ import annotations

from optdsl.modeling.atom import Atom
from optdsl.modeling.curvature import Curvature, Monotonicity, allows_concave, allows_convex
from optdsl.modeling.expression import Expression


def culprits(expr: Expression) -> list[Atom]:
    """Innermost nodes of unknown curvature whose arguments all have known curvature (left to right)."""
    found: list[Atom] = []
    seen: set[int] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if id(node) in seen or node.curvature is not Curvature.UNKNOWN:
            continue
        seen.add(id(node))
        unknown = [a for a in node.args if a.curvature is Curvature.UNKNOWN]
        if unknown:
            stack.extend(reversed(unknown))
        else:
            found.append(node)  # type: ignore[arg-type]  # leaves never have unknown curvature
    return found


def _composition_rule(node: Atom, convex: bool) -> str:
    """Why a convex-only (or concave-only) atom's arguments break the composition rule."""
    kind, opposite = ("convex", "concave") if convex else ("concave", "convex")
    allows = allows_convex if convex else allows_concave
    index, arg = next((i, a) for i, a in enumerate(node.args) if not allows(node.monotonicity(i), a.curvature))
    monotonicity = node.monotonicity(index)
    if monotonicity is Monotonicity.INCREASING:
        why, needed = f"{node.name} is increasing in it", kind
    elif monotonicity is Monotonicity.DECREASING:
        why, needed = f"{node.name} is decreasing in it", opposite
    else:
        note = node.nonmonotone_note(index)
        why, needed = f"{node.name} is not monotone in it{f'; {note}' if note else ''}", "affine"
    return f"{kind} atom {node.name} applied to a {arg.curvature} argument {arg} ({why}, so it must be {needed})"


def _affine_rule(node: Atom) -> str:
    """Why an affine operation of known-curvature arguments has no curvature."""
    effective: list[tuple[Expression, Curvature]] = []
    for index, arg in enumerate(node.args):
        monotonicity = node.monotonicity(index)
        if monotonicity is Monotonicity.NONE and not arg.curvature.is_affine:
            note = node.nonmonotone_note(index)
            return (
                f"{node.name} is not monotone in the {arg.curvature} argument {arg}"
                f"{f' ({note})' if note else ''}, so that argument must be affine"
            )
        flip = monotonicity is Monotonicity.DECREASING
        effective.append((arg, arg.curvature.negate() if flip else arg.curvature))
    convex = next(a for a, c in effective if c is Curvature.CONVEX)
    concave = next(a for a, c in effective if c is Curvature.CONCAVE)
    return (
        f"{node.name} combines the convex term {convex} with the concave term {concave}, "
        "so the result is neither convex nor concave"
    )


def explain(node: Atom) -> str:
    """``"<node>: <broken rule>[; <suggested fix>]"`` for an innermost offending node."""
    convex, concave = node.is_atom_convex(), node.is_atom_concave()
    if not convex and not concave:
        rule = node.curvature_note()
    elif convex and concave:
        rule = _affine_rule(node)
    else:
        rule = _composition_rule(node, convex)
    suggestion = node.suggestion()
    return f"{node}: {rule}" + (f"; {suggestion}" if suggestion else "")


def expression_violations(expr: Expression, needed: str, place: str) -> list[str]:
    """Messages for ``expr`` not having the ``needed`` curvature ("convex", "concave", "affine") in ``place``."""
    if expr.curvature is Curvature.UNKNOWN:
        return [explain(node) for node in culprits(expr)]
    has = {"convex": expr.is_convex(), "concave": expr.is_concave(), "affine": expr.is_affine()}[needed]
    return [] if has else [f"{place} must be {needed}, but {expr} is {expr.curvature}"]
