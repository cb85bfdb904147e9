"""Domains of parameter values: the properties a compiled problem checks before its answer is trusted.

A model's DCP check relies on what is declared about its parameters (``nonneg``,
``psd``, ...) and on what some atoms assume of parameter arguments (``quad_form``'s
matrix PSD). A :class:`Domains` holds those requirements as plain data (a name, a
shape, a property, a function from the parameter values to the checked array) and
tests them in one place, :func:`measure`, used two ways:

* :meth:`Domains.check`, on concrete values, raises a ``ParameterError`` naming the
  parameter, its shape, the property and the evidence (the entry, the eigenvalue);
* :meth:`Domains.violated`, traced, says per instance whether any property fails
  (the compiled problem then reports the status ``invalid_parameter``).

A property holds up to a slack ``tol * (1 + max|value|)``, ``tol`` being the solver's
tolerance in the value's dtype (:func:`~optdsl.runtime.solvers.base.resolve_tol`); ``pos``
(every entry positive, for the logarithm a geometric program takes) holds strictly.
``psd`` and ``nsd`` test the symmetric part ``(P + P') / 2`` (all ``x' P x`` sees);
``symmetric`` tests ``P = P'``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from optdsl.errors import ParameterError
from optdsl.runtime.compilation_cache import jit
from optdsl.runtime.solvers.base import resolve_tol
from optdsl.runtime.sparse import is_sparse

Array = jax.Array


class Property(NamedTuple):
    """A test ``value -> (margin, flat index)``, holding when ``margin >= -slack`` (``margin > 0`` when strict)."""

    words: str  # as in "must be PSD"
    margin: Callable[[Array], tuple[Array, Array]]
    evidence: Callable[[float, tuple[int, ...]], str]  # (margin, index) -> "has entry -5.0 at index ()"
    strict: bool = False


def _number(x: float) -> str:
    return repr(float(f"{x:.6g}"))


def _symmetric_part(value: Array) -> Array:
    return (value + value.T) / 2


def _smallest_eigenvalue(value: Array) -> tuple[Array, Array]:
    return jnp.linalg.eigvalsh(_symmetric_part(value))[0], jnp.zeros((), jnp.int32)


def _entry(sign: int) -> Callable[[Array], tuple[Array, Array]]:
    """The margin of ``sign * value >= 0``: the worst entry and where it is."""

    def margin(value: Array) -> tuple[Array, Array]:
        flat = sign * jnp.ravel(value)
        index = jnp.argmin(flat)
        return flat[index], index

    return margin


def _asymmetry(value: Array) -> tuple[Array, Array]:
    gap = -jnp.ravel(jnp.abs(value - value.T))
    index = jnp.argmin(gap)
    return gap[index], index


#: What :func:`_nonfinite` reports for the first non-finite entry (its margin), by kind.
_NONFINITE = {-1: "nan", -2: "inf", -3: "-inf"}


def _nonfinite(value: Array) -> tuple[Array, Array]:
    """The margin of "every entry finite": 1 when it holds, else a key of :data:`_NONFINITE` for the first entry
    that is not, and where it is."""
    flat = jnp.ravel(value)
    index = jnp.argmax(~jnp.isfinite(flat))
    worst = flat[index]
    kind = jnp.where(jnp.isnan(worst), -1, jnp.where(worst > 0, -2, -3))
    return jnp.where(jnp.isfinite(worst), 1, kind).astype(value.dtype), index


PROPERTIES: dict[str, Property] = {
    "finite": Property("finite", _nonfinite, lambda m, at: f"has entry {_NONFINITE[int(m)]} at index {at}",
                       strict=True),
    "pos": Property("positive", _entry(1), lambda m, at: f"has entry {_number(m)} at index {at}", strict=True),
    "nonneg": Property("nonnegative", _entry(1), lambda m, at: f"has entry {_number(m)} at index {at}"),
    "nonpos": Property("nonpositive", _entry(-1), lambda m, at: f"has entry {_number(-m)} at index {at}"),
    "symmetric": Property("symmetric", _asymmetry,
                          lambda m, at: f"its entries {at} and {at[::-1]} differ by {_number(-m)}"),
    "psd": Property("PSD", _smallest_eigenvalue, lambda m, at: f"its smallest eigenvalue is {_number(m)}"),
    "nsd": Property("NSD", lambda value: _smallest_eigenvalue(-value),
                    lambda m, at: f"its largest eigenvalue is {_number(-m)}"),
}


def measure(prop: str, value: Array, tol: Any) -> tuple[Array, Array, Array]:
    """``(holds, margin, flat index)`` of property ``prop`` of ``value`` (traceable; the one definition)."""
    value = value.todense() if is_sparse(value) else value
    margin, index = PROPERTIES[prop].margin(value)
    if PROPERTIES[prop].strict:
        return margin > 0, margin, index
    # The slack scales with the finite entries only: an infinite one must not excuse itself (-inf is not nonneg).
    size = jnp.max(jnp.abs(value), initial=0.0, where=jnp.isfinite(value))
    slack = resolve_tol(tol, value.dtype) * (1 + size)
    return margin >= -slack, margin, index


@dataclass(frozen=True)
class Requirement:
    """One property the value of a parameter (or of an expression of parameters) must have.

    ``subject`` names it (``"parameter 'P'"``); ``reason`` says who requires it
    (``"is declared psd"``, ``"must be PSD for quad_form(x, P)"``); ``value`` computes the
    checked array from the parameter values and the dtype.
    """

    subject: str
    shape: tuple[int, ...]
    prop: str
    reason: str
    value: Callable[[Mapping[str, Array], Any], Array]

    def message(self, margin: float, index: int) -> str:
        """The ``ParameterError`` text for a value whose test gave ``margin`` at flat ``index``."""
        at = tuple(int(i) for i in np.unravel_index(int(index), self.shape)) if self.shape else ()
        evidence = PROPERTIES[self.prop].evidence(margin, at)
        return f"{self.subject} of shape {self.shape} {self.reason} but {evidence}"


@dataclass(frozen=True)
class Domains:
    """The requirements on a model's parameter values, with the solver tolerance they are tested at."""

    requirements: tuple[Requirement, ...]
    tol: float | None = None

    def _measures(self, params: Mapping[str, Array], dtype: Any) -> list[tuple[Array, Array, Array]]:
        params = jax.lax.stop_gradient(dict(params))
        return [measure(r.prop, r.value(params, dtype), self.tol) for r in self.requirements]

    @cached_property
    def _compiled_measures(self) -> Callable[[Mapping[str, Array], Any], list[tuple[Array, Array, Array]]]:
        return jit(self._measures, static_argnums=1)

    def violated(self, params: Mapping[str, Array], dtype: Any) -> Array:
        """Whether any requirement fails at these values (traced; a bool scalar per instance)."""
        holds = [ok for ok, _, _ in self._measures(params, dtype)]
        return ~jnp.all(jnp.stack(holds)) if holds else jnp.asarray(False)

    def check(self, params: Mapping[str, Array], dtype: Any) -> None:
        """Raise a ``ParameterError`` for the first requirement the concrete ``params`` fail."""
        if not self.requirements:
            return
        measures = jax.device_get(self._compiled_measures(dict(params), dtype))
        for requirement, (ok, margin, index) in zip(self.requirements, measures):
            if not ok:
                raise ParameterError(requirement.message(float(margin), int(index)))
