"""Curvature and sign of every atom and operator for each kind of argument, and the DCP rules.

Tables are hand-worked: for each argument kind (constant, affine, convex, concave, each
with unknown/nonneg/nonpos sign) the curvature and sign a DCP analysis must report.
"""

import numpy as np
import pytest

import optdsl as od
from optdsl.modeling import Curvature, Monotonicity, Sign
from optdsl.modeling.curvature import (
    allows_concave, allows_convex, compose, sign_monotonicity, sign_of_product, sign_of_sum,
)

CURVATURE = {"K": Curvature.CONSTANT, "A": Curvature.AFFINE, "V": Curvature.CONVEX, "C": Curvature.CONCAVE,
             "U": Curvature.UNKNOWN}
SIGN = {"+": Sign.NONNEG, "-": Sign.NONPOS, "0": Sign.ZERO, "?": Sign.UNKNOWN}

# Argument kinds, all of shape (3,): constant, affine, convex, concave x unknown / nonneg / nonpos sign.
KINDS = ["K", "A", "A+", "A-", "V", "V+", "V-", "C", "C+", "C-"]


def argument(kind, shape=(3,)):
    x = od.Variable(shape)
    builders = {
        "K": lambda: od.Constant(np.arange(1.0, 1.0 + np.prod(shape)).reshape(shape)),
        "A": lambda: x,
        "A+": lambda: od.Variable(shape, nonneg=True),
        "A-": lambda: od.Variable(shape, nonpos=True),
        "V": lambda: od.exp(x) - 2,
        "V+": lambda: od.exp(x),
        "V-": lambda: -od.sqrt(x),
        "C": lambda: od.log(x),
        "C+": lambda: od.sqrt(x),
        "C-": lambda: -od.exp(x),
    }
    return builders[kind]()


def test_argument_kinds_are_what_they_claim():
    for kind in KINDS:
        arg = argument(kind)
        assert arg.curvature is CURVATURE[kind[0]]
        assert arg.sign is (SIGN[kind[1]] if len(kind) == 2 else (Sign.NONNEG if kind == "K" else Sign.UNKNOWN))


# atom -> (curvature per kind in KINDS order, sign per kind in KINDS order)
SQUARE_LIKE = ("K V V V U V U U U V", "+ + + + + + + + + +")
INCREASING_CONVEX = ("K V V V V V V U U U", "+ + + + + + + + + +")
INCREASING_CONCAVE_NONNEG = ("K C C C U U U C C C", "+ + + + + + + + + +")
DECREASING_CONVEX = ("K V V V U U U V V V", "+ + + + + + + + + +")
SAME_SIGN = "+ ? + - ? + - ? + -"
FLIPPED_SIGN = "- ? - + ? - + ? - +"
INCREASING_AFFINE = ("K A A A V V V C C C", SAME_SIGN)

UNARY_TABLE = {
    "exp": (od.exp, INCREASING_CONVEX),
    "log": (od.log, ("K C C C U U U C C C", "? ? ? ? ? ? ? ? ? ?")),
    "sqrt": (od.sqrt, INCREASING_CONCAVE_NONNEG),
    "inv_pos": (od.inv_pos, DECREASING_CONVEX),
    "logistic": (od.logistic, INCREASING_CONVEX),
    "entropy": (od.entropy, ("K C C C U U U U U U", "? ? ? ? ? ? ? ? ? ?")),
    "pos": (od.pos, INCREASING_CONVEX),
    "neg": (od.neg, DECREASING_CONVEX),
    "square": (od.square, SQUARE_LIKE),
    "abs": (od.abs, SQUARE_LIKE),
    "builtin abs": (abs, SQUARE_LIKE),
    "huber": (od.huber, SQUARE_LIKE),
    "huber M=2": (lambda e: od.huber(e, 2.0), SQUARE_LIKE),
    "sum_squares": (od.sum_squares, SQUARE_LIKE),
    "norm1": (od.norm1, SQUARE_LIKE),
    "norm2": (od.norm2, SQUARE_LIKE),
    "norm_inf": (od.norm_inf, SQUARE_LIKE),
    "pnorm 3": (lambda e: od.pnorm(e, 3), SQUARE_LIKE),
    "norm 1.5": (lambda e: od.norm(e, 1.5), SQUARE_LIKE),
    "power 2": (lambda e: e**2, SQUARE_LIKE),
    "power 4": (lambda e: od.power(e, 4), SQUARE_LIKE),
    "power 3": (lambda e: e**3, INCREASING_CONVEX),
    "power 1.5": (lambda e: e**1.5, INCREASING_CONVEX),
    "power 0.5": (lambda e: e**0.5, INCREASING_CONCAVE_NONNEG),
    "power -1": (lambda e: e**-1, DECREASING_CONVEX),
    "power -0.5": (lambda e: e**-0.5, DECREASING_CONVEX),
    "power 1": (lambda e: e**1, INCREASING_AFFINE),
    "sin": (od.sin, ("K U U U U U U U U U", "? ? ? ? ? ? ? ? ? ?")),
    "cos": (od.cos, ("K U U U U U U U U U", "? ? ? ? ? ? ? ? ? ?")),
    "tanh": (od.tanh, ("K U U U U U U U U U", SAME_SIGN)),
    "sigmoid": (od.sigmoid, ("K U U U U U U U U U", "+ + + + + + + + + +")),
    "max": (od.max, ("K V V V V V V U U U", SAME_SIGN)),
    "min": (od.min, ("K C C C U U U C C C", SAME_SIGN)),
    "log_sum_exp": (od.log_sum_exp, ("K V V V V V V U U U", "? ? ? ? ? ? ? ? ? ?")),
    # affine and structural operators
    "sum": (od.sum, INCREASING_AFFINE),
    "mean": (od.mean, INCREASING_AFFINE),
    "negation": (lambda e: -e, ("K A A A C C C V V V", FLIPPED_SIGN)),
    "index": (lambda e: e[1:], INCREASING_AFFINE),
    "cumsum": (od.cumsum, INCREASING_AFFINE),
    "diag": (od.diag, INCREASING_AFFINE),
    "reshape": (lambda e: od.reshape(e, (3, 1)), INCREASING_AFFINE),
    "hstack": (lambda e: od.hstack([e, e]), INCREASING_AFFINE),
    "vstack": (lambda e: od.vstack([e, e]), INCREASING_AFFINE),
    "concatenate": (lambda e: od.concatenate([e, e]), INCREASING_AFFINE),
    "transpose": (lambda e: od.reshape(e, (1, 3)).T, INCREASING_AFFINE),
    "trace": (lambda e: od.trace(od.diag(e)), INCREASING_AFFINE),
    "2 * e": (lambda e: 2 * e, INCREASING_AFFINE),
    "multiply(e, 2)": (lambda e: od.multiply(e, 2), INCREASING_AFFINE),
    "-2 * e": (lambda e: -2.0 * e, ("K A A A C C C V V V", FLIPPED_SIGN)),
    "mixed * e": (lambda e: np.array([1.0, -1.0, 2.0]) * e, ("K A A A U U U U U U", "? ? ? ? ? ? ? ? ? ?")),
    "e / 2": (lambda e: e / 2, INCREASING_AFFINE),
    "e / -2": (lambda e: e / -2.0, ("K A A A C C C V V V", FLIPPED_SIGN)),
    "e / mixed": (lambda e: e / np.array([1.0, -1.0, 2.0]), ("K A A A U U U U U U", "? ? ? ? ? ? ? ? ? ?")),
    "ones @ e": (lambda e: np.ones((2, 3)) @ e, INCREASING_AFFINE),
    "e @ ones": (lambda e: e @ np.ones(3), INCREASING_AFFINE),
    "-ones @ e": (lambda e: -np.ones((2, 3)) @ e, ("K A A A C C C V V V", FLIPPED_SIGN)),
    "mixed @ e": (lambda e: np.array([[1.0, -1.0, 0.0]]) @ e, ("K A A A U U U U U U", "? ? ? ? ? ? ? ? ? ?")),
    "e + 1": (lambda e: e + 1, ("K A A A V V V C C C", "+ ? + ? ? + ? ? + ?")),
    "e - 1": (lambda e: e - 1, ("K A A A V V V C C C", "? ? ? - ? ? - ? ? -")),
}


@pytest.mark.parametrize("name", list(UNARY_TABLE))
def test_unary_curvature_and_sign_table(name):
    build, (curvatures, signs) = UNARY_TABLE[name]
    for kind, curvature, sign in zip(KINDS, curvatures.split(), signs.split(), strict=True):
        expr = build(argument(kind))
        assert (kind, expr.curvature) == (kind, CURVATURE[curvature])
        assert (kind, expr.sign) == (kind, SIGN[sign])
        assert expr.is_convex() == (curvature in "KAV")
        assert expr.is_concave() == (curvature in "KAC")
        assert expr.is_affine() == (curvature in "KA")
        assert expr.is_constant() == (curvature == "K")
        assert expr.is_nonneg() == (sign in "+0") and expr.is_nonpos() == (sign in "-0")


def arg(kind, shape=(3,)):
    return argument(kind, shape)


@pytest.mark.parametrize(
    "build, curvature, sign",
    [
        # kl_div: jointly convex, not monotone in either argument
        (lambda: od.kl_div(arg("A"), arg("A+")), "V", "+"),
        (lambda: od.kl_div(arg("A+"), arg("K")), "V", "+"),
        (lambda: od.kl_div(arg("V+"), arg("A")), "U", "+"),
        (lambda: od.kl_div(arg("A"), arg("C+")), "U", "+"),
        (lambda: od.kl_div(arg("K"), arg("K")), "K", "+"),
        # rel_entr: jointly convex, decreasing in y
        (lambda: od.rel_entr(arg("A"), arg("A")), "V", "?"),
        (lambda: od.rel_entr(arg("A"), arg("C")), "V", "?"),
        (lambda: od.rel_entr(arg("A"), arg("V")), "U", "?"),
        (lambda: od.rel_entr(arg("V"), arg("K")), "U", "?"),
        # quad_over_lin: sign-dependent in x, decreasing in y
        (lambda: od.quad_over_lin(arg("A"), arg("A", ())), "V", "+"),
        (lambda: od.quad_over_lin(arg("V+"), arg("C", ())), "V", "+"),
        (lambda: od.quad_over_lin(arg("C-"), arg("C+", ())), "V", "+"),
        (lambda: od.quad_over_lin(arg("V"), arg("K", ())), "U", "+"),
        (lambda: od.quad_over_lin(arg("V-"), arg("K", ())), "U", "+"),
        (lambda: od.quad_over_lin(arg("A"), arg("V", ())), "U", "+"),
        # maximum / minimum: increasing in every argument
        (lambda: od.maximum(arg("V"), arg("A")), "V", "?"),
        (lambda: od.maximum(arg("V"), arg("C")), "U", "?"),
        (lambda: od.maximum(arg("A+"), arg("A")), "V", "+"),
        (lambda: od.maximum(arg("A-"), arg("A-"), arg("V-")), "V", "-"),
        (lambda: od.maximum(arg("A-"), 0), "V", "0"),
        (lambda: od.maximum(arg("K"), 2.0), "K", "+"),
        (lambda: od.minimum(arg("C"), arg("A")), "C", "?"),
        (lambda: od.minimum(arg("V"), arg("A")), "U", "?"),
        (lambda: od.minimum(arg("A+"), arg("C+")), "C", "+"),
        (lambda: od.minimum(arg("A-"), arg("A")), "C", "-"),
        (lambda: od.minimum(arg("A+"), 0), "C", "0"),
        # quad_form: convex for PSD / parameter P, concave for NSD, unknown otherwise
        (lambda: od.quad_form(arg("A"), np.diag([1.0, 2.0, 0.0])), "V", "+"),
        (lambda: od.quad_form(arg("A"), -np.eye(3)), "C", "-"),
        (lambda: od.quad_form(arg("A"), np.diag([1.0, -1.0, 1.0])), "U", "?"),
        (lambda: od.quad_form(arg("A"), od.Parameter((3, 3))), "V", "+"),
        (lambda: od.quad_form(arg("A"), od.Variable((3, 3))), "U", "?"),
        (lambda: od.quad_form(arg("V+"), np.eye(3)), "U", "+"),
        (lambda: od.quad_form(arg("K"), np.eye(3)), "K", "+"),
        (lambda: od.quad_form(arg("A"), np.zeros((3, 3))), "A", "0"),
        # matrix_frac: jointly convex, not monotone
        (lambda: od.matrix_frac(arg("A"), arg("A", (3, 3))), "V", "+"),
        (lambda: od.matrix_frac(arg("A"), arg("K", (3, 3))), "V", "+"),
        (lambda: od.matrix_frac(arg("V"), arg("K", (3, 3))), "U", "+"),
        (lambda: od.matrix_frac(arg("A"), arg("C", (3, 3))), "U", "+"),
        (lambda: od.matrix_frac(arg("K"), arg("K", (3, 3))), "K", "+"),
        # matrix atoms: arguments must be affine
        (lambda: od.log_det(arg("A", (3, 3))), "C", "?"),
        (lambda: od.log_det(arg("C", (3, 3))), "U", "?"),
        (lambda: od.log_det(arg("K", (3, 3))), "K", "?"),
        (lambda: od.lambda_max(arg("A", (3, 3))), "V", "?"),
        (lambda: od.lambda_max(arg("V", (3, 3))), "U", "?"),
        (lambda: od.lambda_max(arg("C", (3, 3))), "U", "?"),
    ],
)
def test_multi_argument_and_matrix_atoms(build, curvature, sign):
    expr = build()
    assert expr.curvature is CURVATURE[curvature]
    assert expr.sign is SIGN[sign]


@pytest.mark.parametrize(
    "build, curvature, sign",
    [
        (lambda: arg("A") * arg("A"), "U", "?"),
        (lambda: arg("A+") * arg("A+"), "U", "+"),
        (lambda: arg("A-") * arg("A+"), "U", "-"),
        (lambda: arg("K") * arg("K"), "K", "+"),
        (lambda: od.Parameter(3) * arg("A"), "A", "?"),
        (lambda: od.Parameter(nonneg=True) * arg("V"), "V", "?"),
        (lambda: od.Parameter(nonpos=True) * arg("V+"), "C", "-"),
        (lambda: od.Parameter() * arg("V"), "U", "?"),
        (lambda: arg("A") / od.Parameter(nonneg=True), "A", "?"),
        (lambda: arg("V+") / od.Parameter(nonneg=True), "V", "+"),
        (lambda: arg("V+") / od.Parameter(nonpos=True), "C", "-"),
        (lambda: arg("V") / od.Parameter(), "U", "?"),
        (lambda: 1 / arg("A+"), "U", "+"),
        (lambda: arg("A") / arg("A"), "U", "?"),
        (lambda: arg("A") / 0.0, "A", "?"),
        (lambda: od.Parameter((2, 3)) @ arg("A"), "A", "?"),
        (lambda: od.Parameter((2, 3), nonneg=True) @ arg("V+"), "V", "+"),
        (lambda: arg("A") @ arg("A"), "U", "?"),
        (lambda: arg("V") + arg("V+"), "V", "?"),
        (lambda: arg("V") + arg("C"), "U", "?"),
        (lambda: arg("V") - arg("C"), "V", "?"),
        (lambda: arg("C") - arg("V"), "C", "?"),
        (lambda: arg("A+") + arg("A+"), "A", "+"),
        (lambda: arg("A+") + arg("A-"), "A", "?"),
        (lambda: arg("A+") - arg("A-"), "A", "+"),
        (lambda: od.Constant(0.0) + od.Constant([1.0, 2.0]), "K", "+"),
    ],
)
def test_products_quotients_and_sums(build, curvature, sign):
    expr = build()
    assert expr.curvature is CURVATURE[curvature]
    assert expr.sign is SIGN[sign]


x = od.Variable(3, name="x")
y = od.Variable(3, name="y")
t = od.Variable(name="t")
A = od.Parameter((4, 3), name="A")
b = od.Parameter(4, name="b")


@pytest.mark.parametrize(
    "build, curvature",
    [
        (lambda: od.square(od.norm2(x)), "V"),  # square is increasing on the nonnegative norm
        (lambda: od.norm2(x) ** 2, "V"),
        (lambda: od.sqrt(od.norm2(x)), "U"),  # concave increasing of convex
        (lambda: od.log(od.sqrt(x)), "C"),
        (lambda: od.exp(od.log_sum_exp(x)), "V"),
        (lambda: -od.log(x), "V"),
        (lambda: od.inv_pos(od.sqrt(x)), "V"),  # convex decreasing of concave
        (lambda: od.inv_pos(od.exp(x)), "U"),
        (lambda: od.norm2(A @ x - b), "V"),
        (lambda: od.max(x) - od.min(x), "V"),
        (lambda: od.sum(od.square(x)) / 2, "V"),
        (lambda: od.power(od.pos(x), 3), "V"),
        (lambda: od.power(od.sqrt(x), 2), "U"),  # square of a nonnegative concave expression
        (lambda: od.entropy(x) + od.log(y), "C"),
        (lambda: od.Parameter(nonneg=True) * od.norm1(x), "V"),
        (lambda: od.Parameter() * od.norm1(x), "U"),
        (lambda: od.quad_over_lin(od.norm2(x), t), "V"),
        (lambda: od.huber(A @ x - b), "V"),
        (lambda: od.kl_div(x, y) + od.sum(x), "V"),
        (lambda: x @ np.eye(3) @ x, "U"),
        (lambda: od.sqrt(x) * od.sqrt(y), "U"),
        (lambda: od.minimum(od.sqrt(x), od.log(y)), "C"),
        (lambda: od.maximum(od.abs(x), 1), "V"),
        (lambda: od.neg(od.log(x)), "V"),
        (lambda: od.pos(-od.sqrt(x)), "V"),
        (lambda: od.sum(od.norm2(od.reshape(x, (3, 1)), axis=1)), "V"),
        (lambda: od.log_sum_exp(A @ x) - b @ b, "V"),
        (lambda: od.lambda_max(od.diag(x)) + od.trace(od.diag(y)), "V"),
        (lambda: od.log_det(od.diag(x)) - od.sum_squares(y), "C"),
        (lambda: od.sin(od.Parameter()) * x, "A"),
        (lambda: od.sin(od.Parameter()) * od.square(x), "U"),
        (lambda: od.sin(od.Parameter(nonneg=True)) + x, "A"),
    ],
)
def test_composition_rules_hand_worked(build, curvature):
    assert build().curvature is CURVATURE[curvature]


def test_leaves_and_constants():
    assert od.Variable(2).curvature is Curvature.AFFINE and od.Variable(2).sign is Sign.UNKNOWN
    assert od.Parameter(2, nonneg=True).curvature is Curvature.CONSTANT
    assert od.Parameter(2, nonpos=True).sign is Sign.NONPOS
    assert od.Constant(0.0).sign is Sign.ZERO and od.Constant([0.0, -1.0]).sign is Sign.NONPOS
    assert od.Constant([1.0, -1.0]).sign is Sign.UNKNOWN and od.Constant(np.nan).sign is Sign.UNKNOWN
    assert od.Constant(3).curvature is Curvature.CONSTANT


def test_rule_functions():
    I, D, N = Monotonicity.INCREASING, Monotonicity.DECREASING, Monotonicity.NONE
    K, A, V, C, U = (CURVATURE[k] for k in "KAVCU")
    assert [allows_convex(I, c) for c in (K, A, V, C, U)] == [True, True, True, False, False]
    assert [allows_convex(D, c) for c in (K, A, V, C, U)] == [True, True, False, True, False]
    assert [allows_convex(N, c) for c in (K, A, V, C, U)] == [True, True, False, False, False]
    assert [allows_concave(I, c) for c in (K, A, V, C, U)] == [True, True, False, True, False]
    assert [allows_concave(D, c) for c in (K, A, V, C, U)] == [True, True, True, False, False]
    assert compose(True, False, [(I, K), (D, K)]) is K
    assert compose(True, True, [(I, A), (D, K)]) is A
    assert compose(True, True, [(I, V), (D, C)]) is V
    assert compose(True, True, [(I, V), (I, C)]) is U
    assert compose(False, True, [(I, C), (D, V)]) is C
    assert compose(False, False, [(I, A)]) is U
    assert [c.negate() for c in (K, A, V, C, U)] == [K, A, C, V, U]
    P, M, Z, Q = Sign.NONNEG, Sign.NONPOS, Sign.ZERO, Sign.UNKNOWN
    assert [s.negate() for s in (P, M, Z, Q)] == [M, P, Z, Q]
    assert sign_of_sum(P, P, Z) is P and sign_of_sum(M, Z) is M and sign_of_sum(P, M) is Q and sign_of_sum(Z) is Z
    assert sign_of_product(P, M) is M and sign_of_product(M, M) is P and sign_of_product(Q, Z) is Z
    assert sign_of_product(Q, P) is Q
    assert [sign_monotonicity(s) for s in (P, M, Z, Q)] == [I, D, I, N]
    assert f"{Curvature.CONVEX}" == "convex" and str(Sign.NONNEG) == "nonneg" and str(I) == "increasing"


def test_smoothness():
    smooth = [od.sum_squares(x), od.square(x), od.exp(x), od.log(x), od.logistic(x), od.huber(x), od.entropy(x),
              od.kl_div(x, y), od.rel_entr(x, y), od.quad_over_lin(x, t), od.sqrt(x), x**3, od.inv_pos(x),
              od.log_sum_exp(x), od.sin(x), od.cos(x), od.tanh(x), od.sigmoid(x), A @ x - b, x / 2,
              od.log_det(od.diag(x)), od.matrix_frac(x, np.eye(3)), od.quad_form(x, np.eye(3))]
    rough = [od.abs(x), od.norm1(x), od.norm2(x), od.norm_inf(x), od.pnorm(x, 3), od.pos(x), od.neg(x),
             od.max(x), od.min(x), od.maximum(x, y), od.minimum(x, y), od.lambda_max(od.diag(x))]
    assert all(e.is_smooth() for e in smooth)
    assert not any(e.is_smooth() for e in rough)
    assert not (od.sum_squares(x) + od.norm1(x)).is_smooth()
