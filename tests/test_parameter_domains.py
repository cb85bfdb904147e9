"""Parameter values outside their declared domain (or outside what an atom's curvature assumed) are never used silently.

Concrete values raise a ``ParameterError`` naming the parameter, its shape, the property and
the evidence; traced ones (``jit``, ``vmap``) give the status ``invalid_parameter`` on exactly
the instances that fail, the others solved as one by one. References: closed forms
(soft thresholding; a box-constrained QP with a diagonal matrix is solved coordinatewise).
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optdsl as od
from optdsl.compiler.domains import parameter_domains
from optdsl.modeling import ModelingError
from optdsl.runtime.status import describe

jax.config.update("jax_enable_x64", True)

C0 = np.array([2.0, -0.3, -1.5])
Q0 = np.array([1.0, -3.0, 0.5])
DIAG = np.diag([2.0, 1.0, 4.0])
DENSE = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.5]])
INDEFINITE = np.diag([1.0, -1.0, 2.0])
NONSYMMETRIC = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 4.0]])  # its symmetric part is PD


def soft_threshold(c, lam):
    """argmin sum_squares(x - c) + lam * norm1(x)."""
    return np.sign(c) * np.maximum(np.abs(c) - lam / 2, 0.0)


def box_qp(P, q):
    """argmin 0.5 x'Px + q'x on [-1, 1]^n for a diagonal P."""
    return np.clip(-q / np.diag(P), -1.0, 1.0)


def _qp(declared: dict, sense=od.Minimize):
    x, P, q = od.Variable(3, name="x"), od.Parameter((3, 3), name="P", **declared), od.Parameter(3, name="q")
    sign = 1.0 if sense is od.Minimize else -1.0
    return od.Problem(sense(0.5 * od.quad_form(x, P) + sign * (q @ x)), [x >= -1, x <= 1])


@pytest.fixture(scope="module")
def lasso():
    x, c, lam = od.Variable(3, name="x"), od.Parameter(3, name="c"), od.Parameter(name="lam", nonneg=True)
    return od.Problem(od.Minimize(od.sum_squares(x - c) + lam * od.norm1(x))).compile(method="proximal_gradient")


@pytest.fixture(scope="module")
def everything():
    """One model with every kind of requirement: nonneg, nonpos, psd, nsd, quad_form's and matrix_frac's trust."""
    x, c = od.Variable(3, name="x"), od.Parameter(3, name="c")
    lam, mu = od.Parameter(name="lam", nonneg=True), od.Parameter(name="mu", nonpos=True)
    P, N = od.Parameter((3, 3), name="P", psd=True), od.Parameter((3, 3), name="N", nsd=True)
    Q, M = od.Parameter((3, 3), name="Q"), od.Parameter((3, 3), name="M")
    objective = (od.sum_squares(x - c) + lam * od.norm1(x) - mu * od.sum_squares(x) + od.quad_form(x, P)
                 - od.quad_form(x, N) + od.quad_form(x, Q) + od.matrix_frac(x, M))
    return od.Problem(od.Minimize(objective)).compile()


VALID = {"c": C0, "lam": 1.0, "mu": -1.0, "P": DIAG, "N": -DENSE, "Q": DENSE, "M": DIAG}

# ---- concrete values: a ParameterError with the evidence ----------------------------------------


def test_valid_values_pass_every_check(everything):
    assert describe(everything(**VALID).status) == "solved"


@pytest.mark.parametrize("name, value, message", [
    ("lam", -5.0, "parameter 'lam' of shape () is declared nonneg but has entry -5.0 at index ()"),
    ("lam", -np.inf, "parameter 'lam' of shape () must be finite but has entry -inf at index ()"),
    ("c", np.array([1.0, np.nan, 0.0]), "parameter 'c' of shape (3,) must be finite but has entry nan at index (1,)"),
    ("mu", np.inf, "parameter 'mu' of shape () must be finite but has entry inf at index ()"),
    ("mu", 0.25, "parameter 'mu' of shape () is declared nonpos but has entry 0.25 at index ()"),
    ("P", INDEFINITE, "parameter 'P' of shape (3, 3) is declared psd but its smallest eigenvalue is -1.0"),
    ("P", NONSYMMETRIC,
     "parameter 'P' of shape (3, 3) is declared psd but its entries (0, 1) and (1, 0) differ by 1.0"),
    ("N", DIAG, "parameter 'N' of shape (3, 3) is declared nsd but its largest eigenvalue is 4.0"),
    ("Q", INDEFINITE,
     "parameter 'Q' of shape (3, 3) must be PSD for quad_form(x, Q) but its smallest eigenvalue is -1.0"),
    ("M", NONSYMMETRIC,
     "parameter 'M' of shape (3, 3) must be symmetric for matrix_frac(x, M) but its entries (0, 1) and (1, 0) "
     "differ by 1.0"),
    ("M", INDEFINITE, "parameter 'M' of shape (3, 3) must be PSD for matrix_frac(x, M) but its smallest eigenvalue"),
])
def test_a_value_outside_its_domain_is_a_parameter_error_with_the_evidence(everything, name, value, message):
    with pytest.raises(od.ParameterError, match=re.escape(message)):
        everything(**{**VALID, name: value})


def test_the_worst_entry_is_named_by_its_index():
    x, u = od.Variable((2, 2), name="x"), od.Parameter((2, 2), name="u", nonneg=True)
    domains = parameter_domains(od.Problem(od.Minimize(od.sum_squares(x - u))))
    with pytest.raises(od.ParameterError, match=re.escape("has entry -3.0 at index (1, 0)")):
        domains.check({"u": jnp.array([[1.0, -0.5], [-3.0, 2.0]])}, jnp.float64)


@pytest.mark.parametrize("value, received", [
    ("abc", "str 'abc'"), (None, "NoneType"), (np.array([1.0, None], dtype=object), "ndarray of dtype object"),
    ([1.0, None, 2.0], "list of dtype object"), ([[1.0], [1.0, 2.0]], "list"),
])
def test_a_value_that_is_not_numeric_is_a_parameter_error_naming_the_parameter(everything, value, received):
    with pytest.raises(od.ParameterError, match=re.escape(f"parameter 'c' must be a number or an array of numbers, "
                                                          f"got {received}")):
        everything(**{**VALID, "c": value})


def test_the_tolerance_follows_the_dtype():
    """A PSD matrix off by rounding passes; the slack is tol * (1 + max|P|), tol the dtype's default."""
    domains = parameter_domains(_qp({"psd": True}))
    eigenvectors = np.linalg.qr(np.arange(9.0).reshape(3, 3) + np.eye(3))[0]

    def with_smallest(eigenvalue, dtype):
        P = eigenvectors @ np.diag([eigenvalue, 1.0, 2.0]) @ eigenvectors.T
        return {"P": jnp.asarray((P + P.T) / 2, dtype), "q": jnp.asarray(Q0, dtype)}

    domains.check(with_smallest(-1e-13, jnp.float64), jnp.float64)
    with pytest.raises(od.ParameterError, match="smallest eigenvalue is -1e-06"):
        domains.check(with_smallest(-1e-6, jnp.float64), jnp.float64)
    domains.check(with_smallest(-1e-6, jnp.float32), jnp.float32)  # float32's default tol is ~1.2e-5
    with pytest.raises(od.ParameterError, match="smallest eigenvalue"):
        domains.check(with_smallest(-1e-3, jnp.float32), jnp.float32)


# ---- traced values: the status invalid_parameter, per instance ----------------------------------

BATCHES = {
    # route: (problem, batched parameter, values: valid, invalid, valid); the first is DIAG's box QP or lam = 1
    "projected_gradient": (lambda: _qp({"psd": True}), "P", np.stack([DIAG, NONSYMMETRIC, DENSE])),
    "kkt": (lambda: _qp({}), "P", np.stack([DIAG, INDEFINITE, DENSE])),
    "conic": (lambda: _qp({"nsd": True}, od.Maximize), "P", np.stack([-DIAG, DIAG, -DENSE])),
}


@pytest.fixture(scope="module", params=["proximal_gradient", *BATCHES])
def route(request, lasso):
    """(compiled problem, batched parameter, batch, fixed values, closed form of the first instance)."""
    if request.param == "proximal_gradient":
        return lasso, "lam", np.array([1.0, -5.0, 0.5]), {"c": C0}, soft_threshold(C0, 1.0)
    build, name, batch = BATCHES[request.param]
    solve = build().compile(method=request.param)
    assert solve.method == request.param
    return solve, name, batch, {"q": Q0}, box_qp(DIAG, Q0)


def test_vmap_and_jit_report_invalid_parameter_on_exactly_the_invalid_instances(route):
    """Batched (vmap) and one by one (jit of a function calling the compiled problem): the same statuses and answers."""
    solve, name, batch, fixed, closed_form = route

    def solve_at(value):
        return solve(**fixed, **{name: value})

    batched = jax.vmap(solve_at)(batch)
    one_by_one = [jax.jit(solve_at)(value) for value in batch]
    expected = ["solved", "invalid_parameter", "solved"]
    assert [describe(s) for s in batched.status] == expected
    assert [describe(s.status) for s in one_by_one] == expected
    np.testing.assert_allclose(batched.x[0], closed_form, atol=1e-6)
    for i in (0, 2):
        np.testing.assert_allclose(batched.x[i], one_by_one[i].x, atol=1e-8)


def test_a_non_finite_entry_is_invalid_parameter_on_its_instance_only(lasso):
    batch = np.stack([C0, np.where(np.arange(3) == 1, np.nan, C0), np.where(np.arange(3) == 2, -np.inf, C0)])
    solved = jax.vmap(lambda c: lasso(c=c, lam=1.0))(batch)
    assert [describe(s) for s in solved.status] == ["solved", "invalid_parameter", "invalid_parameter"]
    np.testing.assert_allclose(solved.x[0], soft_threshold(C0, 1.0), atol=1e-6)


def test_a_gradient_through_a_declared_parameter_is_unchanged(lasso):
    """d/dlam of sum(x*) is -sum(sign(c_i)) / 2 over the entries soft thresholding keeps."""
    grad = jax.grad(lambda lam: jnp.sum(lasso(c=C0, lam=lam).x))(1.0)
    kept = np.abs(C0) > 0.5
    np.testing.assert_allclose(grad, -np.sum(np.sign(C0[kept])) / 2, atol=1e-6)


# ---- what is declared and what is trusted -------------------------------------------------------


def test_declared_psd_or_nsd_decides_the_curvature_of_quad_form():
    x = od.Variable(3, name="x")
    P, N = od.Parameter((3, 3), name="P", psd=True), od.Parameter((3, 3), name="N", nsd=True)
    assert od.quad_form(x, P).curvature.value == "convex" and od.quad_form(x, P).parameter_requirements() == ()
    assert od.quad_form(x, N).curvature.value == "concave" and od.quad_form(x, N).sign.value == "nonpos"
    assert not od.Problem(od.Minimize(od.quad_form(x, N))).is_dcp()
    assert od.Problem(od.Maximize(od.quad_form(x, N))).is_dcp()
    Q = od.Parameter((3, 3), name="Q")
    assert [(str(e), p) for e, p in od.quad_form(x, 2 * Q).parameter_requirements()] == [("2 * Q", "psd")]


def test_parameter_flags_are_checked_and_part_of_the_structure():
    with pytest.raises(ModelingError, match="'P': psd needs a square matrix shape"):
        od.Parameter((3, 2), name="P", psd=True)
    with pytest.raises(ModelingError, match="'P': psd and nsd cannot be declared together"):
        od.Parameter((2, 2), name="P", psd=True, nsd=True)
    with pytest.raises(ModelingError, match="'P': nonpos and psd cannot be declared together"):
        od.Parameter((2, 2), name="P", psd=True, nonpos=True)
    P = od.Parameter((2, 2), name="P", nonneg=True, psd=True)
    assert repr(P) == "Parameter((2, 2), name='P', nonneg=True, psd=True)"
    assert P.sign.value == "nonneg"
    assert P.structure_key() != od.Parameter((2, 2), name="P", nonneg=True).structure_key()


def test_each_requirement_is_collected_once_and_nonconvex_keeps_only_the_declared_ones():
    x, P, lam = od.Variable(3, name="x"), od.Parameter((3, 3), name="P"), od.Parameter(name="lam", nonneg=True)
    problem = od.Problem(od.Minimize(od.quad_form(x, P) + lam * od.norm1(x)), [od.quad_form(x, P) <= 1])
    finite = [(f"parameter {p.name!r}", "finite") for p in problem.parameters()]  # every parameter's, first
    found = [(r.subject, r.prop) for r in parameter_domains(problem).requirements]
    assert found == [*finite, ("parameter 'lam'", "nonneg"), ("parameter 'P'", "psd")]
    found = [(r.subject, r.prop) for r in parameter_domains(problem, trusted=False).requirements]
    assert found == [*finite, ("parameter 'lam'", "nonneg")]


def test_nonconvex_solves_with_an_indefinite_matrix_but_still_checks_declarations():
    x, Q, lam = od.Variable(2, name="x"), od.Parameter((2, 2), name="Q"), od.Parameter(name="lam", nonneg=True)
    problem = od.Problem(od.Minimize(od.sum_squares(x - 1) + od.quad_form(x, Q) + lam * od.sum(x)))
    solve = problem.compile(method="kkt", nonconvex=True)
    Q0 = np.diag([1.0, -0.5])  # Q + I is positive definite: the stationary point is the minimum
    solution = solve(Q=Q0, lam=0.5)
    assert describe(solution.status) == "solved"
    np.testing.assert_allclose(solution.x, np.linalg.solve(np.eye(2) + Q0, np.full(2, 1.0 - 0.25)), atol=1e-7)
    with pytest.raises(od.ParameterError, match="'lam'"):
        solve(Q=Q0, lam=-0.5)


def test_the_opt_language_declares_semidefinite_params():
    problem = od.parse("dim n\nparam P[n, n] >> 0\nparam N[n, n] <= 0 << 0\nvar x[n]\n"
                       "minimize quad_form(x, P) - quad_form(x, N)\n", n=2)
    P, N = problem.parameters()
    assert (P.psd, N.nsd, N.nonpos) == (True, True, True)
    assert od.parse(problem.to_opt()) == problem
    with pytest.raises(od.OptSyntaxError, match="a var cannot be declared psd; write the constraint X >> 0"):
        od.parse("var X[2, 2] >> 0\nminimize sum(X)\n")
