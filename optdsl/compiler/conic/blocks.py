"""A constraint as rows of one factor of ``K``: the values it puts in ``s``, and its dual read from ``y``.

The conic form is ``A x + s = b, s in K``, so a constraint whose affine values lie in a cone
contributes those values as rows of ``s = b - A x``:

====================  ===========  ==============================================================
constraint            cone         rows of ``s``
====================  ===========  ==============================================================
``lhs == rhs``        zero         ``lhs - rhs`` (broadcast, C order)
``lhs <= rhs``        nonneg       ``rhs - lhs`` (zero cone when a private stand-in takes the slack)
``SOC(t, x)``         SOC          ``(t, x)``; with an axis ``(t_j, x_j)`` per column (row) j
``PSD(X)``            PSD          ``svec((X + X') / 2)`` (the cone takes the symmetric part)
``ExpCone(x, y, z)``  exp          ``(x_i, y_i, z_i)`` per entry, C order
``PowCone3D(...)``    power        ``(x_i, y_i, z_i)`` per entry, C order, exponent ``alpha_i``
====================  ===========  ==============================================================

Duals are returned in ``constraint.dual_shape`` with cvxpy's ``dual_value`` conventions: the
``y`` rows as they are, except for equalities, whose sign cvxpy flips (its Lagrangian adds
``nu' (lhs - rhs)`` while ``A' y + c = 0`` subtracts), and PSD blocks, returned as the
symmetric matrix ``smat(y)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, ClassVar

import jax
import jax.numpy as jnp

from optdsl.errors import CompileError
from optdsl.modeling import PSD, SOC, Constraint, Equality, ExpCone, Expression, Inequality, PowCone3D
from optdsl.runtime.solvers.cones import smat, svec, svec_size

Array = jax.Array
#: Evaluates an (affine, after substitution) expression of the model to its value.
Value = Callable[[Expression], Array]

#: Factors of ``K`` in row order.
KINDS = ("zero", "nonneg", "soc", "psd", "exp", "power")


@dataclass(frozen=True)
class Block:
    """One constraint's rows: ``size`` of them in the cone ``kind``, in the cones ``cones`` describes."""

    constraint: Constraint
    kind: ClassVar[str]

    @property
    def size(self) -> int:
        """Number of rows."""
        raise NotImplementedError

    @property
    def cones(self) -> tuple[float, ...]:
        """What sets each cone of the block apart: an SOC's length, a PSD cone's order, a power cone's exponent.

        Empty for the other kinds, whose cones are all alike.
        """
        return ()

    def rows(self, value: Value) -> Array:
        """The block's rows of ``s``, shape ``(size,)``."""
        raise NotImplementedError

    def dual(self, y: Array) -> Array:
        """The constraint's dual in ``constraint.dual_shape`` from its rows of ``y``."""
        raise NotImplementedError


class ZeroBlock(Block):
    """``lhs == rhs``: ``lhs - rhs`` in the zero cone."""

    kind = "zero"

    @property
    def size(self) -> int:
        return math.prod(self.constraint.dual_shape)

    def rows(self, value: Value) -> Array:
        c = self.constraint
        return jnp.ravel(jnp.broadcast_to(value(c.lhs) - value(c.rhs), c.dual_shape))

    def dual(self, y: Array) -> Array:
        return -jnp.reshape(y, self.constraint.dual_shape)


class NonnegBlock(Block):
    """``lhs <= rhs``: ``rhs - lhs`` in the non-negative orthant."""

    kind = "nonneg"

    @property
    def size(self) -> int:
        return math.prod(self.constraint.dual_shape)

    def rows(self, value: Value) -> Array:
        c = self.constraint
        return jnp.ravel(jnp.broadcast_to(value(c.rhs) - value(c.lhs), c.dual_shape))

    def dual(self, y: Array) -> Array:
        return jnp.reshape(y, self.constraint.dual_shape)


class TightBlock(NonnegBlock):
    """``lhs <= rhs`` in which a private stand-in ``t`` (on either side) can take up any slack: ``rhs - lhs == 0``.

    ``t`` appears nowhere else, so holding the inequality with equality loses nothing and keeps
    ``t`` unique when the constraint is inactive. Its dual is the inequality's, read like a
    ``NonnegBlock``'s.
    """

    kind = "zero"


class SocBlock(Block):
    """``SOC(t, x)``: one cone ``(t, x)``, or one ``(t_j, x_j)`` per column (axis 0) or row (axis 1)."""

    kind = "soc"

    @property
    def size(self) -> int:
        return math.prod(self.constraint.dual_shape)

    @property
    def cones(self) -> tuple[int, ...]:
        shape = self.constraint.dual_shape
        return shape if len(shape) == 1 else (shape[1],) * shape[0]

    def rows(self, value: Value) -> Array:
        c = self.constraint
        t, x = value(c.t), value(c.x)
        if c.axis is None:
            return jnp.concatenate([t[None], x])
        if c.axis == 0:
            return jnp.concatenate([t[None, :], x], axis=0).T.ravel()
        return jnp.concatenate([t[:, None], x], axis=1).ravel()

    def dual(self, y: Array) -> Array:
        return jnp.reshape(y, self.constraint.dual_shape)


class PsdBlock(Block):
    """``PSD(X)``: the svec of X's symmetric part in one PSD cone."""

    kind = "psd"

    @property
    def size(self) -> int:
        return svec_size(self.constraint.dual_shape[0])

    @property
    def cones(self) -> tuple[int, ...]:
        return (self.constraint.dual_shape[0],)

    def rows(self, value: Value) -> Array:
        X = value(self.constraint.expr)
        return svec((X + X.T) / 2)

    def dual(self, y: Array) -> Array:
        return smat(y)


class ExpBlock(Block):
    """``ExpCone(x, y, z)``: one exponential cone ``(x_i, y_i, z_i)`` per entry."""

    kind = "exp"

    @property
    def size(self) -> int:
        return math.prod(self.constraint.dual_shape)

    def rows(self, value: Value) -> Array:
        c = self.constraint
        return jnp.stack([value(c.x), value(c.y), value(c.z)], axis=-1).ravel()

    def dual(self, y: Array) -> Array:
        return jnp.reshape(jnp.reshape(y, (-1, 3)).T, self.constraint.dual_shape)


class PowBlock(ExpBlock):
    """``PowCone3D(x, y, z, alpha)``: one power cone ``(x_i, y_i, z_i)`` of exponent ``alpha_i`` per entry."""

    kind = "power"

    @property
    def cones(self) -> tuple[float, ...]:
        return tuple(self.constraint.alpha.ravel().tolist())


_BLOCKS: dict[type, type[Block]] = {
    Equality: ZeroBlock, Inequality: NonnegBlock, SOC: SocBlock, PSD: PsdBlock, ExpCone: ExpBlock,
    PowCone3D: PowBlock,
}


def block_of(constraint: Constraint) -> Block:
    """The block of rows for ``constraint`` (its sides affine once stand-ins replace non-affine nodes)."""
    kind = _BLOCKS.get(type(constraint))
    if kind is None:
        raise CompileError(f"the conic form has no cone for the constraint {constraint} "
                           f"({type(constraint).__name__})")
    return kind(constraint)
