"""Equal work for the iterative contenders of a case: each runs a given number of iterations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax


def equal_iterations(label: str, iterations: int, counts: dict[str, Callable[..., Any]], args: tuple) -> str:
    """The case's size label with the iteration count all contenders in ``counts`` run on ``args``.

    ``counts`` maps a contender's name to ``args -> iterations taken``. A contender that stopped at another
    count (its residual exactly zero) is named in the label with its count, so the table never hides it.
    """
    taken = {name: int(jax.jit(count)(*args)) for name, count in counts.items()}
    unequal = ", ".join(f"{name} {k}" for name, k in taken.items() if k != iterations)
    return f"{label}, {iterations} it" + (f" (but {unequal})" if unequal else "")
