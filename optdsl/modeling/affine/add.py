"""Addition of any number of terms, broadcasting like numpy (``a + b``, ``a - b``)."""

from __future__ import annotations

import functools
import operator
from typing import Any

import jax

from optdsl.modeling.affine.negation import Negation
from optdsl.modeling.atom import Atom
from optdsl.modeling.curvature import Monotonicity, Sign, sign_of_sum
from optdsl.modeling.expression import Expression, as_expression
from optdsl.modeling.leaves import Constant
from optdsl.modeling.printing import ADD, UNARY, parenthesize
from optdsl.modeling.shapes import Shape, broadcast_shapes


class Add(Atom):
    """``t_1 + ... + t_k``; nested sums are flattened, so ``a + b + c`` is one node of three terms."""

    name = "add"
    precedence = ADD

    def __init__(self, *terms: Any):
        flat = []
        for term in map(as_expression, terms):
            flat.extend(term.args if isinstance(term, Add) else (term,))
        super().__init__(*flat)

    def shape_from_args(self) -> Shape:
        return broadcast_shapes(self.name, *(a.shape for a in self._args))

    def sign_from_args(self) -> Sign:
        return sign_of_sum(*(a.sign for a in self._args))

    def is_atom_convex(self) -> bool:
        return True

    def is_atom_concave(self) -> bool:
        return True

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.INCREASING

    def forward(self, *values: jax.Array) -> jax.Array:
        return functools.reduce(operator.add, values)

    def __str__(self) -> str:
        first, *rest = self._args
        text = parenthesize(first, ADD)
        for term in rest:
            if isinstance(term, Negation):
                text += " - " + parenthesize(term.args[0], ADD + 1)
            elif isinstance(term, Constant) and term.precedence == UNARY:
                text += " - " + str(-term)
            else:
                text += " + " + parenthesize(term, ADD + 1)
        return text


def add(*terms: Any) -> Expression:
    """Sum of the terms with numpy broadcasting (what ``+`` builds).

    >>> from optdsl.modeling.affine.add import add
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> y = Variable(3, name="y")
    >>> e = add(x, y, 1)
    >>> str(e), e.shape, e.curvature.value
    ('x + y + 1', (3,), 'affine')
    """
    return Add(*terms)
