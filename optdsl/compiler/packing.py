"""All of a problem's variables packed into one flat vector ``z`` (and back, shapes kept).

The solvers and optimality maps work on ``z``; users see values by variable name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp

from optdsl.modeling import Variable


@dataclass(frozen=True)
class Packing:
    """Where each variable lives in ``z``: ``z[offset : offset + size]``, reshaped to its shape."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    offsets: tuple[int, ...]
    size: int

    @classmethod
    def of(cls, variables: Sequence[Variable]) -> "Packing":
        offsets, total = [], 0
        for v in variables:
            offsets.append(total)
            total += math.prod(v.shape)
        return cls(tuple(v.name for v in variables), tuple(v.shape for v in variables), tuple(offsets), total)

    def slice(self, name: str) -> slice:
        """The slice of ``z`` holding variable ``name``."""
        i = self.names.index(name)
        return slice(self.offsets[i], self.offsets[i] + math.prod(self.shapes[i]))

    def unpack(self, z: jax.Array) -> dict[str, jax.Array]:
        """Variable values by name from the flat vector ``z``."""
        return {name: z[self.slice(name)].reshape(shape) for name, shape in zip(self.names, self.shapes)}

    def pack(self, values: Mapping[str, jax.Array]) -> jax.Array:
        """The flat vector ``z`` from variable values by name."""
        parts = [jnp.ravel(jnp.asarray(values[name])) for name in self.names]
        return jnp.concatenate(parts) if parts else jnp.zeros((0,))

    def describe(self) -> str:
        """``x (50,) -> z[0:50]`` lines, for ``explain``."""
        lines = []
        for name, shape in zip(self.names, self.shapes):
            s = self.slice(name)
            lines.append(f"{name} {shape} -> z[{s.start}:{s.stop}]")
        return "\n".join(lines)
