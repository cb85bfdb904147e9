"""The functions a ``.opt`` file may call, and what kind of value each parameter takes.

This explicit table is the only way from a name in a file to modeling code: a call
``huber(x, M=2)`` looks up ``"huber"`` here, matches the arguments to the parameters
listed (by position or by keyword, with the Python API's parameter names), checks each
argument's kind, and calls the modeling function. Parameters not given keep the
Python defaults. ``SOC``, ``PSD``, ``ExpCone`` and ``PowCone3D`` are constraints, written
alone on a constraint line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import optdsl.modeling as om


class Kind(Enum):
    """What an argument must be."""

    EXPRESSION = "an expression"
    NUMBER = "a number"
    NUMBER_OR_STRING = 'a number or a string ("inf", "fro", "nuc")'
    STRING = 'a string such as "F"'
    INTEGER = "an integer"
    BOOLEAN = "True or False"
    SHAPE = "a shape: an integer or a tuple of integers such as (3, 1)"
    EXPRESSION_LIST = "a list of expressions such as [x, y]"
    EXPRESSION_GRID = "a list of block rows such as [[A, B], [C, D]]"


@dataclass(frozen=True)
class Param:
    """One parameter: its Python name, the kind of value, and whether it must be given."""

    name: str
    kind: Kind = Kind.EXPRESSION
    required: bool = True


@dataclass(frozen=True)
class Function:
    """A callable of the modeling layer with its parameters; ``variadic``: any number (>= 2) of expressions."""

    build: Callable[..., Any]
    params: tuple[Param, ...] = ()
    variadic: bool = False

    def signature(self, name: str) -> str:
        """``name(x, M=...)``: the call as written in a file, for error messages."""
        if self.variadic:
            return f"{name}(x1, x2, ...)"
        return f"{name}({', '.join(p.name if p.required else f'{p.name}=...' for p in self.params)})"


def _one(*more: Param) -> tuple[Param, ...]:
    return (Param("x"), *more)


_AXIS = (Param("axis", Kind.INTEGER, False), Param("keepdims", Kind.BOOLEAN, False))
_ELEMENTWISE = _one()
_TWO = (Param("x"), Param("y"))
_K = Param("k", Kind.NUMBER)

FUNCTIONS: dict[str, Function] = {
    # elementwise atoms
    "abs": Function(om.abs, _ELEMENTWISE),
    "cos": Function(om.cos, _ELEMENTWISE),
    "entr": Function(om.entr, _ELEMENTWISE),
    "entropy": Function(om.entropy, _ELEMENTWISE),
    "exp": Function(om.exp, _ELEMENTWISE),
    "huber": Function(om.huber, _one(Param("M", Kind.NUMBER, False))),
    "inv_pos": Function(om.inv_pos, _ELEMENTWISE),
    "kl_div": Function(om.kl_div, _TWO),
    "log": Function(om.log, _ELEMENTWISE),
    "logistic": Function(om.logistic, _ELEMENTWISE),
    "maximum": Function(om.maximum, variadic=True),
    "minimum": Function(om.minimum, variadic=True),
    "neg": Function(om.neg, _ELEMENTWISE),
    "pos": Function(om.pos, _ELEMENTWISE),
    "power": Function(om.power, _one(Param("p", Kind.NUMBER))),
    "rel_entr": Function(om.rel_entr, _TWO),
    "sigmoid": Function(om.sigmoid, _ELEMENTWISE),
    "sin": Function(om.sin, _ELEMENTWISE),
    "sqrt": Function(om.sqrt, _ELEMENTWISE),
    "square": Function(om.square, _ELEMENTWISE),
    "tanh": Function(om.tanh, _ELEMENTWISE),
    # reductions and norms
    "geo_mean": Function(om.geo_mean, _one(Param("p", required=False))),
    "harmonic_mean": Function(om.harmonic_mean, _ELEMENTWISE),
    "log_sum_exp": Function(om.log_sum_exp, _one(*_AXIS)),
    "max": Function(om.max, _one(*_AXIS)),
    "min": Function(om.min, _one(*_AXIS)),
    "norm": Function(om.norm, _one(Param("p", Kind.NUMBER_OR_STRING, False), *_AXIS)),
    "norm1": Function(om.norm1, _one(*_AXIS)),
    "norm2": Function(om.norm2, _one(*_AXIS)),
    "norm_inf": Function(om.norm_inf, _one(*_AXIS)),
    "pnorm": Function(om.pnorm, _one(Param("p", Kind.NUMBER), *_AXIS)),
    "prod": Function(om.prod, _one(*_AXIS)),
    "sum_largest": Function(om.sum_largest, _one(_K, *_AXIS)),
    "sum_smallest": Function(om.sum_smallest, _one(_K, *_AXIS)),
    "sum_squares": Function(om.sum_squares, _ELEMENTWISE),
    # matrix atoms
    "lambda_max": Function(om.lambda_max, (Param("X"),)),
    "lambda_min": Function(om.lambda_min, (Param("X"),)),
    "lambda_sum_largest": Function(om.lambda_sum_largest, (Param("X"), _K)),
    "lambda_sum_smallest": Function(om.lambda_sum_smallest, (Param("X"), _K)),
    "log_det": Function(om.log_det, (Param("X"),)),
    "matrix_frac": Function(om.matrix_frac, (Param("x"), Param("P"))),
    "normNuc": Function(om.normNuc, (Param("X"),)),
    "quad_form": Function(om.quad_form, (Param("x"), Param("P"))),
    "quad_over_lin": Function(om.quad_over_lin, _TWO),
    "sigma_max": Function(om.sigma_max, (Param("X"),)),
    # structural (affine) functions
    "bmat": Function(om.bmat, (Param("blocks", Kind.EXPRESSION_GRID),)),
    "concatenate": Function(
        om.concatenate, (Param("parts", Kind.EXPRESSION_LIST), Param("axis", Kind.INTEGER, False))
    ),
    "cumsum": Function(om.cumsum, _one(Param("axis", Kind.INTEGER, False))),
    "diag": Function(om.diag, _ELEMENTWISE),
    "diff": Function(om.diff, _one(Param("k", Kind.INTEGER, False), Param("axis", Kind.INTEGER, False))),
    "hstack": Function(om.hstack, (Param("parts", Kind.EXPRESSION_LIST),)),
    "kron": Function(om.kron, (Param("a"), Param("b"))),
    "mean": Function(om.mean, _one(*_AXIS)),
    "multiply": Function(om.multiply, (Param("a"), Param("b"))),
    "outer": Function(om.outer, _TWO),
    "reshape": Function(om.reshape, _one(Param("shape", Kind.SHAPE))),
    "sum": Function(om.sum, _one(*_AXIS)),
    "trace": Function(om.trace, _ELEMENTWISE),
    "transpose": Function(om.transpose, _ELEMENTWISE),
    "upper_tri": Function(om.upper_tri, (Param("X"),)),
    "vec": Function(om.vec, _one(Param("order", Kind.STRING, False))),
    "vstack": Function(om.vstack, (Param("parts", Kind.EXPRESSION_LIST),)),
}

CONES: dict[str, Function] = {
    "SOC": Function(om.SOC, (Param("t"), Param("x"), Param("axis", Kind.INTEGER, False))),
    "PSD": Function(om.PSD, (Param("X"),)),
    "ExpCone": Function(om.ExpCone, (Param("x"), Param("y"), Param("z"))),
    "PowCone3D": Function(om.PowCone3D, (Param("x"), Param("y"), Param("z"), Param("alpha"))),
}
