"""``Expression``: the base of every node in a model, with numpy-style operators.

An expression is an immutable tree (a DAG when sub-expressions are shared) whose
leaves are variables, parameters and constants and whose inner nodes are operators
and atoms. Operators follow numpy: ``+ - * /`` are elementwise with broadcasting,
``@`` is matrix multiplication, ``**`` with a constant exponent is the ``power`` atom;
comparisons build constraints (``==``, ``<=``, ``>=``; ``X >> 0`` for PSD).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from optdsl.modeling.curvature import Curvature, Sign
from optdsl.modeling.errors import ModelingError
from optdsl.modeling.printing import POSTFIX
from optdsl.modeling.shapes import Shape

if TYPE_CHECKING:
    import jax

    from optdsl.modeling.constraints import PSD, Equality, Inequality
    from optdsl.modeling.leaves import Parameter, Variable


class Expression:
    """A node of a model: shape, curvature, sign, printing, evaluation and operators."""

    # numpy must hand `ndarray (op) Expression` to our reflected operators.
    __array_ufunc__ = None
    # Comparison operators build constraints, so identity is what hashing uses.
    __hash__ = object.__hash__

    precedence: ClassVar[int] = POSTFIX
    smooth: ClassVar[bool] = True
    #: Whether ``forward`` takes sparse matrices (see :mod:`optdsl.runtime.sparse`) as arguments.
    accepts_sparse: ClassVar[bool] = False

    _args: tuple[Expression, ...]
    _shape: Shape

    # ---- structure -------------------------------------------------------------------------
    @property
    def args(self) -> tuple[Expression, ...]:
        """The child expressions (empty for leaves)."""
        return self._args

    @property
    def shape(self) -> Shape:
        """numpy-style shape: ``()`` scalar, ``(n,)`` vector, ``(m, n)`` matrix."""
        return self._shape

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self._shape)

    @property
    def size(self) -> int:
        """Number of entries."""
        return int(np.prod(self._shape, dtype=np.int64))

    def subexpressions(self) -> list[Expression]:
        """Every distinct node of this expression (itself first), depth-first, left to right."""
        seen: set[int] = set()
        order: list[Expression] = []
        stack: list[Expression] = [self]
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            order.append(node)
            stack.extend(reversed(node.args))
        return order

    def variables(self) -> list[Variable]:
        """The distinct variables, in order of first appearance."""
        from optdsl.modeling.leaves import Variable

        return [n for n in self.subexpressions() if isinstance(n, Variable)]

    def parameters(self) -> list[Parameter]:
        """The distinct parameters, in order of first appearance."""
        from optdsl.modeling.leaves import Parameter

        return [n for n in self.subexpressions() if isinstance(n, Parameter)]

    def structure_key(self) -> tuple:
        """A hashable nested tuple describing this expression (leaves by kind, name, shape, attributes)."""
        raise NotImplementedError

    # ---- analysis --------------------------------------------------------------------------
    @property
    def curvature(self) -> Curvature:
        """Curvature by the DCP rules (parameters count as constants)."""
        raise NotImplementedError

    @property
    def sign(self) -> Sign:
        """Sign known for every entry."""
        raise NotImplementedError

    def is_constant(self) -> bool:
        """No variables inside (parameters and constants only)."""
        return not self.variables()

    def is_affine(self) -> bool:
        """Constant or affine by the DCP rules."""
        return self.curvature.is_affine

    def is_convex(self) -> bool:
        """Convex (or affine or constant) by the DCP rules."""
        return self.curvature.is_convex

    def is_concave(self) -> bool:
        """Concave (or affine or constant) by the DCP rules."""
        return self.curvature.is_concave

    def is_nonneg(self) -> bool:
        """Every entry is known to be >= 0."""
        return self.sign.is_nonneg

    def is_nonpos(self) -> bool:
        """Every entry is known to be <= 0."""
        return self.sign.is_nonpos

    def is_smooth(self) -> bool:
        """Every node is differentiable on the interior of its domain (no abs, norms, max, ...)."""
        return all(node.smooth for node in self.subexpressions())

    def restricted_nodes(self) -> list[Expression]:
        """The atoms finite only on part of their argument space (``Atom.restricted_domain``) that see a variable.

        A step on the variables can leave such an atom's domain (``log(x)`` at ``x <= 0``).
        """
        from optdsl.modeling.atom import Atom

        return [n for n in self.subexpressions() if isinstance(n, Atom) and n.restricted_domain and not n.is_constant()]

    # ---- evaluation ------------------------------------------------------------------------
    def evaluate(self, values: Mapping[Any, Any], dtype: Any = None) -> jax.Array:
        """Value as a JAX array, given ``values`` for the leaves (keyed by leaf or by name).

        Traceable: works under ``jax.jit``, ``jax.vmap`` and ``jax.grad``. Constants are cast
        to ``dtype``, by default the result dtype of the supplied leaf values (float32 in,
        float32 out). Shared sub-expressions are computed once.
        """
        from optdsl.modeling.evaluation import evaluate

        return evaluate(self, values, dtype)

    # ---- printing --------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"Expression({self.curvature}, {self.sign}, {self.shape}): {self}"

    # ---- arithmetic ------------------------------------------------------------------------
    def __add__(self, other: Any) -> Expression:
        from optdsl.modeling.affine.add import add

        return add(self, other)

    def __radd__(self, other: Any) -> Expression:
        from optdsl.modeling.affine.add import add

        return add(other, self)

    def __sub__(self, other: Any) -> Expression:
        from optdsl.modeling.affine.add import add

        return add(self, -as_expression(other))

    def __rsub__(self, other: Any) -> Expression:
        from optdsl.modeling.affine.add import add

        return add(other, -self)

    def __neg__(self) -> Expression:
        from optdsl.modeling.affine.negation import negate

        return negate(self)

    def __pos__(self) -> Expression:
        return self

    def __mul__(self, other: Any) -> Expression:
        from optdsl.modeling.affine.multiply import multiply

        return multiply(self, other)

    def __rmul__(self, other: Any) -> Expression:
        from optdsl.modeling.affine.multiply import multiply

        return multiply(other, self)

    def __truediv__(self, other: Any) -> Expression:
        from optdsl.modeling.affine.divide import Divide

        return Divide(self, other)

    def __rtruediv__(self, other: Any) -> Expression:
        from optdsl.modeling.affine.divide import Divide

        return Divide(other, self)

    def __matmul__(self, other: Any) -> Expression:
        from optdsl.modeling.affine.matmul import MatMul

        return MatMul(self, other)

    def __rmatmul__(self, other: Any) -> Expression:
        from optdsl.modeling.affine.matmul import MatMul

        return MatMul(other, self)

    def __pow__(self, p: Any) -> Expression:
        from optdsl.modeling.atoms.power import power

        return power(self, p)

    def __rpow__(self, base: Any) -> Expression:
        raise ModelingError(f"power: the exponent must be a constant number, got the expression {self}")

    def __abs__(self) -> Expression:
        from optdsl.modeling.atoms.abs import abs

        return abs(self)

    def __getitem__(self, key: Any) -> Expression:
        from optdsl.modeling.affine.index import Index

        return Index(self, key)

    def __iter__(self):
        raise ModelingError(
            f"expression {self} is not iterable: index it (x[i]) or use optdsl.sum instead of the builtin sum"
        )

    @property
    def T(self) -> Expression:
        """Transpose (numpy: scalars and vectors are their own transpose)."""
        from optdsl.modeling.affine.transpose import transpose

        return transpose(self)

    def sum(self, axis: int | None = None, keepdims: bool = False) -> Expression:
        """Sum of entries along ``axis`` (all entries when None), as ``optdsl.sum``."""
        from optdsl.modeling.affine.sum import sum

        return sum(self, axis=axis, keepdims=keepdims)

    # ---- constraints -----------------------------------------------------------------------
    def __eq__(self, other: Any) -> Equality:  # type: ignore[override]
        from optdsl.modeling.constraints import Equality

        return Equality(self, other)

    def __le__(self, other: Any) -> Inequality:
        from optdsl.modeling.constraints import Inequality

        return Inequality(self, other)

    def __ge__(self, other: Any) -> Inequality:
        from optdsl.modeling.constraints import Inequality

        return Inequality(other, self, written_as_geq=True)

    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
        raise ModelingError(f"{self} != ...: '!=' constraints are not supported (they are not convex)")

    def __lt__(self, other: Any) -> Any:
        raise ModelingError(f"{self} < ...: strict inequalities are not supported; use <=")

    def __gt__(self, other: Any) -> Any:
        raise ModelingError(f"{self} > ...: strict inequalities are not supported; use >=")

    def __rshift__(self, other: Any) -> PSD:
        """``A >> B``: ``A - B`` is positive semidefinite."""
        from optdsl.modeling.constraints import psd_difference

        return psd_difference(self, other)

    def __rrshift__(self, other: Any) -> PSD:
        from optdsl.modeling.constraints import psd_difference

        return psd_difference(other, self)

    def __lshift__(self, other: Any) -> PSD:
        """``A << B``: ``B - A`` is positive semidefinite."""
        from optdsl.modeling.constraints import psd_difference

        return psd_difference(other, self)

    def __rlshift__(self, other: Any) -> PSD:
        from optdsl.modeling.constraints import psd_difference

        return psd_difference(self, other)


def as_expression(value: Any) -> Expression:
    """``value`` itself if it is an expression, else a ``Constant`` wrapping it (scalars, arrays)."""
    if isinstance(value, Expression):
        return value
    from optdsl.modeling.leaves import Constant

    return Constant(value)
