"""``ConicForm``: a problem's conic form; its data ``(A, b, c, offset)`` are traceable functions of the parameters.

The problem is ``min c'x + offset  s.t.  A x + s = b,  s in K`` (SCS's convention) over
``x = (user variables, auxiliaries)``. Every row and the objective are affine in ``x``
once the non-affine nodes are replaced by their stand-in variables, so linearising them at
``x = 0`` is exact: ``b = s(0)``, ``A = -ds/dx``, ``c = df/dx``, ``offset = f(0)``. The
linearisation runs in JAX on the parameter values, so ``data`` works under ``jit``,
``vmap`` and ``grad`` like any JAX function of the parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from optdsl.compiler.conic.blocks import Block
from optdsl.compiler.packing import Packing
from optdsl.modeling import Constant, Expression, Problem, Variable
from optdsl.modeling.leaves import Leaf
from optdsl.errors import ParameterError
from optdsl.runtime.dtypes import float_dtype
from optdsl.runtime.solvers.cones import Cones

Array = jax.Array


def evaluate_with_stand_ins(expr: Expression, leaves: Mapping[int, Array],
                            stand_ins: Mapping[int, tuple[Expression, Variable]], dtype: Any,
                            cache: dict[int, Array]) -> Array:
    """Value of ``expr`` where every node in ``stand_ins`` takes its stand-in variable's value.

    ``leaves`` maps ``id`` of each variable and parameter to its value; constants are cast to
    ``dtype``; ``cache`` (by node id) is shared between calls so shared nodes are computed once.
    """
    stack: list[tuple[Expression, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        key = id(node)
        if key in cache:
            continue
        if key in stand_ins:
            cache[key] = leaves[id(stand_ins[key][1])]
        elif isinstance(node, Constant):
            cache[key] = jnp.asarray(node.value, dtype)
        elif isinstance(node, Leaf):
            cache[key] = leaves[key]
        elif ready:
            cache[key] = node.forward(*(cache[id(a)] for a in node.args))
        else:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args)
    return cache[id(expr)]


@dataclass(frozen=True, eq=False)
class ConicForm:
    """A problem as ``min c'x + offset s.t. A x + s = b, s in cones`` (built by ``canonicalize``).

    ``packing``: where the problem's variables sit in ``x[:packing.size]``; ``size``: the length
    of ``x`` (auxiliaries follow the user's variables); ``sense``: +1, or -1 when the problem
    maximises (the form minimises the negated objective); ``blocks``: the constraints in row
    order; ``duals_at``: the user's constraint name -> (first row, block); ``columns``: every
    variable of ``x`` with its offset; ``stand_ins``: ``id(node) -> (node, variable)`` for the
    replaced non-affine nodes.
    """

    problem: Problem
    cones: Cones
    packing: Packing
    size: int
    sense: float
    objective: Expression
    blocks: tuple[Block, ...]
    duals_at: Mapping[str, tuple[int, Block]]
    columns: tuple[tuple[Variable, int], ...]
    stand_ins: Mapping[int, tuple[Expression, Variable]]

    def data(self, params: Mapping[str, Any], dtype: Any = None) -> tuple[Array, Array, Array, Array]:
        """``(A, b, c, offset)`` at these parameter values (by name): shapes (m, n), (m,), (n,), ().

        ``dtype`` defaults to the parameters' floating dtype (the default float without
        parameters). Traceable: ``jit``, ``vmap`` over parameter sets and ``grad`` apply.
        """
        values, dtype = self._parameter_values(params, dtype)

        def affine(x: Array) -> tuple[Array, Array]:
            leaves = dict(values)
            for v, offset in self.columns:
                leaves[id(v)] = x[offset:offset + v.size].reshape(v.shape)
            cache: dict[int, Array] = {}

            def value(expr: Expression) -> Array:
                return evaluate_with_stand_ins(expr, leaves, self.stand_ins, dtype, cache)

            rows = [block.rows(value) for block in self.blocks]
            s = jnp.concatenate(rows) if rows else jnp.zeros((0,), dtype)
            return s, value(self.objective)

        (b, offset), linear = jax.linearize(affine, jnp.zeros((self.size,), dtype))
        G, c = jax.vmap(linear, in_axes=1, out_axes=(1, 0))(jnp.eye(self.size, dtype=dtype))
        return -G, b, c, offset

    def _parameter_values(self, params: Mapping[str, Any], dtype: Any) -> tuple[dict[int, Array], Any]:
        expected = {p.name: p for p in self.problem.parameters()}
        missing, unknown = sorted(set(expected) - set(params)), sorted(set(params) - set(expected))
        if missing or unknown:
            raise ParameterError(f"conic data: missing parameters {missing}, unknown parameters {unknown} "
                                 f"(the problem's parameters are {sorted(expected)})")
        for name, p in expected.items():
            if jnp.shape(params[name]) != p.shape:
                raise ParameterError(f"conic data: parameter {name!r} has shape {jnp.shape(params[name])}, "
                                     f"expected {p.shape}")
        if dtype is None:
            dtype = float_dtype(*params.values())
        return {id(p): jnp.asarray(params[name], dtype) for name, p in expected.items()}, dtype

    def variables(self, x: Array) -> dict[str, Array]:
        """The problem's variables by name from a solution ``x`` of the conic form."""
        return self.packing.unpack(x[:self.packing.size])

    def duals(self, y: Array) -> dict[str, Array]:
        """Each constraint's dual by name (``problem.named_constraints()``), as cvxpy's ``dual_value``."""
        return {name: block.dual(y[row:row + block.size]) for name, (row, block) in self.duals_at.items()}

    def objective_value(self, x: Array, c: Array, offset: Array) -> Array:
        """The problem's objective (as written, maximised or not) at a solution ``x`` of the conic form.

        NaN where ``x`` is (a certificate of infeasibility), with zero derivatives in ``c`` and ``offset``.
        """
        finite = jnp.all(jnp.isfinite(x))
        value = self.sense * (c @ jnp.where(finite, x, 0) + offset)
        return jnp.where(finite, value, jnp.nan)

    def summary(self) -> str:
        """The form's size and cones in words, for ``explain``."""
        cones = self.cones
        parts = [f"{cones.zero} zero", f"{cones.nonneg} nonneg", f"{len(cones.soc)} SOC",
                 f"{len(cones.psd)} PSD", f"{cones.exp} exp", f"{len(cones.power)} power"]
        auxiliaries = self.size - self.packing.size
        return (f"conic form: {self.size} columns ({self.packing.size} variables, {auxiliaries} auxiliary), "
                f"{cones.dim} rows ({', '.join(parts)})")
