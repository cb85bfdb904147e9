"""Timing, memory and accuracy of one benchmark case: optdsl and its anchors on the same data.

A :class:`Case` is one workload at one size: a reference (cvxpy + Clarabel) and
the contenders. A :class:`Contender` is a forward function ``args -> solution``
and a forward+backward function ``args -> (loss, gradient)``; the gradient is
with respect to the parameters the workload differentiates (``q`` and ``h`` of a
QP, the penalty of a lasso, ...). :func:`measure` reports, per contender:

- ``compile_s``: model build (``problem.compile`` / ``CvxpyLayer``) plus the
  trace and XLA compilation of forward+backward (for host-side layers: the first
  call minus a steady one). optdsl's contenders are jitted with the XLA options
  optdsl documents for a user's own ``jax.jit``
  (:data:`optdsl.runtime.compilation_cache.COMPILER_OPTIONS`), the anchors with XLA's defaults;
- ``fwd_s`` / ``fwdbwd_s``: medians of ``runs`` timed calls after a warm-up;
- ``memory_mb``: for jitted contenders, XLA's scratch buffer of the compiled
  forward+backward (``memory_analysis().temp_size_in_bytes``); for host-side
  layers, the tracemalloc peak of one forward+backward call (Python and numpy
  heap; the solvers' native allocations are not seen);
- ``sol_err``: max |x - x_ref| / max(1, max |x_ref|) over the checked instances;
- ``grad_err``: |<g, d> - FD| / max(|FD|, 1e-12) for a random direction ``d``
  over the checked instances, FD being the central difference of the reference
  loss (cvxpy + Clarabel at tolerance 1e-10; :func:`weighted_fd`) or, where the
  workload has a closed form, the exact slope at a reference solution that Newton
  steps refine to machine precision (``expcone``, ``sdp``).
"""

from __future__ import annotations

import importlib
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optdsl.runtime import batch_map
from optdsl.runtime.compilation_cache import COMPILER_OPTIONS

#: Clarabel settings of every reference solve.
CLARABEL = {"solver": "CLARABEL", "tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10, "max_iter": 500}
#: cvxpylayers' solver options: diffcp with Clarabel (its default tolerances).
DIFFCP = {"solve_method": "Clarabel"}


def optional(module: str) -> ModuleType | None:
    """The anchor package ``module``, or None when it is not installed (the ``bench`` extra)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


@dataclass
class Contender:
    """One implementation of a case.

    ``forward(*args)`` returns the solution (batched like the case); ``fwdbwd(*args)``
    returns ``(loss, gradient)`` with the gradient a tuple matching ``Case.direction``.
    ``jitted``: both are pure JAX and get compiled ahead of time; otherwise they run as
    given (host-side layers). ``build_s``: seconds spent building the model before any call.
    """

    name: str
    forward: Callable[..., Any]
    fwdbwd: Callable[..., Any]
    args: tuple
    jitted: bool = True
    build_s: float = 0.0

    @property
    def compiler_options(self) -> dict[str, Any] | None:
        """optdsl's XLA options for optdsl's contenders (named ``optdsl[...]``), XLA's defaults for the anchors."""
        return COMPILER_OPTIONS if self.name.startswith("optdsl") else None


@dataclass
class Case:
    """One workload at one size: the contenders and what their answers are checked against.

    ``solution_of(out)`` picks the checked instances from a contender's forward output
    (same layout as ``x_ref``); ``direction`` is a tuple of arrays shaped like the gradient
    (zero outside the checked instances); ``fd`` is the reference directional derivative.
    """

    workload: str
    size: str
    contenders: list[Contender]
    x_ref: np.ndarray
    solution_of: Callable[[Any], np.ndarray]
    direction: tuple
    fd: float
    notes: dict[str, Any] = field(default_factory=dict)


def directional_fd(loss: Callable[[float], float], h: float) -> float:
    """Central difference ``(loss(h) - loss(-h)) / 2h`` of ``t -> loss(t)`` along a direction."""
    return (loss(h) - loss(-h)) / (2 * h)


def weighted_fd(reference: Callable[[np.ndarray], np.ndarray], theta: np.ndarray, dtheta: np.ndarray,
                c: np.ndarray, checked: int, h: float) -> float:
    """Central difference along ``dtheta`` of ``sum_i <c_i, reference(theta_i)>`` over the first ``checked``
    instances: the reference slope of the loss :func:`weighted_fwdbwd` differentiates."""
    return directional_fd(lambda t: sum(float(np.vdot(c[i], reference(theta[i] + t * dtheta[i])))
                                        for i in range(checked)), h)


def weighted_fwdbwd(batch: Callable[[Any, Any], Any]) -> Callable[..., Any]:
    """Forward+backward of ``loss = sum(c * batch(theta, data))``: ``(theta, data, c) -> (loss, (dloss/dtheta,))``,
    for workloads that differentiate one batched parameter ``theta``."""
    def fwdbwd(theta: Any, data: Any, c: Any) -> tuple[Any, tuple[Any]]:
        loss, g = jax.value_and_grad(lambda t: jnp.sum(c * batch(t, data)))(theta)
        return loss, (g,)

    return fwdbwd


def weighted_optdsl(problem: Any, theta: str, variable: str, args: tuple,
                    fixed: Callable[[Any], dict[str, Any]] = lambda data: {}, *, devices: bool = False,
                    **options: Any) -> Contender:
    """optdsl's contender of a workload differentiating one batched parameter (see :func:`weighted_fwdbwd`):
    ``problem`` compiled with ``options`` (a forced route is marked in the row's name), solved under ``vmap``
    over the parameter ``theta`` with the others from ``fixed(data)``, returning ``variable``.

    ``devices``: the batch is split over every device instead (``optdsl.runtime.batch_map``), each solving its
    share (marked in the row's name); on a CPU, the devices ``XLA_FLAGS=--xla_force_host_platform_device_count=N``
    asks for."""
    start = time.perf_counter()
    solve = problem.compile(**options)
    build = time.perf_counter() - start

    def one(value: Any, data: Any) -> Any:
        return solve(**{theta: value}, **fixed(data))[variable]

    def optdsl_batch(values: Any, data: Any) -> Any:
        if devices:
            return batch_map(lambda value: one(value, data))(values)
        return jax.vmap(lambda value: one(value, data))(values)

    name = f"{solve.method},forced" if options else solve.method
    name = f"optdsl[{name},{jax.device_count()} devices]" if devices else f"optdsl[{name}]"
    return Contender(name, lambda values, data, c: optdsl_batch(values, data), weighted_fwdbwd(optdsl_batch), args,
                     build_s=build)


def weighted_layer(build: Callable[[], tuple[Any, Any, Any]], args: tuple) -> list[Contender]:
    """The cvxpylayers contender of a workload differentiating one batched parameter (see :func:`weighted_fwdbwd`),
    or none when cvxpylayers is not installed. ``build()`` returns the cvxpy ``(problem, parameter, variable)``;
    its time (cvxpy's canonicalisation included) is the contender's build time."""
    layers = optional("cvxpylayers.jax")
    if layers is None:
        return []
    start = time.perf_counter()
    problem, parameter, variable = build()
    layer = layers.CvxpyLayer(problem, parameters=[parameter], variables=[variable], solver_args=DIFFCP)
    build_s = time.perf_counter() - start

    def layer_batch(theta: Any, data: Any) -> Any:
        return layer(theta)[0]

    return [Contender("cvxpylayers", lambda theta, data, c: layer_batch(theta, data), weighted_fwdbwd(layer_batch),
                      args, jitted=False, build_s=build_s)]


def _block(out: Any) -> Any:
    return jax.block_until_ready(out)


def _timed(fn: Callable[..., Any], args: tuple) -> tuple[Any, float]:
    start = time.perf_counter()
    out = _block(fn(*args))
    return out, time.perf_counter() - start


def _median(fn: Callable[..., Any], args: tuple, runs: int) -> float:
    return statistics.median(_timed(fn, args)[1] for _ in range(runs))


def measure(case: Case, contender: Contender, runs: int) -> dict[str, Any]:
    """Time, memory and accuracy of one contender on one case (see the module docstring)."""
    if contender.jitted:
        start = time.perf_counter()
        forward = jax.jit(contender.forward, compiler_options=contender.compiler_options).lower(
            *contender.args).compile()
        fwd_compile = time.perf_counter() - start
        start = time.perf_counter()
        fwdbwd = jax.jit(contender.fwdbwd, compiler_options=contender.compiler_options).lower(
            *contender.args).compile()
        compile_s = contender.build_s + time.perf_counter() - start
        analysis = fwdbwd.memory_analysis()
        memory = None if analysis is None else analysis.temp_size_in_bytes / 2**20
        x, _ = _timed(forward, contender.args)
        (_, grad), _ = _timed(fwdbwd, contender.args)
        fwd_s, fwdbwd_s = _median(forward, contender.args, runs), _median(fwdbwd, contender.args, runs)
    else:
        forward, fwdbwd = contender.forward, contender.fwdbwd
        x, _ = _timed(forward, contender.args)
        fwd_compile = 0.0
        tracemalloc.start()
        (_, grad), first = _timed(fwdbwd, contender.args)
        memory = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        fwd_s, fwdbwd_s = _median(forward, contender.args, runs), _median(fwdbwd, contender.args, runs)
        compile_s = contender.build_s + max(first - fwdbwd_s, 0.0)
    x = case.solution_of(x)
    sol_err = float(np.max(np.abs(x - case.x_ref)) / max(1.0, float(np.max(np.abs(case.x_ref)))))
    slope = sum(float(np.vdot(np.asarray(g), d)) for g, d in zip(grad, case.direction))
    grad_err = abs(slope - case.fd) / max(abs(case.fd), 1e-12)
    return {"workload": case.workload, "size": case.size, "contender": contender.name, "compile_s": compile_s,
            "fwd_compile_s": fwd_compile, "fwd_s": fwd_s, "fwdbwd_s": fwdbwd_s, "memory_mb": memory,
            "sol_err": sol_err, "grad_err": grad_err, **case.notes}
