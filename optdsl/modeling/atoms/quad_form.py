"""``quad_form(x, P)``: ``x' P x`` for a vector ``x`` and a constant or parameter matrix ``P``.

DCP rule: convex when ``P`` is a constant that is numerically positive semidefinite
(smallest eigenvalue of its symmetric part >= -1e-10 * max(1, largest |eigenvalue|)),
concave when it is negative semidefinite, and convex when ``P`` involves parameters:
a parameter matrix is trusted to be PSD (its value is not known when the model is
built). A ``P`` containing variables is not DCP.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import jax
import numpy as np

from optdsl.modeling.atom import Atom
from optdsl.modeling.curvature import Curvature, Monotonicity, Sign
from optdsl.modeling.errors import ShapeError
from optdsl.modeling.expression import Expression
from optdsl.modeling.shapes import Shape

_TOLERANCE = 1e-10


class QuadForm(Atom):
    """``x' P x``: scalar; convex for PSD or parameter ``P``, concave for NSD ``P``; smooth."""

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
        if P.parameters():
            return (True, False)
        matrix = np.asarray(P.evaluate({}), dtype=np.float64)
        eigenvalues = np.linalg.eigvalsh((matrix + matrix.T) / 2)
        tolerance = _TOLERANCE * max(1.0, float(np.max(np.abs(eigenvalues), initial=0.0)))
        return (bool(eigenvalues.min(initial=0.0) >= -tolerance), bool(eigenvalues.max(initial=0.0) <= tolerance))

    def sign_from_args(self) -> Sign:
        return Sign.from_flags(*self._definiteness)

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
