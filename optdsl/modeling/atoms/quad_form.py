"""``quad_form(x, P)``: ``x' P x`` for a vector ``x`` and a constant or parameter matrix ``P``.

DCP rule: convex when ``P`` is a constant that is numerically positive semidefinite
(smallest eigenvalue of its symmetric part >= -1e-10 * max(1, largest |eigenvalue|)),
concave when it is negative semidefinite; convex or concave when ``P`` is a parameter
declared ``psd`` or ``nsd``; and convex when ``P`` is any other expression of parameters:
its value is not known when the model is built, so it is trusted to be PSD and the
compiled problem checks that trust on every call (:meth:`QuadForm.parameter_requirements`).
A ``P`` containing variables is not DCP.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optdsl.modeling.atom import Atom
from optdsl.modeling.atoms.sum_squares import SumSquares
from optdsl.modeling.constraints import Constraint
from optdsl.modeling.curvature import Curvature, Monotonicity, Sign
from optdsl.modeling.errors import ShapeError
from optdsl.modeling.expression import Expression
from optdsl.modeling.leaves import Constant, Parameter
from optdsl.modeling.shapes import Shape

_TOLERANCE = 1e-10


def _declared(P: Expression) -> bool:
    """Whether ``P`` is a parameter declared psd or nsd."""
    return isinstance(P, Parameter) and (P.psd or P.nsd)


class QuadForm(Atom):
    """``x' P x``: scalar; convex for PSD or parameter ``P``, concave for NSD ``P`` (or one declared nsd); smooth."""

    name = "quad_form"

    def shape_from_args(self) -> Shape:
        x, P = (a.shape for a in self._args)
        if len(x) != 1 or P != (x[0], x[0]):
            raise ShapeError(f"quad_form: shapes {x} and {P} do not fit (x must be (n,) and P (n, n))")
        return ()

    @cached_property
    def _definiteness(self) -> tuple[bool, bool]:
        """(known PSD, known NSD) of ``P``."""
        P = self._args[1]
        if P.curvature is not Curvature.CONSTANT:
            return (False, False)
        if _declared(P):
            return (P.psd, P.nsd)
        if P.parameters():
            return (True, False)
        matrix = np.asarray(P.evaluate({}), dtype=np.float64)
        eigenvalues = np.linalg.eigvalsh((matrix + matrix.T) / 2)
        tolerance = _TOLERANCE * max(1.0, float(np.max(np.abs(eigenvalues), initial=0.0)))
        return (bool(eigenvalues.min(initial=0.0) >= -tolerance), bool(eigenvalues.max(initial=0.0) <= tolerance))

    def sign_from_args(self) -> Sign:
        return Sign.from_flags(*self._definiteness)

    def parameter_requirements(self) -> tuple[tuple[Expression, str], ...]:
        """A ``P`` of parameters not declared psd or nsd was trusted to be PSD (its symmetric part, as x' P x)."""
        P = self._args[1]
        if P.curvature is Curvature.CONSTANT and P.parameters() and not _declared(P):
            return ((P, "psd"),)
        return ()

    def is_atom_convex(self) -> bool:
        return self._definiteness[0]

    def is_atom_concave(self) -> bool:
        return self._definiteness[1]

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.NONE

    def forward(self, x: jax.Array, P: jax.Array) -> jax.Array:
        return x @ P @ x

    def curvature_note(self) -> str:
        P = self._args[1]
        if P.curvature is not Curvature.CONSTANT:
            return f"quad_form needs a constant or parameter matrix P, but {P} contains variables"
        return f"quad_form with the indefinite matrix {P} is neither convex nor concave"

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Epigraph ``x' P x <= t`` (convex) or hypograph ``x' P x >= t`` (concave): ``||F' x||^2 <= +-t``.

        ``F F' = P`` (or ``-P``). A constant P is factored now by an eigendecomposition (so a
        semidefinite P works); a P with parameters by :class:`CholeskyFactor` when the data
        are evaluated, so its value must be definite.
        """
        x, P = args
        convex = self.is_atom_convex()
        if P.parameters():
            factor: Expression = CholeskyFactor(P if convex else -P)
        else:
            matrix = np.asarray(P.evaluate({}), dtype=np.float64)
            eigenvalues, vectors = np.linalg.eigh((matrix + matrix.T) / (2 if convex else -2))
            keep = eigenvalues > _TOLERANCE * max(1.0, float(np.max(np.abs(eigenvalues))))
            factor = Constant(vectors[:, keep] * np.sqrt(eigenvalues[keep]))
        return [SumSquares(factor.T @ x) <= (t if convex else -t)]


class CholeskyFactor(Atom):
    """The lower-triangular ``L`` with ``L L' = (P + P') / 2`` of a positive definite constant or parameter ``P``.

    Constant when P is: it lets quad_form's graph form factor a parameter matrix inside the
    traced data function (differentiable in P).
    """

    name = "cholesky"

    def shape_from_args(self) -> Shape:
        return self._args[0].shape

    def sign_from_args(self) -> Sign:
        return Sign.UNKNOWN

    def is_atom_convex(self) -> bool:
        return False

    def is_atom_concave(self) -> bool:
        return False

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.NONE

    def forward(self, P: jax.Array) -> jax.Array:
        return jnp.linalg.cholesky((P + P.T) / 2)


def quad_form(x: Any, P: Any) -> Expression:
    """Quadratic form ``x' P x`` (see the module docstring for when it is convex).

    >>> from optdsl.modeling.atoms.quad_form import quad_form
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = quad_form(x, [[2, 0, 0], [0, 1, 0], [0, 0, 1]])
    >>> str(e), e.shape, e.curvature.value
    ('quad_form(x, const(3x3))', (), 'convex')
    """
    return QuadForm(x, P)
