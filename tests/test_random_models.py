"""Random model structures, judged against cvxpy + Clarabel: the objective and constraints are drawn, not only data.

``tests/test_reliability.py`` draws data for fixed models; here each seed draws the model itself: one to three
convex terms out of :data:`TERMS` (norms, Huber, log-sum-exp, quadratic-over-linear, entropy, logarithms, power and
geometric means, ...), each applied to ``A x - b``, ``x - c`` or ``x``, weighted, minimised or (negated) maximised,
under zero to three of :data:`CONSTRAINTS` and always a box ``|x| <= r``, so the optimum exists. A tenth of the
draws add constraints that no point meets. Each model is built once for optdsl and once for cvxpy by the same
function (:func:`model`), written natively or, every other seed, converted from the cvxpy twin with
``od.from_cvxpy``. A draw fails when:

- the reference is optimal and optdsl does not say ``solved`` with the same objective (1e-6 relative);
- the reference is infeasible and optdsl says anything but ``infeasible``;
- the gradient of the optimal value in a parameter differs from central differences of optdsl's own solves
  (float64, step 1e-4) by more than 1e-5 relative, or is not finite.

Each draw compiles its own model (a few seconds), so the test runs with ``-m slow``:
``python -m pytest -m slow tests/test_random_models.py``.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reliability_families as rf

import optdsl as od

pytestmark = pytest.mark.slow

SEEDS = range(40)
OBJECTIVE_TOL = 1e-6
GRADIENT_TOL = 1e-5
STEP = 1e-4

#: Convex scalar terms of an affine ``e`` (any sign), ``p`` (positive on the box) and a positive scalar ``s``.
TERMS: dict[str, Callable[[Any, Any, Any, Any], Any]] = {
    "sum_squares": lambda lib, e, p, s: lib.sum_squares(e),
    "norm1": lambda lib, e, p, s: lib.norm1(e),
    "norm2": lambda lib, e, p, s: lib.norm2(e),
    "norm_inf": lambda lib, e, p, s: lib.norm_inf(e),
    "huber": lambda lib, e, p, s: lib.sum(lib.huber(e, 0.5)),
    "max": lambda lib, e, p, s: lib.max(e),
    "neg_min": lambda lib, e, p, s: -lib.min(e),
    "pos": lambda lib, e, p, s: lib.sum(lib.pos(e)),
    "log_sum_exp": lambda lib, e, p, s: lib.log_sum_exp(e),
    "exp": lambda lib, e, p, s: lib.sum(lib.exp(0.3 * e)),
    "logistic": lambda lib, e, p, s: lib.sum(lib.logistic(e)),
    "quad_over_lin": lambda lib, e, p, s: lib.quad_over_lin(e, s),
    "pnorm3": lambda lib, e, p, s: lib.pnorm(e, 3),
    "sum_largest": lambda lib, e, p, s: lib.sum_largest(e, 2),
    "inv_pos": lambda lib, e, p, s: lib.sum(lib.inv_pos(p)),
    "neg_entropy": lambda lib, e, p, s: -lib.sum(lib.entr(p)),
    "neg_log": lambda lib, e, p, s: -lib.sum(lib.log(p)),
    "neg_sqrt": lambda lib, e, p, s: -lib.sum(lib.sqrt(p)),
    "neg_geo_mean": lambda lib, e, p, s: -lib.geo_mean(p),
    "neg_harmonic_mean": lambda lib, e, p, s: -lib.harmonic_mean(p),
    "kl_div": lambda lib, e, p, s: lib.sum(lib.kl_div(p, s + 0 * p)),
    "rel_entr": lambda lib, e, p, s: lib.sum(lib.rel_entr(p, s + 0 * p)),
    "power3": lambda lib, e, p, s: lib.sum(lib.power(p, 3)),
}
CONSTRAINTS = ("equality", "inequality", "ball", "norm1_ball", "lower")
ARGUMENTS = ("Ab", "xc", "x")


def draw(seed: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A model (``spec``) and its parameter values: feasible around a drawn point ``x0`` unless ``spec['empty']``."""
    rng = np.random.default_rng(seed)
    # At least two rows: cvxpy reads sum_largest(e, 2) of a single entry as unbounded.
    n, k = int(rng.integers(2, 7)), int(rng.integers(2, 6))
    terms = [(str(rng.choice(list(TERMS))), float(rng.uniform(0.2, 2.0)), str(rng.choice(ARGUMENTS)))
             for _ in range(int(rng.integers(1, 4)))]
    constraints = [str(c) for c in rng.choice(CONSTRAINTS, size=int(rng.integers(0, 4)), replace=False)]
    x0 = rng.uniform(-0.8, 0.8, size=n)
    A, Aeq, G = rng.normal(size=(k, n)), rng.normal(size=(1, n)), rng.normal(size=(3, n))
    c = x0 + 0.3 * rng.normal(size=n)
    values = {"A": A, "b": rng.normal(size=k), "c": c, "s": np.asarray(1.0 + rng.random()), "Aeq": Aeq,
              "beq": Aeq @ x0, "G": G, "h": G @ x0 + rng.random(3), "r": np.asarray(1.0),
              "rho": np.asarray(np.linalg.norm(x0 - c) + 0.3), "rho1": np.asarray(np.abs(x0 - c).sum() + 0.3),
              "lo": x0 - rng.random(n)}
    spec = {"n": n, "terms": terms, "constraints": constraints, "maximize": bool(rng.random() < 0.5),
            "empty": bool(rng.random() < 0.1)}
    return spec, values


def model(lib: Any, spec: dict[str, Any], values: dict[str, np.ndarray]) -> Any:
    """The drawn model in ``lib`` (optdsl or ``reliability_families.CVXPY``, cvxpy under optdsl's names), its
    parameters named as ``values``' keys."""
    x = lib.Variable(spec["n"], name="x")
    P = {key: lib.Parameter(np.shape(v), name=key, **({"nonneg": True} if np.ndim(v) == 0 else {}))
         for key, v in values.items()}
    argument = {"Ab": P["A"] @ x - P["b"], "xc": x - P["c"], "x": x}
    positive = x + P["r"] + 0.5
    total = sum(w * TERMS[name](lib, argument[which], positive, P["s"]) for name, w, which in spec["terms"])
    objective = lib.Maximize(-total) if spec["maximize"] else lib.Minimize(total)
    rows = {"equality": [P["Aeq"] @ x == P["beq"]], "inequality": [P["G"] @ x <= P["h"]],
            "ball": [lib.norm2(x - P["c"]) <= P["rho"]], "norm1_ball": [lib.norm1(x - P["c"]) <= P["rho1"]],
            "lower": [x >= P["lo"]]}
    constraints = [x <= P["r"], x >= -P["r"]] + [row for name in spec["constraints"] for row in rows[name]]
    if spec["empty"]:
        constraints.append(lib.sum(x) >= spec["n"] * P["r"] + 1)
    return lib.Problem(objective, constraints)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_drawn_model_agrees_with_cvxpy(seed: int):
    spec, values = draw(seed)
    reference = model(rf.CVXPY, spec, values)
    expected = rf.solve_reference(reference, values)
    if seed % 2:
        problem, given = od.from_cvxpy(reference)
        values = {name: np.asarray(v) for name, v in given.items()}
    else:
        problem = model(od, spec, values)
    solve = problem.compile()
    params = {p.name: jnp.asarray(values[p.name], jnp.float64) for p in solve.parameters}
    solution = solve(params)
    if expected.status == "infeasible":
        assert solution.status_name() == "infeasible", spec
        return
    assert expected.status == "optimal", (spec, expected)
    assert solution.status_name() == "solved", spec
    objective = float(solution.objective)
    assert abs(objective - expected.value) <= OBJECTIVE_TOL * (1 + abs(expected.value)), (spec, objective, expected)

    name = max(params, key=lambda p: (params[p].ndim, p))
    direction = np.random.default_rng(seed).normal(size=params[name].shape)

    def value(theta: jax.Array) -> jax.Array:
        return solve({**params, name: theta}).objective

    gradient = float(jnp.sum(jax.grad(value)(params[name]) * direction))
    central = (float(value(params[name] + STEP * direction)) - float(value(params[name] - STEP * direction))) / (
        2 * STEP)
    assert np.isfinite(gradient), spec
    assert abs(gradient - central) <= GRADIENT_TOL * (1 + abs(central)), (spec, name, gradient, central)
