"""``geo_mean(x, p=None)``: the weighted geometric mean ``prod_i x_i^(p_i / sum(p))`` of the entries of x.

As cvxpy's: weights ``p >= 0``, not all zero, one per entry of x (an array of x's shape, or a
flat list in C order), all equal when not given; concave, increasing and nonnegative on its
domain ``x >= 0``. Entries of weight zero take no part. The conic graph form is
:func:`~optdsl.modeling.atoms.power.geo_mean_cones`: a tower of rotated second-order cones
for weights proportional to small integers, a chain of power cones otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optdsl.modeling.affine.reshape import reshape
from optdsl.modeling.atom import Atom
from optdsl.modeling.atoms.power import geo_mean_cones
from optdsl.modeling.constraints import Constraint
from optdsl.modeling.curvature import Monotonicity, Sign
from optdsl.modeling.errors import ModelingError, ShapeError
from optdsl.modeling.expression import Expression, as_expression
from optdsl.modeling.leaves import Constant
from optdsl.modeling.numbers import real_array
from optdsl.modeling.printing import format_number
from optdsl.modeling.shapes import Shape


class GeoMean(Atom):
    """``prod_i x_i^(w_i)`` over all entries, ``w = p / sum(p)``: concave, increasing, nonnegative."""

    name = "geo_mean"
    restricted_domain = True

    def __init__(self, x: Any, p: Any = None):
        x = as_expression(x)
        self.p = None if p is None else _checked_weights(x, p)
        super().__init__(x)

    @property
    def weights(self) -> np.ndarray:
        """The normalised weight of each entry of x, flat in C order."""
        size = self._args[0].size
        return np.full(size, 1.0 / size) if self.p is None else np.asarray(self.p) / sum(self.p)

    def shape_from_args(self) -> Shape:
        return ()

    def sign_from_args(self) -> Sign:
        return Sign.NONNEG

    def is_atom_convex(self) -> bool:
        return False

    def is_atom_concave(self) -> bool:
        return True

    def monotonicity(self, index: int) -> Monotonicity:
        return Monotonicity.INCREASING

    def forward(self, x: jax.Array) -> jax.Array:
        kept = np.flatnonzero(self.weights)
        return jnp.prod(jnp.ravel(x)[kept] ** jnp.asarray(self.weights[kept], x.dtype))

    def data(self) -> tuple:
        return (self.p,)

    def format_data(self) -> list[str]:
        return [] if self.p is None else ["[" + ", ".join(format_number(w) for w in self.p) + "]"]

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint]:
        """Hypograph ``t <= prod_i x_i^(w_i)``, entries of weight zero left out."""
        (x,) = args
        flat = x if x.ndim == 1 else reshape(x, (x.size,))
        kept = np.flatnonzero(self.weights)
        return geo_mean_cones(t, [flat[int(i)] for i in kept], self.weights[kept])


def _checked_weights(x: Expression, p: Any) -> tuple[float, ...]:
    """``p`` as a flat tuple of ``x.size`` weights in C order; ``ModelingError`` naming the atom otherwise."""
    place = f"geo_mean({x})"
    if isinstance(p, Expression) and not isinstance(p, Constant):
        raise ModelingError(f"{place}: the weights p must be constants, got {p}")
    weights = real_array(place, "the weights p", p)
    if weights.shape not in (x.shape, (x.size,)):
        raise ShapeError(f"{place}: weights p of shape {weights.shape} must have the shape {x.shape} of x "
                         f"or be a flat list of its {x.size} entries")
    if (weights < 0).any() or not weights.sum() > 0:
        raise ModelingError(f"{place}: the weights p must be >= 0 and not all zero, got {weights.ravel().tolist()}")
    return tuple(weights.ravel().tolist())


def geo_mean(x: Any, p: Any = None) -> Expression:
    """Weighted geometric mean of the entries of ``x`` (equal weights unless ``p`` is given).

    >>> from optdsl.modeling.atoms.geo_mean import geo_mean
    >>> from optdsl.modeling.leaves import Variable
    >>> x = Variable(3, name="x")
    >>> e = geo_mean(x, [1, 2, 1])
    >>> str(e), e.shape, e.curvature.value
    ('geo_mean(x, [1, 2, 1])', (), 'concave')
    """
    return GeoMean(x, p)
