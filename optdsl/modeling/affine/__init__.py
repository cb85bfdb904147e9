"""Linear and structural operators: arithmetic, indexing, reshaping, stacking, reductions.

Each is affine when it is a linear map of its arguments (``*``, ``@`` and ``/`` are affine
only when one factor, or the denominator, is constant).
"""

from optdsl.modeling.affine.add import Add, add
from optdsl.modeling.affine.cumsum import Cumsum, cumsum
from optdsl.modeling.affine.diag import Diag, diag
from optdsl.modeling.affine.divide import Divide
from optdsl.modeling.affine.index import Index
from optdsl.modeling.affine.matmul import MatMul
from optdsl.modeling.affine.multiply import Multiply, multiply
from optdsl.modeling.affine.negation import Negation, negate
from optdsl.modeling.affine.product import Product
from optdsl.modeling.affine.reshape import Reshape, reshape
from optdsl.modeling.affine.stack import Concatenate, HStack, Stack, VStack, concatenate, hstack, vstack
from optdsl.modeling.affine.sum import Sum, mean, sum
from optdsl.modeling.affine.trace import Trace, trace
from optdsl.modeling.affine.transpose import Transpose, transpose

__all__ = [
    "Add", "Concatenate", "Cumsum", "Diag", "Divide", "HStack", "Index", "MatMul", "Multiply", "Negation",
    "Product", "Reshape", "Stack", "Sum", "Trace", "Transpose", "VStack",
    "add", "concatenate", "cumsum", "diag", "hstack", "mean", "multiply", "negate", "reshape", "sum",
    "trace", "transpose", "vstack",
]
