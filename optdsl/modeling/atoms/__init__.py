"""The atom catalogue: one atom a file (user-facing function, atom class, its rules).

Each class states shape, sign, curvature, monotonicity per argument, a JAX forward
function, ``smooth``, ``restricted_domain`` (finite only on part of the argument space)
and, for a convex or concave atom, its conic ``graph_form``. Which terms and constraints
get a proximal operator or a projection is the compiler's to recognise
(:mod:`optdsl.compiler.terms`, :mod:`optdsl.compiler.sets`).
"""

from optdsl.modeling.atoms.abs import Abs, abs
from optdsl.modeling.atoms.cos import Cos, cos
from optdsl.modeling.atoms.entropy import Entropy, entropy
from optdsl.modeling.atoms.exp import Exp, exp
from optdsl.modeling.atoms.geo_mean import GeoMean, geo_mean
from optdsl.modeling.atoms.harmonic_mean import HarmonicMean, harmonic_mean
from optdsl.modeling.atoms.huber import Huber, huber
from optdsl.modeling.atoms.inv_pos import InvPos, inv_pos
from optdsl.modeling.atoms.kl_div import KlDiv, kl_div
from optdsl.modeling.atoms.lambda_max import LambdaMax, lambda_max
from optdsl.modeling.atoms.lambda_sum_largest import (
    LambdaSumLargest, lambda_min, lambda_sum_largest, lambda_sum_smallest,
)
from optdsl.modeling.atoms.log import Log, log
from optdsl.modeling.atoms.log_det import LogDet, log_det
from optdsl.modeling.atoms.log_sum_exp import LogSumExp, log_sum_exp
from optdsl.modeling.atoms.logistic import Logistic, logistic
from optdsl.modeling.atoms.matrix_frac import MatrixFrac, matrix_frac
from optdsl.modeling.atoms.max import Max, max
from optdsl.modeling.atoms.maximum import Maximum, maximum
from optdsl.modeling.atoms.min import Min, min
from optdsl.modeling.atoms.minimum import Minimum, minimum
from optdsl.modeling.atoms.neg import Neg, neg
from optdsl.modeling.atoms.norm import norm
from optdsl.modeling.atoms.norm1 import Norm1, norm1
from optdsl.modeling.atoms.norm2 import Norm2, norm2
from optdsl.modeling.atoms.norm_inf import NormInf, norm_inf
from optdsl.modeling.atoms.norm_nuc import NormNuc, normNuc
from optdsl.modeling.atoms.pnorm import Pnorm, pnorm
from optdsl.modeling.atoms.pos import Pos, pos
from optdsl.modeling.atoms.power import Power, power
from optdsl.modeling.atoms.prod import Prod, prod
from optdsl.modeling.atoms.quad_form import QuadForm, quad_form
from optdsl.modeling.atoms.quad_over_lin import QuadOverLin, quad_over_lin
from optdsl.modeling.atoms.rel_entr import RelEntr, rel_entr
from optdsl.modeling.atoms.sigma_max import SigmaMax, sigma_max
from optdsl.modeling.atoms.sigmoid import Sigmoid, sigmoid
from optdsl.modeling.atoms.sin import Sin, sin
from optdsl.modeling.atoms.sqrt import Sqrt, sqrt
from optdsl.modeling.atoms.square import Square, square
from optdsl.modeling.atoms.sum_largest import SumLargest, sum_largest, sum_smallest
from optdsl.modeling.atoms.sum_squares import SumSquares, sum_squares
from optdsl.modeling.atoms.tanh import Tanh, tanh

#: cvxpy's name for entropy.
entr = entropy

__all__ = [
    "Abs", "abs", "Cos", "cos", "Entropy", "entropy", "Exp", "exp", "GeoMean", "geo_mean",
    "Huber", "huber", "InvPos", "inv_pos", "KlDiv", "kl_div", "LambdaMax", "lambda_max",
    "Log", "log", "LogDet", "log_det", "LogSumExp", "log_sum_exp", "Logistic", "logistic",
    "MatrixFrac", "matrix_frac", "Max", "max", "Maximum", "maximum", "Min", "min",
    "Minimum", "minimum", "Neg", "neg", "norm", "Norm1", "norm1", "Norm2",
    "norm2", "NormInf", "norm_inf", "Pnorm", "pnorm", "Pos", "pos", "Power",
    "power", "QuadForm", "quad_form", "QuadOverLin", "quad_over_lin", "RelEntr", "rel_entr", "Sigmoid",
    "sigmoid", "Sin", "sin", "Sqrt", "sqrt", "Square", "square", "SumSquares",
    "sum_squares", "Tanh", "tanh",
    "entr", "HarmonicMean", "harmonic_mean", "LambdaSumLargest", "lambda_min", "lambda_sum_largest",
    "lambda_sum_smallest", "NormNuc", "normNuc", "Prod", "prod", "SigmaMax", "sigma_max", "SumLargest",
    "sum_largest", "sum_smallest",
]
