"""The modeling layer: what users write (expressions, leaves, atoms, constraints, ``Problem``).

Both front ends (Python code and ``.opt`` files) build these objects; the compiler consumes them.

>>> import optdsl.modeling as om
>>> x = om.Variable(3, name="x")
>>> print(om.Problem(om.Minimize(om.norm1(x)), [om.sum(x) == 1]))
minimize norm1(x)
subject to
  sum(x) == 1
"""

from optdsl.modeling.affine import (
    concatenate, cumsum, diag, hstack, mean, multiply, reshape, sum, trace, transpose, vstack,
)
from optdsl.modeling.affine.structural import bmat, diff, kron, outer, upper_tri, vec
from optdsl.modeling.atoms import (
    abs, cos, entropy, exp, geo_mean, huber, inv_pos, kl_div, lambda_max, log, log_det, log_sum_exp, logistic,
    matrix_frac, max, maximum, min, minimum, neg, norm, norm1, norm2, norm_inf, pnorm, pos, power,
    quad_form, quad_over_lin, rel_entr, sigmoid, sin, sqrt, square, sum_squares, tanh,
    entr, harmonic_mean, lambda_min, lambda_sum_largest, lambda_sum_smallest, normNuc, prod, sigma_max,
    sum_largest, sum_smallest,
)
from optdsl.modeling.atom import Atom
from optdsl.modeling.constraints import PSD, SOC, Constraint, Equality, ExpCone, Inequality, PowCone3D
from optdsl.modeling.curvature import Curvature, Monotonicity, Sign
from optdsl.modeling.errors import DCPError, DGPError, ModelingError, ShapeError
from optdsl.modeling.expression import Expression
from optdsl.modeling.leaves import Constant, Parameter, Variable
from optdsl.modeling.problem import Maximize, Minimize, Objective, Problem

__all__ = [
    # leaves, expressions, problems
    "Atom", "Constant", "Expression", "Maximize", "Minimize", "Objective", "Parameter", "Problem", "Variable",
    # constraints
    "Constraint", "Equality", "ExpCone", "Inequality", "PowCone3D", "PSD", "SOC",
    # analysis and errors
    "Curvature", "DCPError", "DGPError", "ModelingError", "Monotonicity", "ShapeError", "Sign",
    # operators
    "concatenate", "cumsum", "diag", "hstack", "mean", "multiply", "reshape", "sum", "trace", "transpose",
    "vstack", "bmat", "diff", "kron", "outer", "upper_tri", "vec",
    # atoms
    "abs", "cos", "entropy", "exp", "geo_mean", "huber", "inv_pos", "kl_div", "lambda_max", "log", "log_det",
    "log_sum_exp", "logistic", "matrix_frac", "max", "maximum", "min", "minimum", "neg", "norm", "norm1",
    "norm2", "norm_inf", "pnorm", "pos", "power", "quad_form", "quad_over_lin", "rel_entr", "sigmoid",
    "sin", "sqrt", "square", "sum_squares", "tanh",
    "entr", "harmonic_mean", "lambda_min", "lambda_sum_largest", "lambda_sum_smallest", "normNuc", "prod",
    "sigma_max", "sum_largest", "sum_smallest",
]
