"""Binding the sizes named by ``dim`` declarations: from ``parse(..., n=3)`` and from data shapes.

Before the model is built, every ``param`` declaration that has data is matched against
the data's shape: literal sizes must agree, and a dim name takes the size found (or must
agree with the size it already has, from an argument or from an earlier param).
"""

from __future__ import annotations

import difflib
import operator
from collections.abc import Mapping
from typing import Any

import numpy as np
from lark import Token, Tree

from optdsl.grammar.errors import LocatedShapeError, OptNameError, OptSourceError, Source
from optdsl.grammar.literals import whole_number

MAX_SIZE = 2**31 - 1  # the largest size a dim may take (larger ones overflow numpy's shape arithmetic)


def literal_size(token: Token, source: Source) -> int:
    """A size written as a number in a shape: a whole number from 0 to ``MAX_SIZE`` (else a located error)."""
    return whole_number(token.value, "a size", MAX_SIZE, source.at(token.line, token.column))


def _declared(tree: Tree, kind: str) -> dict[str, Tree]:
    return {str(node.children[1]): node for node in tree.children if isinstance(node, Tree) and node.data == kind}


def _dim_names(tree: Tree) -> set[str]:
    declarations = [node for node in tree.children if isinstance(node, Tree) and node.data == "dim_decl"]
    return {str(name) for node in declarations for name in node.children[1:]}


def _given_dims(dims: Mapping[str, Any], declared: set[str], source: Source) -> dict[str, int]:
    values: dict[str, int] = {}
    for name, value in dims.items():
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise OptNameError(
                f"{name}={value!r} names no dim of the model (declared dims: {known})", None, source.filename
            )
        try:
            size = operator.index(value)
        except TypeError:
            size = -1
        if isinstance(value, bool) or not 0 <= size <= MAX_SIZE:
            raise OptSourceError(
                f"dim {name} must be an integer from 0 to {MAX_SIZE}, got {value!r}", None, source.filename
            )
        values[name] = size
    return values


def bind_dims(tree: Tree, source: Source, dims: Mapping[str, Any], data: Mapping[str, Any] | None) -> dict[str, int]:
    """Sizes of the dims: those given, then those read off the data of each ``param`` (in file order).

    Raises ``OptNameError`` for a dim argument or a data entry naming nothing declared, and
    ``LocatedShapeError`` where a data shape disagrees with a declaration.
    """
    values = _given_dims(dims, _dim_names(tree), source)
    origin = {name: f"given as {name}={size}" for name, size in values.items()}
    params = _declared(tree, "param_decl")
    data = data or {}
    for name in data:
        if name not in params:
            known = ", ".join(params) or "none"
            close = difflib.get_close_matches(str(name), list(params), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise OptNameError(
                f"data entry {name!r} is not a param of the model (params: {known}){hint}", None, source.filename
            )
    for name, declaration in params.items():
        if name not in data:
            continue
        value = data[name]
        shape_node = declaration.children[2]
        sizes: list[Token] = [] if shape_node is None else list(shape_node.children)
        try:
            shape = np.shape(value)
        except ValueError:
            raise OptSourceError(f"data for {name} is not an array", None, source.filename) from None
        if len(shape) != len(sizes):
            declared = f"[{', '.join(sizes)}]" if sizes else "a scalar"
            raise LocatedShapeError(
                f"param {name} is declared as {declared} but its data has shape {shape}",
                source.at(declaration.children[1].line, declaration.children[1].column),
            )
        for axis, (size, extent) in enumerate(zip(sizes, shape)):
            where = f"data for {name} has size {extent} along axis {axis}"
            if size.type == "NUMBER":
                if literal_size(size, source) != extent:
                    at = source.at(size.line, size.column)
                    raise LocatedShapeError(f"size {size.value} is declared but {where}", at)
            elif size.value in values:
                if values[size.value] != extent:
                    raise LocatedShapeError(
                        f"dim {size.value} is {values[size.value]} ({origin[size.value]}) but {where}",
                        source.at(size.line, size.column),
                    )
            else:
                values[size.value] = extent
                origin[size.value] = f"from the data for {name}"
    return values
