"""Leaves of the expression tree: ``Variable``, ``Parameter`` and ``Constant``.

Variables are what a solve decides; parameters are data supplied at call time
(the compiled solution is differentiable in them); constants are fixed numbers
baked into the model. Variables and parameters compare and hash by identity and
carry a name: given, or generated ("var1", "param2", ... from process-wide counters).
Both hold an optional ``value``, checked against the declared shape and sign when set:
a parameter's is the default of a call that omits it, a variable's is what
``Problem.solve`` found.
"""

from __future__ import annotations

import itertools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optdsl.errors import ArgumentTypeError, ParameterError
from optdsl.modeling.curvature import Curvature, Sign
from optdsl.modeling.errors import ModelingError
from optdsl.modeling.expression import Expression
from optdsl.modeling.printing import POSTFIX, UNARY, format_array
from optdsl.modeling.shapes import Shape, normalize_shape


def refuse_traced(what: str, value: Any) -> None:
    """Raise an ``ArgumentTypeError`` if ``value`` holds a JAX tracer: ``.value`` keeps concrete numbers on the host.

    Inside ``jax.jit`` / ``grad`` / ``vmap`` there are no numbers to keep; the message names the traceable calls
    that take their place.
    """
    if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(value)):
        raise ArgumentTypeError(
            f"{what} inside a traced function (jax.jit, grad, vmap): .value and Problem.solve keep concrete "
            f"numbers on the host, and a traced value has none. Call the compiled problem instead, "
            f"sol = problem.compile()(name=value, ...), and read sol['x'], sol.objective and sol.duals, or use "
            f"od.Layer(problem, parameters, variables); both are traceable and differentiable")


class Leaf(Expression):
    """A node without children."""

    _args = ()


class _Declared(Leaf):
    """A named leaf with an optional declared sign (the common part of Variable and Parameter)."""

    kind: str
    _counter: itertools.count
    #: The declared attributes, as keyword arguments (in ``structure_key`` and ``repr``).
    _flags: tuple[str, ...] = ("nonneg", "nonpos", "pos")

    def __init__(self, shape: int | tuple[int, ...] = (), name: str | None = None, nonneg: bool = False,
                 nonpos: bool = False, pos: bool = False):
        self._shape = normalize_shape(shape, self.kind)
        if name is None:
            name = f"{self._prefix}{next(self._counter)}"
        if not isinstance(name, str) or not name.isidentifier():
            raise ModelingError(f"{self.kind}: name must be an identifier string, got {name!r}")
        if nonpos and (nonneg or pos):
            both = "pos and nonpos" if pos else "nonneg and nonpos"
            raise ModelingError(f"{self.kind} {name!r}: {both} cannot both be declared")
        self._name = name
        self._nonneg = bool(nonneg)
        self._nonpos = bool(nonpos)
        self._pos = bool(pos)
        self._value: np.ndarray | None = None

    @property
    def name(self) -> str:
        """The leaf's name, unique within a problem."""
        return self._name

    @property
    def nonneg(self) -> bool:
        """Declared ``>= 0`` (``pos`` implies it)."""
        return self._nonneg or self._pos

    @property
    def nonpos(self) -> bool:
        """Declared ``<= 0``."""
        return self._nonpos

    @property
    def pos(self) -> bool:
        """Declared ``> 0`` entry by entry: what a geometric program (``compile(gp=True)``) needs of every leaf."""
        return self._pos

    @property
    def sign(self) -> Sign:
        return Sign.from_flags(self.nonneg, self._nonpos)

    @property
    def value(self) -> np.ndarray | None:
        """The leaf's value (read-only array), or ``None`` while unset; ``leaf.value = v`` checks ``v``.

        A value must be real, of the leaf's shape and within what is declared (``nonneg``, ``psd``, ...,
        up to the solver tolerance); otherwise a ``ParameterError`` names the leaf.
        """
        return self._value

    @value.setter
    def value(self, value: Any) -> None:
        self._value = None if value is None else self._checked(value)

    def _checked(self, value: Any) -> np.ndarray:
        from optdsl.compiler.domains import DECLARED
        from optdsl.runtime.compiled import as_numeric
        from optdsl.runtime.domains import Domains, Requirement

        refuse_traced(f"{self.kind} {self._name!r}: setting .value", value)
        array = as_numeric(self._name, value, self.kind)
        if np.iscomplexobj(array):
            raise ParameterError(f"{self.kind} {self._name!r}: a complex value; optdsl models are real")
        array = np.array(array, dtype=array.dtype if np.issubdtype(array.dtype, np.floating) else np.float64)
        if array.shape != self._shape:
            raise ParameterError(f"{self.kind} {self._name!r} has shape {self._shape}; got a value of shape "
                                 f"{array.shape}")
        name = self._name
        requirements = tuple(
            Requirement(f"{self.kind} {name!r}", self._shape, prop, f"is declared {flag}",
                        lambda values, dtype: values[name])
            for flag, props in DECLARED.items() if getattr(self, flag, False) for prop in props)
        Domains(requirements).check({name: jnp.asarray(array)}, array.dtype)
        array.setflags(write=False)
        return array

    def _set_solved(self, value: np.ndarray | None) -> None:
        """Record a solver's answer as the value, unchecked: it may miss the declared sign by the tolerance."""
        self._value = value

    def structure_key(self) -> tuple:
        return (self.kind, self._name, self._shape, *(getattr(self, flag) for flag in self._flags))

    def __str__(self) -> str:
        return self._name

    def __repr__(self) -> str:
        declared = {flag: getattr(self, flag) for flag in self._flags}
        declared["nonneg"] = self._nonneg  # not when implied by pos
        flags = "".join(f", {flag}=True" for flag, on in declared.items() if on)
        return f"{type(self).__name__}({self._shape}, name={self._name!r}{flags})"


class Variable(_Declared):
    """An optimization variable: ``Variable(shape=(), name=None, nonneg=False, nonpos=False, pos=False, value=None)``.

    ``Problem.solve`` sets ``value`` to the solution found. ``pos=True`` declares it positive, as every
    variable of a geometric program must be (a convex model treats it as ``nonneg``).

    >>> x = Variable(3, name="x", nonneg=True)
    >>> x.shape, str(x), x.sign.value
    ((3,), 'x', 'nonneg')
    """

    kind = "variable"
    _prefix = "var"
    _counter = itertools.count(1)

    def __init__(self, shape: int | tuple[int, ...] = (), name: str | None = None, nonneg: bool = False,
                 nonpos: bool = False, value: Any = None, pos: bool = False):
        super().__init__(shape, name, nonneg, nonpos, pos)
        self.value = value

    @property
    def curvature(self) -> Curvature:
        return Curvature.AFFINE


class Parameter(_Declared):
    """Data supplied when the compiled problem is called; a constant of known sign for DCP.

    ``Parameter(shape=(), name=None, nonneg=False, nonpos=False, psd=False, nsd=False, value=None, pos=False)``:
    ``nonneg`` / ``nonpos`` / ``pos`` declare the sign of every entry (``pos``: positive, as a
    geometric program needs of the parameters it takes the log of), ``psd`` / ``nsd`` a square matrix
    that is symmetric positive / negative semidefinite (its entries' signs stay unknown). The
    DCP check relies on these declarations and the compiled problem checks every value
    against them (:mod:`optdsl.runtime.domains`). ``value`` (or ``p.value = v`` later) is used
    when a call of the compiled problem omits the parameter; it is read at the call (under
    ``jit``, when the call is traced).

    >>> lam = Parameter(name="lam", nonneg=True)
    >>> lam.curvature.value, lam.sign.value
    ('constant', 'nonneg')
    >>> Parameter((2, 2), name="P", psd=True)
    Parameter((2, 2), name='P', psd=True)
    """

    kind = "parameter"
    _prefix = "param"
    _counter = itertools.count(1)
    _flags = ("nonneg", "nonpos", "pos", "psd", "nsd")

    def __init__(self, shape: int | tuple[int, ...] = (), name: str | None = None, nonneg: bool = False,
                 nonpos: bool = False, psd: bool = False, nsd: bool = False, value: Any = None, pos: bool = False):
        super().__init__(shape, name, nonneg, nonpos, pos)
        self._psd = bool(psd)
        self._nsd = bool(nsd)
        declared = [flag for flag in self._flags if getattr(self, flag)]
        if psd or nsd:
            if len(self._shape) != 2 or self._shape[0] != self._shape[1]:
                raise ModelingError(
                    f"parameter {self._name!r}: {declared[-1]} needs a square matrix shape (n, n), got {self._shape}")
            if (psd and (nsd or nonpos)) or (nsd and self.nonneg):  # only the zero matrix would have them all
                raise ModelingError(
                    f"parameter {self._name!r}: {' and '.join(declared)} cannot be declared together")
        self.value = value

    @property
    def psd(self) -> bool:
        """Declared a symmetric positive semidefinite matrix."""
        return self._psd

    @property
    def nsd(self) -> bool:
        """Declared a symmetric negative semidefinite matrix."""
        return self._nsd

    @property
    def curvature(self) -> Curvature:
        return Curvature.CONSTANT


class Constant(Leaf):
    """A fixed real array (Python scalars, lists, numpy and concrete JAX arrays are accepted).

    Stored as a read-only numpy array (integers and booleans become float64); evaluation
    casts it to the dtype of the evaluation.

    >>> str(Constant([1, 2, 3])), Constant(0.5).sign.value
    ('[1, 2, 3]', 'nonneg')
    """

    def __init__(self, value: Any):
        if isinstance(value, Expression):
            raise ModelingError(f"Constant: expected a number or an array, got the expression {value}")
        try:
            array = np.array(value)
        except Exception as error:  # numpy raises many kinds of errors for odd inputs
            raise ModelingError(
                f"Constant: cannot turn {type(value).__name__} value {value!r} into an array"
            ) from error
        if array.dtype == np.bool_ or np.issubdtype(array.dtype, np.integer):
            array = array.astype(np.float64)
        if not np.issubdtype(array.dtype, np.floating):
            raise ModelingError(
                f"Constant: expected real numbers, got {type(value).__name__} value {value!r} (dtype {array.dtype})"
            )
        self._shape: Shape = normalize_shape(array.shape, "Constant")
        array.setflags(write=False)
        self._value = array
        self._sign = Sign.of_values(array)
        self._key: tuple | None = None

    @property
    def value(self) -> np.ndarray:
        """The constant's value (read-only)."""
        return self._value

    @property
    def curvature(self) -> Curvature:
        return Curvature.CONSTANT

    @property
    def sign(self) -> Sign:
        return self._sign

    @property
    def precedence(self) -> int:  # type: ignore[override]
        return UNARY if str(self).startswith("-") else POSTFIX

    def structure_key(self) -> tuple:
        if self._key is None:
            self._key = ("constant", self._shape, tuple(float(v) for v in self._value.ravel()))
        return self._key

    def __str__(self) -> str:
        return format_array(self._value)

    def __repr__(self) -> str:
        return f"Constant({self._value.tolist()!r})"
