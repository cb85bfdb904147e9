"""The iteration log a solver prints when called with ``verbose=True``: one line format for every solver.

Lines are printed from inside the compiled program by ``jax.debug.callback``, under ``jit`` and once
per instance under ``vmap``. A solver adds these calls only when ``verbose`` is True (a Python flag
read while tracing), so its program with ``verbose=False`` holds no callback at all.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import jax

from optdsl.runtime.status import describe

Info = TypeVar("Info")  # a solver report with ``iterations``, ``residual`` and ``status`` (SolverInfo, KKTAux)

#: First-order solvers print the first iteration and every ``SPARSE``-th: they take thousands of cheap steps.
SPARSE = 50


def _print_iteration(solver: str, every: int, names: tuple[str, ...], k: Any, active: Any, *values: Any) -> None:
    if bool(active) and (int(k) % every == 0 or int(k) == 1):
        fields = "".join(f"  {name} {float(value):.3e}" for name, value in zip(names, values))
        print(f"{solver}: iter {int(k):5d}{fields}", flush=True)


def log_iteration(solver: str, k: jax.Array, *, active: Any = True, every: int = 1, **values: jax.Array) -> None:
    """Print ``solver: iter k  name value ...``: the iteration number and the named scalars (residuals, step).

    ``active``: whether the step was taken; under ``vmap`` a loop's body also runs for the instances that
    have stopped, and those print nothing. ``every``: print only the first iteration and every
    ``every``-th (first-order solvers take thousands).
    """
    names = tuple(values)
    jax.debug.callback(lambda k, on, *v: _print_iteration(solver, every, names, k, on, *v), k, active,
                       *values.values())


def _print_status(solver: str, iterations: Any, residual: Any, status: Any) -> None:
    print(f"{solver}: {describe(status)} after {int(iterations)} iterations, residual {float(residual):.3e}",
          flush=True)


def log_status(solver: str, iterations: jax.Array, residual: jax.Array, status: jax.Array) -> None:
    """Print the solver's final line: its status by name, the iterations taken and the residual it stopped on."""
    jax.debug.callback(lambda *a: _print_status(solver, *a), iterations, residual, status)


def iteration_log(verbose: bool, solver: str, fields: Callable[[Any], dict[str, jax.Array]],
                  every: int = 1) -> Callable[[jax.Array, Any, jax.Array], None] | None:
    """The ``log`` of :func:`~.base.iterate` printing ``fields(state)``; None unless ``verbose``."""
    if not verbose:
        return None
    return lambda k, state, active: log_iteration(solver, k, active=active, every=every, **fields(state))


def reported(verbose: bool, solver: str, info: Info) -> Info:
    """``info``, its final line printed (:func:`log_status`) when ``verbose``."""
    if verbose:
        log_status(solver, info.iterations, info.residual, info.status)
    return info
