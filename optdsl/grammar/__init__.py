"""The ``.opt`` model language: text to ``Problem`` (``parse``, ``load``) and back (``to_opt``).

A ``.opt`` file declares a model apart from code and data; parsing it builds exactly the
objects the Python front end builds (``parse_expression`` reads one expression over a model's
leaves). The language reference is ``docs/opt-language.md``.

>>> from optdsl.grammar import parse
>>> p = parse('''
... dim n
... param lam >= 0
... var x[n]
... minimize sum_squares(x - 1) + lam * norm1(x)
... subject to
...   budget: sum(x) <= 10
... ''', n=4)
>>> print(p)
minimize sum_squares(x - 1) + lam * norm1(x)
subject to
  budget: sum(x) <= 10
"""

from optdsl.grammar.errors import (
    LocatedDCPError,
    LocatedModelingError,
    LocatedShapeError,
    Location,
    OptEncodingError,
    OptLimitError,
    OptNameError,
    OptSourceError,
    OptSyntaxError,
)
from optdsl.grammar.parsed import ParsedProblem
from optdsl.grammar.parser import load, parse, parse_expression

__all__ = [
    "parse", "load", "parse_expression", "ParsedProblem",
    "Location", "OptSourceError", "OptSyntaxError", "OptNameError", "OptLimitError", "OptEncodingError",
    "LocatedModelingError", "LocatedShapeError", "LocatedDCPError",
]
