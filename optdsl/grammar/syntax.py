"""From ``.opt`` text to a lark parse tree: the LALR parser, line joining, and syntax errors in words.

Newlines end statements, as in Python: inside parentheses and brackets they are
ignored, and blank lines and comment lines count as nothing. ``LineJoiner`` does this
between lark's lexer and parser; it also ends the text with a newline if it lacks one, and
stops at a bracket nested deeper than ``MAX_NESTING`` (an ``OptLimitError`` there).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from importlib import resources

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lark import PostLex
from lark.lexer import PatternStr

from optdsl.errors import OptDSLError
from optdsl.grammar.errors import OptLimitError, OptSyntaxError, Source

#: How deep brackets, and the expressions built from the text, may nest: far beyond what a model
#: needs, and shallow enough for the modeling layer's recursive printing.
MAX_NESTING = 100

_OPENING = {"LPAR", "LSQB"}
_CLOSING = {"RPAR", "RSQB"}

# How terminals that are not plain strings are named in "expected ..." messages.
_WORDS = {
    "NAME": ("a name",),
    "NUMBER": ("a number",),
    "STRING": ('a string in double quotes ("fro")',),
    "CMP": ("a comparison (==, <=, >=, >>, <<)",),
    "ADDOP": ("'+'", "'-'"),
    "MULOP": ("'*'", "'/'", "'@'"),
    "TRANSPOSE": ("' (transpose)",),
    "_NL": ("end of line",),
    "$END": ("end of file",),
}

_HINTS = {
    "<": "; strict inequalities are not supported, use <=",
    ">": "; strict inequalities are not supported, use >=",
    "!": "; != constraints are not supported (they are not convex)",
}


class _TooDeep(OptDSLError):
    """Raised by ``LineJoiner`` at the bracket that opens level ``MAX_NESTING + 1``; ``parse_tree`` locates it."""

    def __init__(self, token: Token):
        super().__init__(token)
        self.token = token


class LineJoiner(PostLex):
    """Drops newlines inside brackets, collapses runs of newlines, and ends the text with an (empty) one."""

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth = 0
        previous: Token | None = None
        for token in stream:
            if token.type == "_NL":
                if depth > 0 or previous is None or previous.type == "_NL":
                    continue
            elif token.type in _OPENING:
                depth += 1
                if depth > MAX_NESTING:
                    raise _TooDeep(token)
            elif token.type in _CLOSING:
                depth = max(depth - 1, 0)
            previous = token
            yield token
        if previous is not None and previous.type != "_NL":
            # An empty newline at the end of the text, so that the last statement is terminated.
            yield Token("_NL", "", line=previous.end_line, column=previous.end_column)


@functools.cache
def opt_parser() -> Lark:
    """The LALR parser of ``opt.lark`` (built once per process)."""
    grammar = resources.files("optdsl.grammar").joinpath("opt.lark").read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        postlex=LineJoiner(),
        start=["start", "expression"],
        propagate_positions=True,
        maybe_placeholders=True,
    )


@functools.cache
def keywords() -> frozenset[str]:
    """The reserved words of the language (``dim``, ``var``, ``minimize``, ``SOC``, ``True``, ...)."""
    patterns = [t.pattern for t in opt_parser().terminals]
    return frozenset(p.value for p in patterns if isinstance(p, PatternStr) and p.value.isidentifier())


def describe_terminal(name: str) -> tuple[str, ...]:
    """A terminal in words: ``("'('",)`` for LPAR, ``("'+'", "'-'")`` for ADDOP, ``("end of line",)``."""
    if name in _WORDS:
        return _WORDS[name]
    terminal = next((t for t in opt_parser().terminals if t.name == name), None)
    if terminal is not None and isinstance(terminal.pattern, PatternStr):
        return (repr(terminal.pattern.value),)
    return (name,)


def _describe_token(token: Token) -> str:
    if token.type == "$END" or token.type == "_NL" and token.value == "":
        return "end of file"
    if token.type == "_NL":
        return "end of line"
    if token.type == "NAME":
        return f"name {token.value!r}"
    if token.type == "NUMBER":
        return f"number {token.value}"
    return repr(str(token.value))


def _expected(names: set[str] | None) -> str:
    ignored = set(opt_parser().ignore_tokens)
    words = sorted({word for n in names or () if n not in ignored for word in describe_terminal(n)})
    if not words:
        return ""
    if len(words) == 1:
        return f"; expected {words[0]}"
    return f"; expected one of: {', '.join(words)}"


def _acceptable(error: UnexpectedInput) -> set[str]:
    """Terminals the parser accepts where the lexer failed (the lexer's own list always has newlines)."""
    allowed = set(getattr(error, "allowed", None) or ())
    state = getattr(error, "state", None)
    table = getattr(getattr(state, "parse_conf", None), "parse_table", None)
    return allowed & set(table.states[state.position]) if table is not None else allowed


def _syntax_error(error: UnexpectedInput, source: Source) -> OptSyntaxError:
    if isinstance(error, UnexpectedToken):
        token = error.token
        if not isinstance(error.line, int) or error.line < 1:  # no token at all: blank text
            location = source.end()
        else:
            location = source.at(error.line, error.column)
        expected = error.accepts or error.expected
        reason = f"unexpected {_describe_token(token)}{_expected(expected)}"
        if token.type == "CMP" and "CMP" not in expected:
            reason += " (a constraint has one comparison: write 0 <= x <= 1 as two constraints)"
        elif token.type == "EQUAL" and "CMP" in expected:
            reason += " (an equality constraint is written ==)"
    else:
        location = source.at(error.line, error.column)
        char = error.char if isinstance(error, UnexpectedCharacters) else "?"
        reason = f"unexpected character {char!r}{_HINTS.get(char, _expected(_acceptable(error)))}"
    return OptSyntaxError(reason, location)


def parse_tree(source: Source, start: str = "start") -> Tree:
    """The parse tree of the text, a model (``start``) or one ``expression``.

    ``OptSyntaxError`` (located, saying what was expected) if it does not parse; ``OptLimitError``
    at a bracket nested deeper than ``MAX_NESTING``.
    """
    try:
        return opt_parser().parse(source.text, start=start)
    except UnexpectedInput as error:
        raise _syntax_error(error, source) from None
    except _TooDeep as error:
        at = source.at(error.token.line, error.token.column)
        raise OptLimitError(f"brackets nest more than {MAX_NESTING} deep here", at) from None
