"""``Atom``: the base of every inner node (operators and atoms), and two common shapes of atom.

An atom states, each in a line or two: its shape rule, its sign, whether it is convex
or concave, its monotonicity in each argument, its JAX forward function, whether it is
smooth (differentiable on the interior of its domain), and, for a convex or concave atom,
its graph form (the conic constraints of its epigraph or hypograph). Curvature then
follows from ``curvature.compose``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import jax
import jax.numpy as jnp

from optdsl.modeling.curvature import Curvature, Monotonicity, Sign, compose
from optdsl.modeling.expression import Expression, as_expression
from optdsl.modeling.shapes import Shape, broadcast_shapes, normalize_axis, reduced_shape

if TYPE_CHECKING:
    from optdsl.modeling.constraints import Constraint


class Atom(Expression):
    """A function applied to argument expressions.

    Subclasses set ``name`` (printed, and used in messages) and implement
    ``shape_from_args``, ``sign_from_args``, ``is_atom_convex``, ``is_atom_concave``,
    ``monotonicity`` and ``forward``; atoms with static settings (an axis, an exponent)
    store them before calling ``Atom.__init__`` and list them in ``data``. Convex and
    concave atoms also implement ``graph_form`` for the conic lowering.
    """

    name: ClassVar[str]
    smooth: ClassVar[bool] = True
    #: Finite only on part of its argument space (log, entropy, log_det, ...): a first-order step can leave it.
    restricted_domain: bool = False

    def __init__(self, *args: Any):
        self._args = tuple(as_expression(a) for a in args)
        self._shape = self.shape_from_args()
        self._curvature: Curvature | None = None
        self._sign: Sign | None = None
        self._key: tuple | None = None

    # ---- the rules each atom states ---------------------------------------------------------
    def shape_from_args(self) -> Shape:
        """The output shape; raises ``ShapeError`` naming the atom and the argument shapes."""
        raise NotImplementedError

    def sign_from_args(self) -> Sign:
        """The output sign, from the arguments' signs."""
        raise NotImplementedError

    def is_atom_convex(self) -> bool:
        """Whether the function itself is convex (before composing with its arguments)."""
        raise NotImplementedError

    def is_atom_concave(self) -> bool:
        """Whether the function itself is concave (before composing with its arguments)."""
        raise NotImplementedError

    def monotonicity(self, index: int) -> Monotonicity:
        """Monotonicity in argument ``index`` (may depend on the arguments' signs)."""
        raise NotImplementedError

    def forward(self, *values: jax.Array) -> jax.Array:
        """The JAX function: argument values in, value out (dtype-preserving)."""
        raise NotImplementedError

    def clip_to_domain(self, *values: jax.Array) -> tuple[jax.Array, ...]:
        """The argument values moved onto the atom's closed domain, for checking a returned point.

        A solver's point can sit a rounding error outside the domain of an atom whose optimum is on its
        edge (``sqrt(x)`` at ``x = -1e-16``), where ``forward`` gives NaN. The restricted atoms' domains
        are ``x >= 0`` in every argument unless an atom says otherwise; the others have no edge.
        """
        if not self.restricted_domain:
            return values
        return tuple(jnp.maximum(v, 0) for v in values)

    def graph_form(self, t: Expression, args: Sequence[Expression]) -> list[Constraint] | None:
        """Constraints making ``t`` an epigraph (convex atom) or hypograph (concave atom) variable.

        That is, constraints on ``t``, ``args`` and any auxiliary variables they add, satisfiable
        exactly when ``atom(args) <= t`` (convex) or ``atom(args) >= t`` (concave), ``args`` being
        this atom's own arguments (``atom.graph_form(t, atom.args)``). They may contain other
        atoms, which the conic canonicalisation rewrites in turn. The default, None, says the
        atom has no conic form (a non-convex atom, or one the conic lowering does not cover).
        """
        return None

    def data(self) -> tuple:
        """Static settings (hashable), part of the structure key; empty for most atoms."""
        return ()

    def format_data(self) -> list[str]:
        """Static settings as printed after the arguments, e.g. ``["axis=1"]``."""
        return []

    def curvature_note(self) -> str:
        """Why the atom has no curvature when it is neither convex nor concave (for DCPError)."""
        return f"{self.name} is neither convex nor concave"

    def nonmonotone_note(self, index: int) -> str:
        """Why the atom is not monotone in argument ``index`` (for DCPError); empty if nothing to add."""
        return ""

    def suggestion(self) -> str | None:
        """A standard rewrite that is DCP, when this node is a known non-DCP idiom (for DCPError)."""
        return None

    def parameter_requirements(self) -> tuple[tuple[Expression, str], ...]:
        """``(argument, property)`` pairs the DCP rules took on trust of parameter values; none by default.

        An atom whose curvature holds only if a parameter argument has a property (a parameter
        matrix assumed PSD) states it here, so the compiled problem checks the values at call
        time; ``property`` names a test of :mod:`optdsl.runtime.domains` (``"psd"``, ...).
        """
        return ()

    # ---- derived -----------------------------------------------------------------------------
    @property
    def curvature(self) -> Curvature:
        if self._curvature is None:
            arguments = [(self.monotonicity(i), a.curvature) for i, a in enumerate(self._args)]
            self._curvature = compose(self.is_atom_convex(), self.is_atom_concave(), arguments)
        return self._curvature

    @property
    def sign(self) -> Sign:
        if self._sign is None:
            self._sign = self.sign_from_args()
        return self._sign

    def structure_key(self) -> tuple:
        if self._key is None:
            self._key = (type(self).__name__, self.data(), tuple(a.structure_key() for a in self._args))
        return self._key

    def __str__(self) -> str:
        return f"{self.name}({', '.join([*(str(a) for a in self._args), *self.format_data()])})"


class Elementwise(Atom):
    """An atom applied entry by entry; several arguments broadcast like numpy."""

    def shape_from_args(self) -> Shape:
        return broadcast_shapes(self.name, *(a.shape for a in self._args))


class Reduction(Atom):
    """An atom of one argument reducing along ``axis`` (all entries when None), like numpy's ``sum``."""

    def __init__(self, x: Any, axis: int | None = None, keepdims: bool = False):
        x = as_expression(x)
        self.axis = normalize_axis(self.name, axis, x.shape)
        self.keepdims = bool(keepdims)
        super().__init__(x)

    def shape_from_args(self) -> Shape:
        return reduced_shape(self._args[0].shape, self.axis, self.keepdims)

    def data(self) -> tuple:
        return (self.axis, self.keepdims)

    def format_data(self) -> list[str]:
        settings = [] if self.axis is None else [f"axis={self.axis}"]
        return settings + (["keepdims=True"] if self.keepdims else [])


class NonconvexElementwise(Elementwise):
    """A smooth elementwise function that is neither convex nor concave (for opt-in non-convex models)."""

    def is_atom_convex(self) -> bool:
        return False

    def is_atom_concave(self) -> bool:
        return False

    def curvature_note(self) -> str:
        return f"{self.name} is a smooth non-convex function (allowed only in non-convex mode)"
