"""``canonicalize(problem)``: a DCP problem as ``min c'x s.t. A x + s = b, s in K`` (parameters kept symbolic).

Every non-affine node ``f(args)`` of the (minimised) objective and of the constraints gets a
stand-in variable ``t`` and the constraints of its graph, ``f(args) <= t`` for a convex node
(``>= t`` for a concave one), which the atom states itself (``Atom.graph_form``). The DCP rules
make this exact: a convex node only appears where making it larger can only hurt, so at an
optimum ``t = f(args)``. Graph constraints may contain non-affine nodes of their own (norm1's
is ``sum(abs(x)) <= t``); they are treated the same way until only affine expressions of
the variables and stand-ins remain, each in one cone (:mod:`.blocks`). Nothing is evaluated
here: the matrices are built from parameter values by :meth:`ConicForm.data`.

An inequality whose one non-affine node could take up all its slack (``norm2(F' w) <= sigma``,
``0.5 * quad_form(x, P) + q'x <= r``) gets a stand-in of its own for that node and holds with
equality (``t == sigma``, a :class:`~.blocks.TightBlock`): the same set, but the stand-in stays
unique when the constraint is inactive (with ``t <= sigma`` it could take any value in between),
so the solution map stays differentiable there.

``X >> 0`` states the symmetry of ``X`` as rows of its own (:meth:`_Canonicalizer.symmetry`),
except for the rows an equality of the model states already (``X[i, j] == X[j, i]``, or
``X == X.T``, next to ``X >> 0``): repeated, they would leave the duals not unique and the
embedding's Jacobian singular although the model's duals are unique. Rows the model itself
repeats are the model's, and stay.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from optdsl.compiler.analyze import minimised_objective, sign_constraints
from optdsl.compiler.conic.blocks import KINDS, Block, TightBlock, block_of
from optdsl.compiler.conic.form import ConicForm
from optdsl.compiler.packing import Packing
from optdsl.errors import CompileError
from optdsl.modeling import (PSD, Atom, Constant, Constraint, Curvature, Equality, Expression, Inequality, Problem,
                             Variable)
from optdsl.modeling.affine import Add, Multiply
from optdsl.modeling.leaves import Leaf
from optdsl.runtime.solvers.cones import Cones


class _Canonicalizer:
    """Collects stand-ins and blocks while walking a problem (one use); ``equalities``: the model's."""

    def __init__(self, equalities: list[Equality]) -> None:
        self.stand_ins: dict[int, tuple[Expression, Variable]] = {}
        self.blocks: dict[str, list[tuple[Block, str | None]]] = {kind: [] for kind in KINDS}
        self.rng = np.random.default_rng(0)
        self.draws: dict[int, list[np.ndarray]] = {}  # random values of each leaf, shared by every block
        self.symmetric: set[tuple[float, ...]] = set()  # the symmetry rows stated so far, as signatures
        self.equalities = equalities
        self._stated: set[tuple[float, ...]] | None = None  # the rows of the model's equalities, as signatures

    def draw(self, leaves: tuple[Leaf, ...]) -> None:
        """Three random values of each leaf, drawn once and shared by every block."""
        for leaf in leaves:
            self.draws.setdefault(id(leaf), [self.rng.standard_normal(leaf.shape) for _ in range(3)])

    def values(self, expr: Expression, k: int) -> np.ndarray:
        """``expr`` at the ``k``-th draw of all its leaves."""
        leaves = (*expr.variables(), *expr.parameters())
        self.draw(leaves)
        return np.asarray(expr.evaluate({leaf: self.draws[id(leaf)][k] for leaf in leaves}))

    @staticmethod
    def keys(rows: np.ndarray) -> list[tuple[float, ...] | None]:
        """A signature of each row of values at the draws (the same for proportional rows); None for a zero row.

        A row is affine in the variables and polynomial in the parameters, so its values at three
        random draws of all its leaves tell it from any other row, and from zero, with probability one.
        """
        scale = np.sqrt(np.finfo(rows.dtype).eps) * (1 + np.abs(rows).max(initial=0))
        return [None if np.abs(row).max() <= scale else tuple(np.round(row / row[np.argmax(np.abs(row))], 9))
                for row in rows]

    @property
    def stated(self) -> set[tuple[float, ...]]:
        """The signatures of the rows of the model's equalities (read when a PSD block first needs them)."""
        if self._stated is None:
            self._stated = set()
            for c in self.equalities:
                rows = np.stack([np.ravel(np.broadcast_to(self.values(c.lhs, k) - self.values(c.rhs, k),
                                                          c.dual_shape)) for k in range(3)], axis=-1)
                self._stated.update(key for key in self.keys(rows) if key is not None)
        return self._stated

    def symmetry(self, constraint: PSD) -> Equality | None:
        """``X[i, j] == X[j, i]`` for the pairs of ``X >> 0`` that the variables can make unequal, once each.

        X is affine in its variables, so the variables' share of ``X - X'`` is read off from
        random points (a pair whose share vanishes at all of them vanishes everywhere, with
        probability one): ``diag(x)`` or ``Y + Y'`` needs no row, nor an asymmetry of parameters
        alone. The leaves take the same random values in every block, so a pair already stated
        by another block (``Y >> I`` and a block holding ``Y``) has the same signature and is
        stated once.
        """
        X = constraint.expr
        leaves = (*X.variables(), *X.parameters())
        self.draw(leaves)

        def skew(k: int) -> np.ndarray:  # X - X' at the k-th draw of the variables (parameters fixed)
            value = np.asarray(X.evaluate({leaf: self.draws[id(leaf)][k if isinstance(leaf, Variable) else 0]
                                           for leaf in leaves}))
            return value - value.T

        base = skew(0)
        share = np.stack([skew(k) - base for k in (1, 2)], axis=-1)
        rows, cols = np.triu_indices(X.shape[0], 1)
        whole = np.stack([(lambda v: v - v.T)(self.values(X, k))[rows, cols] for k in range(3)], axis=-1)
        keep = []
        for i, j, key, row in zip(rows, cols, self.keys(share[rows, cols]), self.keys(whole)):
            if key is not None and key not in self.symmetric and row not in self.stated:
                self.symmetric.add(key)
                keep.append((i, j))
        if not keep:
            return None
        below, above = (np.array(k) for k in zip(*keep))
        return Equality(X[below, above], X[above, below])

    def substitute(self, expr: Expression) -> None:
        """Give each outermost non-affine node of ``expr`` a stand-in (affine operators are looked through)."""
        stack = [expr]
        while stack:
            node = stack.pop()
            if id(node) in self.stand_ins:
                continue
            if _needs_stand_in(node):
                self.stand_in(node)
            else:
                stack.extend(node.args)

    def stand_in(self, node: Atom) -> None:
        """A variable ``t`` standing for ``node`` wherever it appears, with the node's graph constraints."""
        t = Variable(node.shape)
        self.stand_ins[id(node)] = (node, t)
        self.graph(node, t)

    def graph(self, node: Atom, t: Expression) -> None:
        """The constraints of ``node``'s graph with ``t`` (epigraph for a convex node, hypograph for a concave one)."""
        constraints = node.graph_form(t, node.args)
        if constraints is None:
            raise CompileError(f"the conic lowering cannot handle {node}: the atom {node.name} has no graph form "
                               "(epigraph or hypograph constraints)")
        for constraint in constraints:
            self.add(constraint)

    def add(self, constraint: Constraint, name: str | None = None) -> None:
        """``constraint`` as a block of rows (``name``: the user's constraint whose dual it holds)."""
        taker = _slack_taker(constraint)
        if taker is None:
            block = block_of(constraint)
        else:
            node, rebuild = taker
            t = Variable(node.shape)
            self.graph(node, t)
            block = TightBlock(rebuild(t))
        for arg in block.constraint.args:
            self.substitute(arg)
        self.blocks[block.kind].append((block, name))
        if isinstance(constraint, PSD) and (symmetry := self.symmetry(constraint)) is not None:
            self.add(symmetry)


def _needs_stand_in(expr: Expression) -> bool:
    """Whether ``expr`` is a non-affine atom node (what ``substitute`` replaces)."""
    return (not isinstance(expr, Leaf) and expr.curvature is not Curvature.CONSTANT
            and not (expr.is_atom_convex() and expr.is_atom_concave()))


def _slack_taker(constraint: Constraint) -> tuple[Expression, Callable[[Expression], Inequality]] | None:
    """The node that can take up all of an inequality's slack, and the inequality rebuilt around its stand-in.

    That is the one non-affine term of a side (the side itself, or a term of a sum, possibly
    times positive constants) when everything else in the inequality is affine, the node
    has the inequality's shape and is convex below (concave above): raising its private epigraph
    variable (lowering a hypograph one) closes any gap without touching anything else.
    """
    if not isinstance(constraint, Inequality):
        return None
    lhs, rhs = constraint.args
    for side, other in ((lhs, rhs), (rhs, lhs)):
        terms = list(side.args) if isinstance(side, Add) else [side]
        loose = [i for i, term in enumerate(terms) if not term.is_affine()]
        if not other.is_affine() or len(loose) != 1:
            continue
        index = loose[0]
        scale, node = _positive_scaling(terms[index])
        if not _needs_stand_in(node) or node.shape != constraint.dual_shape:
            continue
        if not (node.is_convex() if side is lhs else node.is_concave()):
            continue  # on the other side the node only relaxes the inequality: held with equality it would cut

        def rebuild(t: Expression) -> Inequality:
            parts = [*terms[:index], t if scale is None else scale * t, *terms[index + 1:]]
            new = Add(*parts) if len(parts) > 1 else parts[0]
            return Inequality(new, rhs) if side is lhs else Inequality(lhs, new)

        return node, rebuild
    return None


def _positive_scaling(term: Expression) -> tuple[Constant | None, Expression]:
    """``(c, e)`` for ``term = c * e`` with a constant ``c > 0`` entrywise, else ``(None, term)``."""
    if isinstance(term, Multiply):
        for factor, other in (term.args, term.args[::-1]):
            if isinstance(factor, Constant) and np.all(factor.value > 0):
                return factor, other
    return None, term


def _cones(blocks: list[Block]) -> Cones:
    """The sizes of ``K`` for blocks in row order."""
    def rows(kind: str) -> int:
        return sum(b.size for b in blocks if b.kind == kind)

    def cones(kind: str) -> tuple[float, ...]:
        return tuple(q for b in blocks if b.kind == kind for q in b.cones)

    return Cones(zero=rows("zero"), nonneg=rows("nonneg"), soc=cones("soc"), psd=cones("psd"), exp=rows("exp") // 3,
                 power=cones("power"))


def _columns(user: list[Variable], blocks: list[Block]) -> tuple[tuple[Variable, int], ...]:
    """Every variable with its offset in ``x``: the user's first, then auxiliaries by first appearance."""
    variables = {id(v): v for v in user}
    for block in blocks:
        variables.update((id(v), v) for v in block.constraint.variables() if id(v) not in variables)
    columns, offset = [], 0
    for v in variables.values():
        columns.append((v, offset))
        offset += v.size
    return tuple(columns)


def symmetry_equalities(problem: Problem) -> list[Equality]:
    """What the ``X >> 0`` of ``problem`` state beyond the cone: ``X[i, j] == X[j, i]`` for each pair the variables
    can make unequal and no equality of the model states already (see :meth:`_Canonicalizer.symmetry`)."""
    walk = _Canonicalizer([c for c in problem.constraints if isinstance(c, Equality)])
    return [rows for c in problem.constraints if isinstance(c, PSD) and (rows := walk.symmetry(c)) is not None]


def canonicalize(problem: Problem) -> ConicForm:
    """The conic form of a DCP ``problem`` (see the module docstring and :class:`ConicForm`).

    ``x`` holds the problem's variables packed as :class:`~optdsl.compiler.packing.Packing`
    packs ``problem.variables()``, then the auxiliary variables. Variables declared nonneg
    (nonpos) get rows ``x >= 0`` (``-x >= 0``). Raises ``DCPError`` for a non-DCP problem and
    ``ModelingError`` / ``CompileError`` for an atom or exponent the conic form does not cover.

    >>> import optdsl as od
    >>> x = od.Variable(2, name="x")
    >>> form = canonicalize(od.Problem(od.Minimize(od.norm2(x)), [od.sum(x) == 1]))
    >>> form.cones, form.size
    (Cones(zero=1, nonneg=0, soc=(3,), psd=(), exp=0, power=()), 3)
    """
    if not isinstance(problem, Problem):
        raise CompileError(f"canonicalize expects a Problem, got {type(problem).__name__}")
    problem.check_dcp()
    walk = _Canonicalizer([c for c in problem.constraints if isinstance(c, Equality)])
    sense, objective = minimised_objective(problem)
    walk.substitute(objective)
    for name, constraint in problem.named_constraints().items():
        walk.add(constraint, name)
    user = problem.variables()
    columns = _columns(user, [block for kind in KINDS for block, _ in walk.blocks[kind]])
    for constraint in sign_constraints([v for v, _ in columns]):
        walk.add(constraint)
    if not any(walk.blocks.values()):
        walk.add(Inequality(Constant(0.0), Constant(1.0)))  # the cone program needs a row: one that is always slack

    blocks, duals, row = [], {}, 0
    for kind in KINDS:
        for block, name in walk.blocks[kind]:
            if name is not None:
                duals[name] = (row, block)
            blocks.append(block)
            row += block.size
    size = sum(v.size for v, _ in columns)
    return ConicForm(problem=problem, cones=_cones(blocks), packing=Packing.of(user), size=size, sense=sense,
                     objective=objective, blocks=tuple(blocks), duals_at=duals, columns=columns,
                     stand_ins=dict(walk.stand_ins))
