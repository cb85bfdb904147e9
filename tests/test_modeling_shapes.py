"""Shape inference of every operator and atom (numpy semantics), and ShapeError messages."""

import numpy as np
import pytest

import optdsl as od
from optdsl.modeling import ModelingError, ShapeError

SHAPES = [(), (3,), (2, 3), (3, 1), (1, 3)]


def var(shape):
    return od.Variable(shape)


@pytest.mark.parametrize(
    "op",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a * b,
        lambda a, b: a / b,
        lambda a, b: od.multiply(a, b) if not isinstance(a, np.ndarray) else np.multiply(a, b),
        lambda a, b: od.maximum(a, b) if not isinstance(a, np.ndarray) else np.maximum(a, b),
        lambda a, b: od.kl_div(a, b) if not isinstance(a, np.ndarray) else a + b,
    ],
    ids=["add", "sub", "mul", "div", "multiply", "maximum", "kl_div"],
)
@pytest.mark.parametrize("left", SHAPES)
@pytest.mark.parametrize("right", SHAPES)
def test_elementwise_binary_ops_broadcast_like_numpy(op, left, right):
    try:
        expected = op(np.ones(left), np.ones(right)).shape
    except ValueError:
        with pytest.raises(ShapeError) as error:
            op(var(left), var(right))
        assert str(left) in str(error.value) and str(right) in str(error.value)
        return
    assert op(var(left), var(right)).shape == expected


@pytest.mark.parametrize(
    "left, right, expected",
    [((3,), (3,), ()), ((2, 3), (3,), (2,)), ((3,), (3, 4), (4,)), ((2, 3), (3, 4), (2, 4))],
)
def test_matmul_shapes_follow_numpy(left, right, expected):
    assert (var(left) @ var(right)).shape == expected == (np.ones(left) @ np.ones(right)).shape
    assert (np.ones(left) @ var(right)).shape == expected
    assert (var(left) @ np.ones(right)).shape == expected


@pytest.mark.parametrize(
    "shape, key",
    [
        ((6,), 2), ((6,), -1), ((6,), slice(1, 4)), ((6,), slice(None, None, 2)), ((6,), [0, 2, 5]),
        ((6,), np.array([[0, 1], [2, 3]])), ((4, 5), 1), ((4, 5), (1, 2)), ((4, 5), (slice(None), 1)),
        ((4, 5), (1, slice(2, None))), ((4, 5), ([0, 2], 1)), ((4, 5), (slice(None), [0, 3])),
        ((4, 5), ([0, 1], [1, 2])), ((4, 5), (slice(1, 3), slice(0, 5, 2))), ((4, 5), (-1, -2)),
    ],
)
def test_indexing_shapes_follow_numpy(shape, key):
    assert var(shape)[key].shape == np.zeros(shape)[key].shape


@pytest.mark.parametrize("shape", [(3,), (2, 3), (4, 1)])
@pytest.mark.parametrize("axis", [None, 0, -1])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize(
    "ours, numpy_reduction",
    [(od.sum, np.sum), (od.mean, np.mean), (od.max, np.max), (od.min, np.min), (od.norm1, np.sum),
     (od.norm2, np.sum), (od.norm_inf, np.max), (lambda x, **k: od.pnorm(x, 3, **k), np.sum),
     (od.log_sum_exp, np.sum)],
    ids=["sum", "mean", "max", "min", "norm1", "norm2", "norm_inf", "pnorm", "log_sum_exp"],
)
def test_reductions_shapes_follow_numpy(shape, axis, keepdims, ours, numpy_reduction):
    expected = numpy_reduction(np.ones(shape), axis=axis, keepdims=keepdims).shape
    assert ours(var(shape), axis=axis, keepdims=keepdims).shape == expected


def test_method_sum_matches_function():
    X = var((2, 3))
    assert X.sum(axis=1).shape == (2,) and X.sum().shape == ()


def test_transpose_and_structural_operators():
    X, x = var((2, 3)), var(4)
    assert X.T.shape == (3, 2) and X.T.T is X
    assert x.T is x and var(()).T.shape == ()
    assert od.reshape(X, (3, 2)).shape == (3, 2)
    assert od.reshape(X, -1).shape == (6,)
    assert od.reshape(X, (-1, 2)).shape == (3, 2)
    assert od.reshape(x, (2, 2)).shape == (2, 2)
    assert od.diag(x).shape == (4, 4) and od.diag(X).shape == (2,)
    assert od.trace(var((3, 3))).shape == ()
    assert od.cumsum(X, axis=1).shape == (2, 3) and od.cumsum(x).shape == (4,)
    assert (-X).shape == (2, 3)
    assert (X ** 2).shape == (2, 3) and abs(X).shape == (2, 3)


@pytest.mark.parametrize(
    "shapes",
    [[(3,), (2,)], [(), (3,)], [(2, 3), (2, 1)], [(2, 3), (4, 3)], [(3,), (3,)], [(), ()], [(1, 2), (3,)]],
)
def test_stacks_follow_numpy(shapes):
    arrays = [np.ones(s) for s in shapes]
    variables = [var(s) for s in shapes]
    for ours, theirs in ((od.hstack, np.hstack), (od.vstack, np.vstack)):
        try:
            expected = theirs(arrays).shape
        except ValueError:
            with pytest.raises(ShapeError):
                ours(variables)
            continue
        assert ours(variables).shape == expected
    for axis in (0, 1, -1):
        try:
            expected = np.concatenate(arrays, axis=axis).shape
        except (ValueError, np.exceptions.AxisError):
            with pytest.raises(ShapeError):
                od.concatenate(variables, axis=axis)
            continue
        assert od.concatenate(variables, axis=axis).shape == expected


def test_atom_shapes():
    x, X, S = var(3), var((2, 3)), var((3, 3))
    assert od.sum_squares(X).shape == () and od.square(X).shape == (2, 3)
    assert od.quad_form(x, np.eye(3)).shape == () and od.quad_over_lin(X, 2.0).shape == ()
    assert od.log_det(S).shape == () and od.lambda_max(S).shape == ()
    assert od.matrix_frac(x, S).shape == () and od.matrix_frac(var((3, 2)), S).shape == ()
    assert od.maximum(x, 0, var((2, 1))).shape == (2, 3) and od.minimum(X, x).shape == (2, 3)
    assert od.huber(X, 2).shape == (2, 3) and od.norm(X, "fro").shape == ()
    assert od.norm(X, 1, axis=1).shape == (2,) and od.norm(x, np.inf).shape == ()
    for atom in (od.exp, od.log, od.logistic, od.entropy, od.pos, od.neg, od.sqrt, od.inv_pos, od.abs,
                 od.sin, od.cos, od.tanh, od.sigmoid):
        assert atom(X).shape == (2, 3)
    assert od.rel_entr(x, 1.0).shape == (3,) and od.power(X, 0.5).shape == (2, 3)


def test_size_and_ndim():
    X = var((2, 3))
    assert (X.size, X.ndim, var(()).size, var(()).ndim) == (6, 2, 1, 0)


# ---- errors --------------------------------------------------------------------------------------
SHAPE_MISTAKES = [
    ("add", lambda: var(3) + var(4), [(3,), (4,)]),
    ("multiply", lambda: var((2, 3)) * var(2), [(2, 3), (2,)]),
    ("divide", lambda: var(3) / np.ones(2), [(3,), (2,)]),
    ("matmul", lambda: var((3, 4)) @ var(5), [(3, 4), (5,)]),
    ("matmul", lambda: var(()) @ var(3), [(), (3,)]),
    ("==", lambda: var(3) == var(2), [(3,), (2,)]),
    ("<=", lambda: var((2, 2)) <= var(3), [(2, 2), (3,)]),
    (">=", lambda: var((2, 2)) >= var(3), [(3,), (2, 2)]),
    ("hstack", lambda: od.hstack([var((3, 2)), var((4, 3))]), [(3, 2), (4, 3)]),
    ("vstack", lambda: od.vstack([var(3), var(4)]), [(3,), (4,)]),
    ("concatenate", lambda: od.concatenate([var(3), var((3, 1))]), [(3,), (3, 1)]),
    ("quad_form", lambda: od.quad_form(var(3), np.eye(4)), [(3,), (4, 4)]),
    ("quad_over_lin", lambda: od.quad_over_lin(var(3), var(2)), [(3,), (2,)]),
    ("matrix_frac", lambda: od.matrix_frac(var(3), var((2, 2))), [(3,), (2, 2)]),
    ("kl_div", lambda: od.kl_div(var(3), var(2)), [(3,), (2,)]),
    ("maximum", lambda: od.maximum(var(3), var(2), 1.0), [(3,), (2,), ()]),
    ("ExpCone", lambda: od.ExpCone(var(3), var(3), var(2)), [(3,), (3,), (2,)]),
    ("SOC", lambda: od.SOC(var(2), var(3)), [(2,), (3,)]),
    ("SOC", lambda: od.SOC(var(3), var((2, 4)), axis=0), [(3,), (2, 4)]),
]


@pytest.mark.parametrize("op, build, shapes", SHAPE_MISTAKES, ids=[f"{i}-{c[0]}" for i, c in enumerate(SHAPE_MISTAKES)])
def test_shape_errors_name_operation_and_every_shape(op, build, shapes):
    with pytest.raises(ShapeError) as error:
        build()
    message = str(error.value)
    assert message.startswith(op + ":")
    for shape in shapes:
        assert str(shape) in message


def test_matmul_error_text_is_exact():
    with pytest.raises(ShapeError, match=r"^matmul: shapes \(3, 4\) and \(5,\) are not aligned \(4 != 5\)$"):
        var((3, 4)) @ var(5)


@pytest.mark.parametrize(
    "build, fragment",
    [
        (lambda: od.trace(var((2, 3))), "trace: shape (2, 3) is not a square matrix"),
        (lambda: od.log_det(var(3)), "log_det: shape (3,) is not a square matrix"),
        (lambda: od.lambda_max(var((2, 3))), "lambda_max: shape (2, 3)"),
        (lambda: od.PSD(var((2, 3))), "PSD: shape (2, 3)"),
        (lambda: od.reshape(var((2, 3)), (4, 2)), "reshape: cannot reshape shape (2, 3) (size 6) into (4, 2)"),
        (lambda: od.reshape(var((2, 3)), (-1, 4)), "reshape: cannot reshape shape (2, 3) into (-1, 4)"),
        (lambda: od.diag(var(())), "diag: shape ()"),
        (lambda: var((2, 3)).sum(axis=2), "sum: axis 2 is out of range for shape (2, 3)"),
        (lambda: od.cumsum(var(()), axis=0), "cumsum: axis 0 is out of range for shape ()"),
        (lambda: var(4)[4], "index: [4] does not fit shape (4,)"),
        (lambda: var((2, 3))[0, 0, 0], "index: [0, 0, 0] does not fit shape (2, 3)"),
        (lambda: od.Minimize(var(3)), "minimize: the objective must be a scalar, got shape (3,)"),
        (lambda: od.Variable((2, 2, 2)), "variable: shape (2, 2, 2) has 3 dimensions"),
        (lambda: od.Variable(-1), "variable: shape (-1,) has a negative dimension"),
        (lambda: od.Constant(np.ones((2, 2, 2))), "Constant: shape (2, 2, 2)"),
        (lambda: od.hstack([var(()), var((2, 2))]), "hstack: shapes () and (2, 2) have different numbers"),
    ],
)
def test_single_shape_errors(build, fragment):
    with pytest.raises(ShapeError) as error:
        build()
    assert fragment in str(error.value)


@pytest.mark.parametrize(
    "build, fragment",
    [
        (lambda: var(3)[var(())], "indices must be ints, slices or integer arrays"),
        (lambda: var(3)[1.5], "indices must be ints, slices or integer arrays"),
        (lambda: var(3)[[True, False, True]], "indices must be ints, slices or integer arrays"),
        (lambda: od.hstack([]), "hstack: expected a non-empty list"),
        (lambda: od.maximum(var(3)), "maximum: needs at least two arguments"),
        (lambda: var(3) + "a", "Constant: expected real numbers"),
        (lambda: var(3) + np.array([1j, 2, 3]), "Constant: expected real numbers"),
    ],
)
def test_bad_arguments_raise_modeling_error(build, fragment):
    with pytest.raises(ModelingError) as error:
        build()
    assert fragment in str(error.value)
