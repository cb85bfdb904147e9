"""cvxpy problems in and out: ``from_cvxpy(cvxpy_problem)`` and ``to_cvxpy(problem)``.

Both walk the expression tree node by node through two tables, one entry per node
type, so a model means the same on both sides (``huber`` uses cvxpy's scaling in
both). cvxpy is imported inside the calls: importing optdsl never imports it.

Conventions:

* leaves keep their names (a cvxpy name that is not an identifier, or is taken, gets
  a ``_2``, ``_3``, ... suffix or is replaced by ``var``/``param`` plus a number);
* ``from_cvxpy`` returns ``(problem, param_values)``: the values cvxpy's parameters hold,
  by optdsl name (parameters without a value are left out), ready for ``solve(**param_values)``;
  the optdsl parameters hold them as their ``value`` too, so ``problem.solve()`` needs no arguments;
* ``to_cvxpy`` keeps the constraint order, so ``cvx.constraints[i]`` is ``problem.constraints[i]``
  (cvxpy constraints carry no names), and sets parameter values from ``values``, or from the
  parameters' own ``value`` for those ``values`` leaves out;
* cvxpy's ``X >> 0`` constrains the symmetric part ``(X + X') / 2`` of ``X`` only, optdsl's ``PSD(X)`` also
  makes ``X`` symmetric: ``from_cvxpy`` writes ``PSD(0.5 * (X + X.T))``, and ``to_cvxpy`` writes ``X >> 0``
  and, after the model's own constraints, the equalities ``X[i, j] == X[j, i]`` the conic lowering states
  (:func:`~optdsl.compiler.conic.canonical.symmetry_equalities`);
* a ``Parameter(..., symmetric=True)`` becomes a plain parameter (cvxpy checks its values);
  ``Variable(..., symmetric=True)`` / ``PSD=True`` become an ordinary variable plus
  ``X[i, j] == X[j, i]`` for ``i < j`` (each pair once, so no row repeats another) and
  ``X >> 0``; ``bounds=[lower, upper]`` becomes ``lower <= x`` and
  ``x <= upper`` on the entries with a finite bound (a parameter bound on every entry);
  other cvxpy attributes (integer, boolean, ...) are refused, as are atoms outside
  optdsl's catalogue: the error names them;
* a leaf of more than two axes, shape ``(*batch, r, c)``, becomes one optdsl leaf of shape
  ``(prod(batch) * r, c)`` holding its ``(r, c)`` slices one below the other (row-major order, so
  ``value.reshape(cvxpy_shape)`` gives cvxpy's array back; a parameter's value is reshaped so on the way in).
  Expressions on it convert through indexing, reshape, transpose, broadcasting, entrywise operations and atoms,
  reductions over all axes, comparisons, and ``PSD`` (one constraint per slice); anything else on an
  expression of more than two axes (a reduction along an axis, a matrix product, ``trace``, ...) is refused,
  naming the expression and its shapes. ``od.Layer`` takes and returns such values in cvxpy's shapes;
* an objective with one entry (shape ``(1,)``, ``(1, 1)``) is read as the scalar it holds;
* ``pos=True`` leaves stay positive and a power's parameter exponent stays a parameter, so a
  cvxpy geometric program converts like any problem; solve it as cvxpy does, with ``gp=True``
  (``problem.compile(gp=True)``, ``problem.solve(gp=True)``, ``od.Layer(..., gp=True)``).
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import jax.numpy as jnp
import numpy as np

import optdsl.modeling as om
from optdsl.compiler.conic.canonical import symmetry_equalities
from optdsl.interop.errors import InteropError
from optdsl.modeling.affine.reshape import reshape
from optdsl.modeling.constraints import Constraint
from optdsl.modeling.expression import Expression
from optdsl.modeling.leaves import Constant

# ------------------------------------------------------------------------------------------------
# cvxpy -> optdsl
# ------------------------------------------------------------------------------------------------


def _unique_name(wanted: str, prefix: str, taken: set[str]) -> str:
    base = wanted if wanted.isidentifier() else prefix
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    taken.add(name)
    return name


def _index_key(key: Any) -> tuple:
    """A cvxpy index key as a tuple of python ints, slices and integer arrays."""
    items = key if isinstance(key, tuple) else (key,)
    plain = []
    for item in items:
        if isinstance(item, slice):
            bound = lambda v: None if v is None else operator.index(v)  # noqa: E731
            plain.append(slice(bound(item.start), bound(item.stop), bound(item.step)))
        elif isinstance(item, np.ndarray) and item.dtype == np.bool_:
            plain.extend(np.nonzero(item))  # a mask stands for the indices of its true entries, as in numpy
        elif isinstance(item, np.ndarray):
            plain.append(item.astype(np.int64))
        else:
            plain.append(operator.index(item))
    return tuple(plain)


def _layout_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The optdsl shape holding a cvxpy array: its own with at most two axes, else ``(prod(shape[:-1]), shape[-1])``.

    An N-d array's entries keep their row-major order: ``X[b, i, j]`` of a ``(B, r, c)`` array is row
    ``b * r + i``, column ``j``, so slice ``X[b]`` is the block of rows ``b * r`` to ``(b + 1) * r``.
    """
    return tuple(shape) if len(shape) <= 2 else (math.prod(shape[:-1]), shape[-1])


def _positions(shape: tuple[int, ...]) -> np.ndarray:
    """Each entry's row-major position in an array of ``shape``: index arithmetic on N-d arrays works on these."""
    return np.arange(math.prod(shape)).reshape(shape)


def _key_item(indices: np.ndarray) -> int | slice | np.ndarray:
    """Indices along one axis as an int, a slice when they step evenly upwards, else the array."""
    if indices.ndim == 0:
        return int(indices)
    steps = np.diff(indices)
    if indices.ndim == 1 and indices.size and (indices.size == 1 or steps[0] > 0 and np.all(steps == steps[0])):
        step = 1 if indices.size == 1 else int(steps[0])
        return slice(int(indices[0]), int(indices[-1]) + 1, None if step == 1 else step)
    return indices


def _take(x: Expression, positions: np.ndarray) -> Expression:
    """``x``'s entries at row-major ``positions`` (the result has their shape), as slices where they allow."""
    if x.ndim == 0:
        return x if positions.ndim == 0 else om.multiply(np.ones(positions.shape), x)
    if x.ndim == 1:
        return x[_key_item(positions)]
    rows, cols = np.divmod(positions, x.shape[1])
    if positions.ndim == 0:
        return x[int(rows), int(cols)]
    if positions.ndim == 1 and positions.size and np.all(rows == rows[0]):
        return x[int(rows[0]), _key_item(cols)]
    if positions.ndim == 1 and positions.size and np.all(cols == cols[0]):
        return x[_key_item(rows), int(cols[0])]
    if positions.ndim == 2 and positions.size and np.all(rows == rows[:, :1]) and np.all(cols == cols[:1]):
        row, col = _key_item(rows[:, 0]), _key_item(cols[0])
        if isinstance(row, slice) or isinstance(col, slice):  # two arrays would pair up, not span a block
            return x[row, col]
    return x[rows, cols]


class _FromCvxpy:
    """One conversion: cvxpy leaves to optdsl leaves (by object), shared sub-expressions kept shared.

    A cvxpy expression with more than two axes converts to the optdsl expression of its layout
    (:func:`_layout_shape`); only the rules of :func:`_n_dimensional` take such operands.
    """

    def __init__(self) -> None:
        self.leaves: dict[int, Expression] = {}
        self.cvxpy_leaves: dict[int, Any] = {}
        self.values: dict[str, np.ndarray] = {}
        self.implied: list[Constraint] = []  # constraints standing for cvxpy variable attributes
        self.groups: list[tuple[Constraint, ...]] = []  # the optdsl constraints of each cvxpy constraint, in order
        self._names: set[str] = set()
        self._done: dict[int, Expression] = {}

    # -- expressions --
    def expression(self, node: Any) -> Expression:
        key = id(node)
        if key not in self._done:
            self._done[key] = self._convert(node)
        return self._done[key]

    def operand(self, node: Any) -> Expression:
        """A child of a broadcasting operation: cvxpy's explicit scalar promotion is left to broadcasting."""
        if type(node).__name__ == "Promote":
            return self.expression(node.args[0])
        return self.expression(node)

    def broadcast(self, node: Any, shape: tuple[int, ...]) -> Expression:
        """``node`` as an operand of an entrywise result of cvxpy ``shape``: a scalar stays one, and an operand
        of fewer axes than an N-d result is broadcast by indexing (optdsl's broadcasting sees only the layouts)."""
        x = self.operand(node)
        source = tuple(node.args[0].shape if type(node).__name__ == "Promote" else node.shape)
        if x.ndim == 0 or len(shape) <= 2 or source == tuple(shape):
            return x
        return _take(x, np.broadcast_to(_positions(source), shape).reshape(_layout_shape(shape)))

    def _convert(self, node: Any) -> Expression:
        kind = type(node).__name__
        if kind in ("Variable", "Parameter"):
            return self._leaf(node, kind)
        if kind == "Constant":
            value = node.value
            value = value.toarray() if hasattr(value, "toarray") else np.asarray(value, dtype=float)
            return Constant(np.reshape(value, _layout_shape(value.shape)))
        if any(len(shape) > 2 for shape in (node.shape, *(a.shape for a in node.args))):
            return _n_dimensional(self, node, kind)
        rule = _FROM_EXPRESSIONS.get(kind)
        if rule is None:
            raise InteropError(
                f"from_cvxpy: the cvxpy atom {kind!r} (in {node}) has no optdsl counterpart; "
                f"supported: {sorted(_FROM_EXPRESSIONS)}")
        return rule(self, node)

    def _leaf(self, node: Any, kind: str) -> Expression:
        attributes = {k: v for k, v in node.attributes.items() if v}
        allowed = {"nonneg", "nonpos", "pos", "symmetric"} | ({"PSD", "bounds"} if kind == "Variable" else set())
        refused = sorted(set(attributes) - allowed)
        if refused:
            raise InteropError(f"from_cvxpy: {kind.lower()} {node.name()!r} has attributes {refused} "
                               f"with no optdsl counterpart (supported: {sorted(allowed)})")
        name = _unique_name(node.name(), "var" if kind == "Variable" else "param", self._names)
        flags = {flag: bool(attributes.get(flag)) for flag in ("nonneg", "nonpos", "pos")}
        shape = tuple(node.shape)
        if kind == "Variable":
            leaf = om.Variable(_layout_shape(shape), name=name, **flags)
            if (attributes.get("symmetric") or attributes.get("PSD")) and len(shape) >= 2 and shape[-1] > 1:
                rows, cols = np.triu_indices(shape[-1], 1)
                upper, lower = (np.divmod(_positions(shape)[..., i, j].ravel(), shape[-1])
                                for i, j in ((rows, cols), (cols, rows)))
                self.implied.append(leaf[upper] == leaf[lower])
            if attributes.get("PSD"):
                self.implied.extend(_psd_slices(leaf, shape))
            if attributes.get("bounds"):
                self.implied.extend(self._bounds(leaf, shape, *attributes["bounds"]))
        else:
            value = None if node.value is None else np.reshape(np.asarray(node.value, dtype=float),
                                                               _layout_shape(shape))
            leaf = om.Parameter(_layout_shape(shape), name=name, value=value, **flags)
            if value is not None:
                self.values[name] = value
        self.leaves[id(node)] = leaf
        self.cvxpy_leaves[id(node)] = node
        return leaf

    def _bounds(self, leaf: Expression, shape: tuple[int, ...], lower: Any, upper: Any) -> list[Constraint]:
        """``lower <= x <= upper`` for cvxpy's ``bounds``: numeric bounds on their finite entries only."""
        found = []
        for bound, below in ((lower, True), (upper, False)):
            if hasattr(bound, "variables"):  # a cvxpy expression of parameters
                found.append(self.broadcast(bound, shape) <= leaf if below else leaf <= self.broadcast(bound, shape))
                continue
            value = np.asarray(bound, dtype=float)
            if len(shape) > 2 and value.ndim:
                value = np.broadcast_to(value, shape).reshape(leaf.shape)
            finite = np.isfinite(np.broadcast_to(value, leaf.shape))
            if not finite.any():
                continue
            part = leaf
            if not finite.all():
                part, value = leaf[np.nonzero(finite)], np.broadcast_to(value, finite.shape)[finite]
            found.append(Constant(value) <= part if below else part <= Constant(value))
        return found

    # -- constraints --
    def constraints(self, node: Any) -> tuple[Constraint, ...]:
        """The optdsl constraints of a cvxpy one: one, or one per slice for ``PSD`` on an N-d expression."""
        kind = type(node).__name__
        args = node.args
        if any(len(a.shape) > 2 for a in args):
            return _n_dimensional_constraint(self, node, kind)
        return (self._constraint(node, kind, args),)

    def _constraint(self, node: Any, kind: str, args: list) -> Constraint:
        if kind == "Inequality":
            return self.operand(args[0]) <= self.operand(args[1])
        if kind == "Equality":
            return self.operand(args[0]) == self.operand(args[1])
        if kind == "Zero":
            return self.expression(args[0]) == 0
        if kind == "NonNeg":
            return self.expression(args[0]) >= 0
        if kind == "NonPos":
            return self.expression(args[0]) <= 0
        if kind == "PSD":
            return _psd_slices(self.expression(args[0]), tuple(args[0].shape), symmetric_part=True)[0]
        if kind == "ExpCone":
            return om.ExpCone(*(self.expression(a) for a in args))
        if kind in ("PowCone3D", "PowCone3DApprox"):
            x, y, z = (self.expression(a) for a in args)
            return om.PowCone3D(x, y, z, np.reshape(node.alpha.value, x.shape))
        if kind == "SOC":
            t, x = self.expression(args[0]), self.expression(args[1])
            if x.ndim == 1:
                return om.SOC(reshape(t, ()), x)
            return om.SOC(reshape(t, (t.size,)), x, axis=node.axis)
        raise InteropError(f"from_cvxpy: the cvxpy constraint {kind!r} ({node}) has no optdsl counterpart")

    # -- values --
    def value(self, node: Any) -> np.ndarray | None:
        """The value of cvxpy leaf ``node``'s optdsl counterpart (after a solve), in cvxpy's shape."""
        value = self.leaves[id(node)].value
        return None if value is None else np.asarray(cvxpy_value([value], n_dimensional_shape(node)))

    def dual_value(self, position: int, constraint: Any) -> np.ndarray | None:
        """The dual value of cvxpy ``constraint``, number ``position`` of its problem, in cvxpy's shape."""
        duals = [c.dual_value for c in self.groups[position]]
        if any(d is None for d in duals):
            return None
        return np.asarray(cvxpy_value(duals, n_dimensional_shape(constraint)))

    def parameter_values(self) -> dict[str, np.ndarray]:
        """The values the cvxpy parameters hold now, by optdsl name and in its layout (unset ones left out)."""
        values = {}
        for key, node in self.cvxpy_leaves.items():
            if type(node).__name__ == "Parameter" and node.value is not None:
                leaf = self.leaves[key]
                values[leaf.name] = np.reshape(np.asarray(node.value, dtype=float), leaf.shape)
        return values


def _psd_slices(x: Expression, shape: tuple[int, ...], symmetric_part: bool = False) -> list[Constraint]:
    """``PSD`` of each ``(n, n)`` slice along the last two axes of an expression of cvxpy ``shape`` (its layout).

    ``symmetric_part``: of each slice's symmetric part ``(S + S') / 2``, which is what cvxpy's ``S >> 0`` constrains;
    optdsl's ``PSD(S)`` also makes ``S`` symmetric.
    """
    n = shape[-1]
    slices = [x] if len(shape) == 2 else [x[k * n:(k + 1) * n, :] for k in range(math.prod(shape[:-2]))]
    return [om.PSD(0.5 * (S + S.T) if symmetric_part else S) for S in slices]


def n_dimensional_shape(node: Any) -> tuple[int, ...] | None:
    """The shape of a cvxpy leaf or constraint whose optdsl counterpart has another layout, else ``None``."""
    return tuple(node.shape) if len(node.shape) > 2 else None


def cvxpy_value(parts: list[Any], shape: tuple[int, ...] | None, batch: tuple[int, ...] = ()) -> Any:
    """A value of cvxpy ``shape`` from the optdsl values of its layout: one array, or one per slice (stacked).

    ``batch`` is the shape of the leading axes the values have beyond it; ``shape=None`` leaves the
    single value as it is (a leaf or constraint of at most two axes).
    """
    if shape is None:
        (value,) = parts
        return value
    value = parts[0] if len(parts) == 1 else jnp.stack([jnp.asarray(p) for p in parts], axis=len(batch))
    return value.reshape((*batch, *shape))


def _rearranged(conv: _FromCvxpy, node: Any, positions: Callable[[np.ndarray], np.ndarray]) -> Expression:
    """A cvxpy node that only moves its operand's entries, as ``positions`` moves the operand's row-major positions.

    Any number of axes: the result is read off the operand's layout by index (see :func:`_layout_shape`).
    """
    source = tuple(node.args[0].shape)
    try:
        moved = positions(_positions(source))
    except (TypeError, IndexError, ValueError) as error:
        raise InteropError(f"from_cvxpy: {node} on shape {source} is not supported ({error})") from None
    if moved.shape != tuple(node.shape):
        raise InteropError(f"from_cvxpy: {node} on shape {source} gives shape {moved.shape} in numpy but "
                           f"{tuple(node.shape)} in cvxpy")
    return _take(conv.expression(node.args[0]), moved.reshape(_layout_shape(moved.shape)))


def _reshape_from(conv: _FromCvxpy, node: Any) -> Expression:
    shape, order = node.get_data()
    x = conv.expression(node.args[0])
    if len(node.args[0].shape) > 2 or len(shape) > 2:
        return _rearranged(conv, node, lambda positions: np.reshape(positions, tuple(shape), order=order))
    if order == "C" or x.ndim <= 1 and len(shape) <= 1:
        return reshape(x, tuple(shape))
    return om.transpose(reshape(om.transpose(x), tuple(reversed(shape))))  # column-major order


def _add(conv: _FromCvxpy, node: Any) -> Expression:
    """A sum without its constant zero terms where another term has the sum's shape (cvxpy writes ``X >> 0``
    as ``PSD(X + -0.0)``)."""
    def zero(a: Any) -> bool:
        return not a.parameters() and not a.variables() and not np.any(a.value)

    full = [a for a in node.args if tuple(a.shape) == tuple(node.shape) and not zero(a)]
    terms = [a for a in node.args if not zero(a)] if full else node.args
    return functools.reduce(operator.add, (conv.operand(a) for a in terms))


def _promote(conv: _FromCvxpy, node: Any) -> Expression:
    x = conv.expression(node.args[0])
    shape = _layout_shape(tuple(node.shape))
    if isinstance(x, Constant):
        return Constant(np.broadcast_to(x.value, shape))
    return om.multiply(np.ones(shape), x)


def _broadcast_to(conv: _FromCvxpy, node: Any) -> Expression:
    return _rearranged(conv, node, lambda positions: np.broadcast_to(positions, tuple(node.shape)))


def _matmul(conv: _FromCvxpy, node: Any) -> Expression:
    a, b = (conv.expression(arg) for arg in node.args)
    return om.multiply(a, b) if a.shape == () or b.shape == () else a @ b


def _power(conv: _FromCvxpy, node: Any) -> Expression:
    x, p = conv.expression(node.args[0]), node.get_data()[0]
    if hasattr(p, "variables"):  # a parameter exponent, as geometric programs have
        return om.power(x, conv.expression(p))
    p = float(p)
    named = {1.0: lambda v: v, 2.0: om.square, 0.5: om.sqrt, -1.0: om.inv_pos}
    return named[p](x) if p in named else om.power(x, p)


def _pnorm(conv: _FromCvxpy, node: Any) -> Expression:
    p, axis, keepdims = node.get_data()[:3]
    x, p = conv.expression(node.args[0]), float(p)
    if p == -1.0 and axis is None:  # cvxpy's harmonic_mean(x) is x.size * pnorm(x, -1)
        return om.harmonic_mean(x) / x.size
    named = {1.0: om.norm1, 2.0: om.norm2, math.inf: om.norm_inf}
    if p in named:
        return named[p](x, axis=axis, keepdims=keepdims)
    return om.pnorm(x, p, axis=axis, keepdims=keepdims)


def _geo_mean(conv: _FromCvxpy, node: Any) -> Expression:
    x = conv.expression(node.args[0])
    if node.axis is not None:
        raise InteropError(f"from_cvxpy: {node}: geo_mean along an axis is not supported")
    weights = np.zeros(x.size)
    weights[np.asarray(node._keep)] = np.asarray(node.p, dtype=float)  # cvxpy drops the entries of weight 0
    if np.all(weights == weights[0]):
        return om.geo_mean(x)
    return om.geo_mean(x, np.reshape(weights, x.shape, order="F"))  # cvxpy pairs weights and entries column-major


def _quad_over_lin(conv: _FromCvxpy, node: Any) -> Expression:
    x, y = (conv.expression(a) for a in node.args)
    if isinstance(y, Constant) and y.shape == ():
        return om.sum_squares(x) if float(y.value) == 1.0 else om.sum_squares(x) / y
    return om.quad_over_lin(x, y)


def _quad_form(conv: _FromCvxpy, node: Any) -> Expression:
    x, P = node.args
    if type(P).__name__ == "psd_wrap":
        P = P.args[0]
    return om.quad_form(conv.expression(x), conv.expression(P))


def _maximum(conv: _FromCvxpy, node: Any) -> Expression:
    args = [conv.operand(a) for a in node.args]
    zero = [a for a in args if isinstance(a, Constant) and not np.any(a.value)]
    if len(args) == 2 and len(zero) == 1:
        return om.pos(next(a for a in args if a is not zero[0]))
    return om.maximum(*args)


def _reduction(atom: Callable[..., Expression]) -> Callable[[_FromCvxpy, Any], Expression]:
    def rule(conv: _FromCvxpy, node: Any) -> Expression:
        axis = node.get_data()[0]
        return atom(conv.expression(node.args[0]), axis=axis, keepdims=bool(getattr(node, "keepdims", False)))
    return rule


def _counting(atom: Callable[..., Expression]) -> Callable[[_FromCvxpy, Any], Expression]:
    """A rule for an atom with a count ``k`` and, for entries, an axis (``sum_largest``, ``lambda_sum_largest``)."""
    def rule(conv: _FromCvxpy, node: Any) -> Expression:
        k, *axis = node.get_data()
        return atom(conv.expression(node.args[0]), float(k), *axis)
    return rule


def _unary(atom: Callable[[Any], Expression]) -> Callable[[_FromCvxpy, Any], Expression]:
    return lambda conv, node: atom(conv.expression(node.args[0]))


def _elementwise(atom: Callable[..., Expression]) -> Callable[[_FromCvxpy, Any], Expression]:
    return lambda conv, node: atom(*(conv.operand(a) for a in node.args))


def _diag(conv: _FromCvxpy, node: Any) -> Expression:
    if node.get_data()[0] != 0:
        raise InteropError(f"from_cvxpy: {node}: only the main diagonal (k=0) has an optdsl counterpart")
    return om.diag(conv.expression(node.args[0]))


def _cumsum(conv: _FromCvxpy, node: Any) -> Expression:
    x, axis = conv.expression(node.args[0]), node.get_data()[0]
    if axis is None and x.ndim > 1:
        raise InteropError(f"from_cvxpy: {node}: cumsum over a flattened matrix (axis=None) is not supported")
    return om.cumsum(x, axis=axis or 0)


def _transpose(conv: _FromCvxpy, node: Any) -> Expression:
    if node.get_data()[0] not in (None, (1, 0)):
        raise InteropError(f"from_cvxpy: {node}: transpose with axes {node.get_data()[0]} is not supported")
    return om.transpose(conv.expression(node.args[0]))


_FROM_EXPRESSIONS: dict[str, Callable[[_FromCvxpy, Any], Expression]] = {
    # affine
    "AddExpression": lambda conv, node: _add(conv, node),
    "NegExpression": lambda conv, node: -conv.expression(node.args[0]),
    "multiply": _elementwise(om.multiply),
    "MulExpression": _matmul,
    "DivExpression": _elementwise(operator.truediv),
    "Promote": _promote,
    "broadcast_to": _broadcast_to,
    "index": lambda conv, node: conv.expression(node.args[0])[_index_key(node.get_data()[-1])],
    "special_index": lambda conv, node: conv.expression(node.args[0])[_index_key(node.get_data()[-1])],
    "reshape": _reshape_from,
    "transpose": _transpose,
    "Trace": _unary(om.trace),
    "diag_vec": _diag,
    "diag_mat": _diag,
    "cumsum": _cumsum,
    "Hstack": lambda conv, node: om.hstack([conv.expression(a) for a in node.args]),
    "Vstack": lambda conv, node: om.vstack([conv.expression(a) for a in node.args]),
    "Concatenate": lambda conv, node: om.concatenate([conv.expression(a) for a in node.args],
                                                     axis=node.get_data()[0]),
    "Sum": lambda conv, node: om.sum(conv.expression(node.args[0]), *node.get_data()[:2]),
    # atoms
    "abs": _unary(om.abs),
    "entr": _unary(om.entropy),
    "exp": _unary(om.exp),
    "huber": lambda conv, node: om.huber(conv.expression(node.args[0]), float(node.get_data()[0].value)),
    "kl_div": _elementwise(om.kl_div),
    "rel_entr": _elementwise(om.rel_entr),
    "lambda_max": _unary(om.lambda_max),
    "lambda_sum_largest": _counting(om.lambda_sum_largest),
    "sum_largest": _counting(om.sum_largest),
    "sigma_max": _unary(om.sigma_max),
    "normNuc": _unary(om.normNuc),
    "Prod": _reduction(om.prod),
    "kron": lambda conv, node: om.kron(*(conv.expression(a) for a in node.args)),
    "upper_tri": _unary(om.upper_tri),
    "log": _unary(om.log),
    "log_det": _unary(om.log_det),
    "log_sum_exp": _reduction(om.log_sum_exp),
    "logistic": _unary(om.logistic),
    "QuadForm": _quad_form,
    "MatrixFrac": lambda conv, node: om.matrix_frac(*(conv.expression(a) for a in node.args)),
    "max": _reduction(om.max),
    "min": _reduction(om.min),
    "maximum": _maximum,
    "minimum": _elementwise(om.minimum),
    "norm1": _reduction(om.norm1),
    "norm_inf": _reduction(om.norm_inf),
    "Pnorm": _pnorm,
    "PnormApprox": _pnorm,
    "power": _power,
    "Power": _power,
    "PowerApprox": _power,
    "GeoMean": _geo_mean,
    "GeoMeanApprox": _geo_mean,
    "quad_over_lin": _quad_over_lin,
}


#: Rules entrywise in their (broadcast) operands: on N-d operands they run unchanged on the layouts.
_ENTRYWISE = frozenset({"AddExpression", "NegExpression", "multiply", "DivExpression", "abs", "entr", "exp", "log",
                        "logistic", "huber", "kl_div", "rel_entr", "maximum", "minimum", "power", "Power",
                        "PowerApprox"})
#: Reductions that do not depend on the entries' order: over all axes they run on an N-d operand's layout.
_WHOLE_REDUCTIONS = frozenset({"Sum", "max", "min", "norm1", "norm_inf", "Pnorm", "PnormApprox", "log_sum_exp",
                               "sum_largest", "quad_over_lin"})


class _Broadcasting:
    """A conversion seen from an entrywise operation with an N-d result: each operand comes broadcast to it."""

    def __init__(self, conv: _FromCvxpy, shape: tuple[int, ...]):
        self._conv, self._shape = conv, shape

    def expression(self, node: Any) -> Expression:
        return self._conv.broadcast(node, self._shape)

    operand = expression


#: Rules that move entries, on operands or results of any number of axes.
_REARRANGING: dict[str, Callable[[_FromCvxpy, Any], Expression]] = {
    "index": lambda conv, node: _rearranged(conv, node, lambda p: p[_index_key(node.get_data()[-1])]),
    "special_index": lambda conv, node: _rearranged(conv, node, lambda p: p[_index_key(node.get_data()[-1])]),
    "transpose": lambda conv, node: _rearranged(conv, node, lambda p: np.transpose(p, node.get_data()[0])),
    "reshape": _reshape_from,
    "Promote": _promote,
    "broadcast_to": _broadcast_to,
}


def _shapes_text(node: Any) -> str:
    operands = ", ".join(str(tuple(a.shape)) for a in node.args)
    return f"shape {tuple(node.shape)}, operands of shapes ({operands})"


def _n_dimensional(conv: _FromCvxpy, node: Any, kind: str) -> Expression:
    """A cvxpy expression with an operand or result of more than two axes, on the layouts (:func:`_layout_shape`)."""
    if kind in _REARRANGING:
        return _REARRANGING[kind](conv, node)
    if kind in _ENTRYWISE and len(node.shape) > 2:
        return _FROM_EXPRESSIONS[kind](_Broadcasting(conv, tuple(node.shape)), node)  # type: ignore[arg-type]
    if kind in _WHOLE_REDUCTIONS and node.shape == () and getattr(node, "axis", None) is None:
        return _FROM_EXPRESSIONS[kind](conv, node)
    raise InteropError(
        f"from_cvxpy: {kind!r} in {node} ({_shapes_text(node)}) is not supported on arrays of more than two axes; "
        f"they convert through indexing, reshape, transpose, broadcasting, the entrywise {sorted(_ENTRYWISE)} and the "
        f"reductions over all axes {sorted(_WHOLE_REDUCTIONS)}")


def _n_dimensional_constraint(conv: _FromCvxpy, node: Any, kind: str) -> tuple[Constraint, ...]:
    """A cvxpy constraint on N-d expressions: entrywise on the layouts, ``PSD`` one constraint per slice."""
    args, shape = node.args, tuple(node.shape)
    if kind == "Inequality":
        return (conv.broadcast(args[0], shape) <= conv.broadcast(args[1], shape),)
    if kind == "Equality":
        return (conv.broadcast(args[0], shape) == conv.broadcast(args[1], shape),)
    if kind in ("Zero", "NonNeg", "NonPos"):
        return (conv._constraint(node, kind, args),)
    if kind == "PSD":
        return tuple(_psd_slices(conv.expression(args[0]), tuple(args[0].shape), symmetric_part=True))
    raise InteropError(f"from_cvxpy: the cvxpy constraint {kind!r} ({node}; {_shapes_text(node)}) is not "
                       f"supported on arrays of more than two axes (Inequality, Equality, Zero, NonNeg, NonPos "
                       f"and PSD are)")


def _convert_problem(problem: Any) -> tuple[om.Problem, _FromCvxpy]:
    import cvxpy as cp

    if not isinstance(problem, cp.Problem):
        raise InteropError(f"from_cvxpy expects a cvxpy.Problem, got {type(problem).__name__}")
    conv = _FromCvxpy()
    sense = {"Minimize": om.Minimize, "Maximize": om.Maximize}[type(problem.objective).__name__]
    expr = conv.expression(problem.objective.args[0])
    objective = sense(reshape(expr, ()) if expr.size == 1 and expr.ndim else expr)
    conv.groups = [conv.constraints(c) for c in problem.constraints]
    return om.Problem(objective, [*(c for group in conv.groups for c in group), *conv.implied]), conv


def from_cvxpy(problem: Any) -> tuple[om.Problem, dict[str, np.ndarray]]:
    """An optdsl ``Problem`` equivalent to the cvxpy problem, and its parameters' current values.

    Returns ``(problem, param_values)``: ``param_values`` maps optdsl parameter names to the
    values the cvxpy parameters hold (unset ones are left out), so
    ``problem.compile()(**param_values)`` solves what ``cvxpy_problem.solve()`` would; the optdsl
    parameters hold the same values, so ``problem.solve()`` and ``problem.compile()()`` do too.
    Raises :class:`~optdsl.interop.errors.InteropError` naming any atom, constraint or
    variable attribute with no optdsl counterpart.
    """
    converted, conv = _convert_problem(problem)
    return converted, dict(conv.values)


# ------------------------------------------------------------------------------------------------
# optdsl -> cvxpy
# ------------------------------------------------------------------------------------------------


def _to_norm2(cp: Any, node: Any, x: Any) -> Any:
    if node.axis is None:
        return cp.norm(cp.vec(x, order="C"), 2) if x.ndim > 1 else cp.norm(x, 2)
    return cp.norm(x, 2, axis=node.axis, keepdims=node.keepdims)


def _cvxpy_rounds(*exponents: float) -> bool:
    """Whether cvxpy's rational approximation (denominators up to 1024) would change an exponent or weight."""
    return any(Fraction(e).limit_denominator(1024) != e for e in exponents)


def _to_geo_mean(cp: Any, node: Any, x: Any) -> Any:
    if node.p is None:
        return cp.geo_mean(x)
    flat = cp.vec(x, order="C") if x.ndim > 1 else x
    return cp.geo_mean(flat, list(node.p), approx=not _cvxpy_rounds(*node.p))


def _to_quad_form(cp: Any, node: Any, x: Any, P: Any) -> Any:
    return cp.quad_form(x, P, assume_PSD=node.is_convex())  # optdsl has already checked the curvature


_TO_EXPRESSIONS: dict[str, Callable[..., Any]] = {
    # affine
    "Add": lambda cp, node, *args: functools.reduce(operator.add, args),
    "Negation": lambda cp, node, x: -x,
    "Multiply": lambda cp, node, a, b: cp.multiply(a, b),
    "MatMul": lambda cp, node, a, b: a @ b,
    "Divide": lambda cp, node, a, b: a / b,
    "Index": lambda cp, node, x: x[node.key],
    "Reshape": lambda cp, node, x: cp.reshape(x, node.new_shape, order="C"),
    "Transpose": lambda cp, node, x: x.T,
    "Trace": lambda cp, node, x: cp.trace(x),
    "Diag": lambda cp, node, x: cp.diag(x),
    "Cumsum": lambda cp, node, x: cp.cumsum(x, axis=node.axis),
    "Concatenate": lambda cp, node, *parts: cp.concatenate(list(parts), axis=node.axis),
    "HStack": lambda cp, node, *parts: cp.hstack(list(parts)),
    "VStack": lambda cp, node, *parts: cp.vstack(list(parts)),
    "Sum": lambda cp, node, x: cp.sum(x, axis=node.axis, keepdims=node.keepdims),
    # atoms
    "Abs": lambda cp, node, x: cp.abs(x),
    "Entropy": lambda cp, node, x: cp.entr(x),
    "Exp": lambda cp, node, x: cp.exp(x),
    "Huber": lambda cp, node, x: cp.huber(x, node.M),
    "InvPos": lambda cp, node, x: cp.inv_pos(x),
    "KlDiv": lambda cp, node, x, y: cp.kl_div(x, y),
    "RelEntr": lambda cp, node, x, y: cp.rel_entr(x, y),
    "LambdaMax": lambda cp, node, X: cp.lambda_max(X),
    "LambdaSumLargest": lambda cp, node, X: cp.lambda_sum_largest((X + X.T) / 2, node.k),
    "SumLargest": lambda cp, node, x: cp.sum_largest(x, node.k, axis=node.axis, keepdims=node.keepdims),
    "SigmaMax": lambda cp, node, X: cp.sigma_max(X),
    "NormNuc": lambda cp, node, X: cp.normNuc(X),
    "Prod": lambda cp, node, x: cp.prod(x, axis=node.axis, keepdims=node.keepdims),
    "HarmonicMean": lambda cp, node, x: cp.harmonic_mean(x),
    "Log": lambda cp, node, x: cp.log(x),
    "LogDet": lambda cp, node, X: cp.log_det(X),
    "LogSumExp": lambda cp, node, x: cp.log_sum_exp(x, axis=node.axis, keepdims=node.keepdims),
    "Logistic": lambda cp, node, x: cp.logistic(x),
    "MatrixFrac": lambda cp, node, x, P: cp.matrix_frac(x, P),
    "Max": lambda cp, node, x: cp.max(x, axis=node.axis, keepdims=node.keepdims),
    "Min": lambda cp, node, x: cp.min(x, axis=node.axis, keepdims=node.keepdims),
    "Maximum": lambda cp, node, *args: cp.maximum(*args),
    "Minimum": lambda cp, node, *args: cp.minimum(*args),
    "Neg": lambda cp, node, x: cp.neg(x),
    "Pos": lambda cp, node, x: cp.pos(x),
    "Norm1": lambda cp, node, x: cp.norm1(x, axis=node.axis, keepdims=node.keepdims),
    "Norm2": _to_norm2,
    "NormInf": lambda cp, node, x: cp.norm_inf(x, axis=node.axis, keepdims=node.keepdims),
    "GeoMean": _to_geo_mean,
    "Pnorm": lambda cp, node, x: cp.pnorm(x, node.p, axis=node.axis, keepdims=node.keepdims,
                                          approx=not _cvxpy_rounds(node.p)),
    "Power": lambda cp, node, x: cp.power(x, node.p, approx=not _cvxpy_rounds(node.p)),
    "ParameterPower": lambda cp, node, x, c: cp.power(x, c),
    "QuadForm": _to_quad_form,
    "QuadOverLin": lambda cp, node, x, y: cp.quad_over_lin(x, y),
    "Sqrt": lambda cp, node, x: cp.sqrt(x),
    "Square": lambda cp, node, x: cp.square(x),
    "SumSquares": lambda cp, node, x: cp.sum_squares(x),
}


def _sign_attributes(leaf: om.Variable | om.Parameter) -> dict[str, bool]:
    """A leaf's declared sign as cvxpy's attributes (cvxpy takes one of pos and nonneg)."""
    return {"pos": leaf.pos, "nonneg": leaf.nonneg and not leaf.pos, "nonpos": leaf.nonpos}


class _ToCvxpy:
    def __init__(self, cp: Any, values: Mapping[str, Any]):
        self.cp = cp
        self.values = values
        self._done: dict[int, Any] = {}

    def expression(self, node: Expression) -> Any:
        key = id(node)
        if key not in self._done:
            self._done[key] = self._convert(node)
        return self._done[key]

    def _convert(self, node: Expression) -> Any:
        cp = self.cp
        if isinstance(node, om.Variable):
            return cp.Variable(node.shape, name=node.name, **_sign_attributes(node))
        if isinstance(node, om.Parameter):
            parameter = cp.Parameter(node.shape, name=node.name, **_sign_attributes(node))
            value = self.values.get(node.name, node.value)
            if value is not None:
                parameter.value = np.asarray(value, dtype=float)
            return parameter
        if isinstance(node, Constant):
            return cp.Constant(np.asarray(node.value))
        rule = _TO_EXPRESSIONS.get(type(node).__name__)
        if rule is None:
            raise InteropError(f"to_cvxpy: the optdsl atom {getattr(node, 'name', type(node).__name__)!r} "
                               f"(in {node}) has no cvxpy counterpart")
        return rule(cp, node, *(self.expression(a) for a in node.args))

    def constraint(self, constraint: Constraint) -> Any:
        cp = self.cp
        args = [self.expression(a) for a in constraint.args]
        if isinstance(constraint, om.Equality):
            return args[0] == args[1]
        if isinstance(constraint, om.Inequality):
            return args[0] <= args[1]
        if isinstance(constraint, om.SOC):
            t, x = args
            return cp.SOC(t, x) if constraint.axis is None else cp.SOC(t, x, axis=constraint.axis)
        if isinstance(constraint, om.PSD):
            (X,) = args
            return X >> 0  # the symmetry optdsl's PSD states too follows in symmetry_equalities
        if isinstance(constraint, om.ExpCone):
            return cp.constraints.ExpCone(*args)
        if isinstance(constraint, om.PowCone3D):
            return cp.constraints.PowCone3D(*args, constraint.alpha)
        raise InteropError(f"to_cvxpy: the constraint {constraint} ({type(constraint).__name__}) "
                           "has no cvxpy counterpart")


def to_cvxpy(problem: om.Problem, values: Mapping[str, Any] | None = None) -> Any:
    """The same problem as a ``cvxpy.Problem`` (leaves keep their names; constraints keep their order, followed by
    the symmetry equalities of its ``PSD`` constraints).

    ``values`` (parameter name -> array) sets the cvxpy parameters' values, a parameter it leaves
    out keeps its own ``Parameter.value`` (none if unset); the variables are then reachable as
    ``cvx.var_dict[name]`` and the parameters as ``cvx.param_dict[name]``.
    Raises :class:`~optdsl.interop.errors.InteropError` for an atom cvxpy lacks (``sin``, ...).
    """
    import cvxpy as cp

    if not isinstance(problem, om.Problem):
        raise InteropError(f"to_cvxpy expects an optdsl Problem, got {type(problem).__name__}")
    values = dict(values or {})
    unknown = sorted(set(values) - {p.name for p in problem.parameters()})
    if unknown:
        raise InteropError(f"to_cvxpy: values given for unknown parameters {unknown}")
    conv = _ToCvxpy(cp, values)
    sense = cp.Minimize if isinstance(problem.objective, om.Minimize) else cp.Maximize
    objective = sense(conv.expression(problem.objective.expr))
    symmetry = [conv.constraint(c) for c in symmetry_equalities(problem)]
    return cp.Problem(objective, [conv.constraint(c) for c in problem.constraints] + symmetry)
