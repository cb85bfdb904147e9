"""The atom catalogue: one atom a file (user-facing function, atom class, its rules).

Each class states shape, sign, curvature, monotonicity per argument, a JAX forward
function, ``smooth`` and, where one exists, the name of its runtime hook: a proximal
operator in ``optdsl.runtime.prox`` (``prox``) or a projection onto ``{x : atom(x) <= r}`` in
``optdsl.runtime.projections`` (``projection``), resolved by the compiler by name:

=============  ====================  ========================
atom           prox                  projection
=============  ====================  ========================
norm1          prox_lasso            projection_l1_ball
norm2          prox_group_lasso      projection_l2_ball
norm_inf       prox_linf_norm        projection_linf_ball
huber          prox_huber            (none)
sum_squares    prox_ridge            (none)
=============  ====================  ========================

``prox_non_negative_lasso`` (norm1 of a nonneg variable) and ``prox_elastic_net``
(norm1 plus sum_squares) belong to combinations of atoms, which the compiler recognises.
"""

from optdsl.modeling.atoms.abs import Abs, abs
from optdsl.modeling.atoms.cos import Cos, cos
from optdsl.modeling.atoms.entropy import Entropy, entropy
from optdsl.modeling.atoms.exp import Exp, exp
from optdsl.modeling.atoms.huber import Huber, huber
from optdsl.modeling.atoms.inv_pos import InvPos, inv_pos
from optdsl.modeling.atoms.kl_div import KlDiv, kl_div
from optdsl.modeling.atoms.lambda_max import LambdaMax, lambda_max
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
from optdsl.modeling.atoms.pnorm import Pnorm, pnorm
from optdsl.modeling.atoms.pos import Pos, pos
from optdsl.modeling.atoms.power import Power, power
from optdsl.modeling.atoms.quad_form import QuadForm, quad_form
from optdsl.modeling.atoms.quad_over_lin import QuadOverLin, quad_over_lin
from optdsl.modeling.atoms.rel_entr import RelEntr, rel_entr
from optdsl.modeling.atoms.sigmoid import Sigmoid, sigmoid
from optdsl.modeling.atoms.sin import Sin, sin
from optdsl.modeling.atoms.sqrt import Sqrt, sqrt
from optdsl.modeling.atoms.square import Square, square
from optdsl.modeling.atoms.sum_squares import SumSquares, sum_squares
from optdsl.modeling.atoms.tanh import Tanh, tanh

__all__ = [
    "Abs", "abs", "Cos", "cos", "Entropy", "entropy", "Exp", "exp",
    "Huber", "huber", "InvPos", "inv_pos", "KlDiv", "kl_div", "LambdaMax", "lambda_max",
    "Log", "log", "LogDet", "log_det", "LogSumExp", "log_sum_exp", "Logistic", "logistic",
    "MatrixFrac", "matrix_frac", "Max", "max", "Maximum", "maximum", "Min", "min",
    "Minimum", "minimum", "Neg", "neg", "norm", "Norm1", "norm1", "Norm2",
    "norm2", "NormInf", "norm_inf", "Pnorm", "pnorm", "Pos", "pos", "Power",
    "power", "QuadForm", "quad_form", "QuadOverLin", "quad_over_lin", "RelEntr", "rel_entr", "Sigmoid",
    "sigmoid", "Sin", "sin", "Sqrt", "sqrt", "Square", "square", "SumSquares",
    "sum_squares", "Tanh", "tanh",
]
