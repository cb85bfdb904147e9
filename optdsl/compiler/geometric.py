"""Geometric programs: ``problem.compile(gp=True)`` solves a log-log convex model over ``u = log x``.

The model is checked against the DGP rules (:mod:`optdsl.modeling.dgp`, a ``DGPError`` naming
each offending sub-expression), written over ``u = log x`` as a DCP model
(:func:`~optdsl.modeling.dgp.log_space`) and compiled by :func:`~optdsl.compiler.compile_problem`,
which picks its route as for any convex model. The compiled function takes the original
parameters, passes ``log p`` for those whose log enters (exponents as they are), solves, and
returns ``x = exp(u)`` and the objective ``exp(log f)``, in the model's own terms; the duals are
those of the log-space constraints, as cvxpy reports for a geometric program; ``residual``,
``primal_violation`` and the status are the log-space model's. Derivatives with respect to the
original parameters are JAX's through ``log`` and ``exp`` around the implicitly differentiated
log-space solve.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from optdsl.compiler.compile import compile_problem
from optdsl.compiler.domains import parameter_domains
from optdsl.errors import CompileError
from optdsl.modeling import Problem
from optdsl.modeling.dgp import log_space
from optdsl.modeling.errors import DGPError
from optdsl.runtime.compilation_cache import jit_by_position
from optdsl.runtime.compiled import CompiledProblem, ParameterSpec, Solution
from optdsl.runtime.dtypes import float_dtype
from optdsl.runtime.implicit_diff import forward_shared, shares_forward
from optdsl.runtime.status import INVALID_PARAMETER


def _log_start(init: Solution | None) -> Solution | None:
    """A previous solution as a start of the log-space solve: its variables' logs and its solver state."""
    if init is None:
        return None
    children, keys = init.tree_flatten()
    values = {name: jnp.log(value) for name, value in children[0].items()}
    return Solution.tree_unflatten(keys, (values, *children[1:]))


def compile_geometric(problem: Problem, **options: Any) -> CompiledProblem:
    """``problem`` (log-log convex) as a differentiable ``params -> Solution`` function (see the module docstring).

    ``options`` are :func:`~optdsl.compiler.compile_problem`'s, applied to the log-space model.
    """
    if not isinstance(problem, Problem):
        raise CompileError(f"compile expects a Problem, got {type(problem).__name__}")
    if options.get("nonconvex"):
        raise CompileError("gp=True solves a log-log convex model as a convex one; nonconvex=True does not apply")
    violations = problem.dgp_violations()
    if violations:
        raise DGPError(violations)
    space = log_space(problem)
    inner = compile_problem(space.problem, **options)  # type: ignore[arg-type]
    domains = parameter_domains(problem, options.get("tol"), trusted=False)
    dual_keys = tuple((id(c), name) for name, c in problem.named_constraints().items())
    logged, raw = dict(space.logged), tuple(space.raw_names)

    def call(params: dict[str, jax.Array], init: Solution | None) -> Solution:
        inner_params = {**{name: params[name] for name in raw},
                        **{log_name: jnp.log(params[name]) for name, log_name in logged.items()}}
        solution = inner.fn(inner_params, _log_start(init))
        dtype = float_dtype(*(v.dtype for v in params.values()))
        status = jnp.where(domains.violated(params, dtype), INVALID_PARAMETER, solution.status)
        values = {name: jnp.exp(value) for name, value in solution.values.items()}
        return Solution(values, jnp.exp(solution.objective), status, solution.residual, solution.iterations,
                        solution.duals, dual_keys, solution.singular, solution.state, solution.primal_violation)

    logs = ", ".join(f"{log_name} = log({name})" for name, log_name in logged.items()) or "none"
    description = (f"geometric program:\n{_indented(str(problem))}\nsolved over u = log x for every variable "
                   f"(x = exp(u)); parameters entering through their log: {logs}; the log-space model, "
                   f"compiled as a convex one:\n{_indented(inner.description)}")
    return CompiledProblem(
        fn=forward_shared(call) if shares_forward(inner.fn) else jit_by_position(call),
        parameters=tuple(ParameterSpec(p.name, p.shape) for p in problem.parameters()),
        method=inner.method,
        description=description,
        problem=problem,
        options={**inner.options, "gp": True},
        conditions=inner.conditions,
        domains=domains,
    )


def _indented(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
