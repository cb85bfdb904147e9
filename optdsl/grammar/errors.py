"""Errors about ``.opt`` text: each names the file, line and column, and shows the line with a caret.

Every error the parser raises on purpose is an ``OptSourceError`` (a ``ModelingError``)::

    lasso.opt:6:27: matmul: shapes (5, 3) and (4,) are not aligned (3 != 4)
      minimize sum_squares(A @ x - b)
                             ^

* ``OptSyntaxError``: the text does not follow the grammar (the message says what was expected);
* ``OptNameError``: an unknown or repeated name (leaf, dim, function, keyword argument);
* ``OptLimitError``: text beyond the parser's limits (nesting too deep, a number too large);
* ``OptEncodingError``: a file that is not UTF-8 text (located at the first byte that is not);
* ``LocatedShapeError`` / ``LocatedDCPError`` / ``LocatedModelingError``: the modeling layer
  rejected what a line builds; each is also an instance of the modeling error it wraps
  (``ShapeError`` / ``DCPError`` / ``ModelingError``), so callers catching those still do.

Errors about arguments of ``parse`` itself (a dim given twice, data for an undeclared name)
have no place in the text: their ``location`` is None and the message starts ``file: ``.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from dataclasses import dataclass

from optdsl.modeling.errors import DCPError, ModelingError, ShapeError


@dataclass(frozen=True)
class Location:
    """A place in a source text: 1-based ``line`` and ``column``, and the text of that line."""

    filename: str
    line: int
    column: int
    source_line: str

    def format(self, reason: str) -> str:
        """``file:line:col: reason``, then the source line and a caret under the column."""
        # Keep tabs in the caret line so the caret sits under the right character.
        pad = "".join(c if c == "\t" else " " for c in self.source_line[: self.column - 1])
        return f"{self.filename}:{self.line}:{self.column}: {reason}\n  {self.source_line}\n  {pad}^"


class Source:
    """The text being parsed and its file name, to make locations."""

    def __init__(self, text: str, filename: str):
        self.text = text
        self.filename = filename
        # Lines as lark counts them: split at "\n" only (a form feed or U+2028 does not end a line).
        self.lines = [line.removesuffix("\r") for line in text.split("\n")]

    def at(self, line: int, column: int) -> Location:
        """The location of ``line``/``column`` (clamped to the text, so that it is always printable)."""
        line = min(max(line, 1), len(self.lines))
        source_line = self.lines[line - 1]
        return Location(self.filename, line, min(max(column, 1), len(source_line) + 1), source_line)

    def end(self) -> Location:
        """Just after the last character."""
        return self.at(len(self.lines), len(self.lines[-1]) + 1)


class OptSourceError(ModelingError):
    """An error in ``.opt`` text: ``reason`` (the bare message), ``location`` (None for arguments of parse)."""

    def __init__(self, reason: str, location: Location | None, filename: str = "<string>"):
        self.reason = reason
        self.location = location
        text = location.format(reason) if location is not None else f"{filename}: {reason}"
        Exception.__init__(self, text)

    @property
    def line(self) -> int | None:
        """1-based line of the error (None when it is about an argument of ``parse``)."""
        return None if self.location is None else self.location.line

    @property
    def column(self) -> int | None:
        """1-based column of the error (None when it is about an argument of ``parse``)."""
        return None if self.location is None else self.location.column


class OptSyntaxError(OptSourceError):
    """The text does not follow the ``.opt`` grammar; the message says what was expected there."""


class OptNameError(OptSourceError):
    """An unknown, misplaced or repeated name: leaf, dim, function or keyword argument."""


class OptLimitError(OptSourceError):
    """Text beyond a limit of the parser: brackets or an expression nested too deeply, a number too large."""


class OptEncodingError(OptSourceError):
    """A file that is not UTF-8 text; the location is its first byte that is not."""


class LocatedModelingError(OptSourceError):
    """The modeling layer rejected what this place builds (a bad argument value, say)."""


class LocatedShapeError(OptSourceError, ShapeError):
    """Shapes that do not fit, at this place: also a ``ShapeError``."""


class LocatedDCPError(OptSourceError, DCPError):
    """A model that breaks the DCP rules: also a ``DCPError`` with the same ``violations``.

    The message lists each offending objective or constraint at the place in the file of its
    innermost offending sub-expression.
    """

    def __init__(self, violations: Sequence[str], places: Sequence[tuple[str, Location]]):
        self.violations = tuple(violations)
        self.reason = "\n".join(self.violations)
        self.location = places[0][1]
        Exception.__init__(self, "\n".join(location.format(reason) for reason, location in places))


def located(error: ModelingError, location: Location) -> OptSourceError:
    """``error`` from the modeling layer as the located error of the same kind, at ``location``."""
    if isinstance(error, OptSourceError):
        return error
    if isinstance(error, ShapeError):
        return LocatedShapeError(str(error), location)
    if isinstance(error, DCPError):
        return LocatedDCPError(error.violations, [(str(error), location)])
    return LocatedModelingError(str(error), location)


def decode_utf8(raw: bytes, filename: str) -> str:
    """The text of a file's bytes, read as UTF-8 (a leading byte-order mark is dropped).

    Raises ``OptEncodingError`` at the line and column of the first byte that is not UTF-8.
    """
    raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        before = raw[: error.start]
        line_start = before.rfind(b"\n") + 1
        column = len(before[line_start:].decode("utf-8")) + 1
        source = Source(raw.decode("utf-8", errors="replace"), filename)
        reason = (f"the file is not UTF-8 text: byte 0x{raw[error.start]:02x} cannot be decoded ({error.reason}); "
                  f"save it as UTF-8")
        raise OptEncodingError(reason, source.at(before.count(b"\n") + 1, column)) from None
