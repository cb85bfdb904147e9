"""Griffe extension (mkdocs.yml): the source's Sphinx-flavoured docstrings render as intended in markdown.

* a cross-reference role (``:func:`name```, ``:class:`~pkg.Name```, ...) becomes inline code showing
  what Sphinx would show (the last component after ``~``, the title of ``title <target>``);
* a literal block's ``text::`` marker reads ``text:`` (the indented block after it is code in markdown too);
* a doctest block (``>>>`` lines and their output, up to a blank line) becomes a fenced ``pycon`` block,
  highlighted, instead of nested markdown block quotes;
* an attribute documented by ``#:`` comment lines just above it gets them as its docstring.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|data|attr|exc|obj|const|type):`([^`]+)`")
TITLED = re.compile(r"(.+?)\s*<[^<>]+>", flags=re.S)
FENCE = re.compile(r"\s*(```|~~~)")
COMMENT = re.compile(r"\s*#:\s?(.*)")
LITERAL_MARKER = re.compile(r"(?<=\S)::$(?=\n[ \t]*\n)", flags=re.M)


def _role_text(match: re.Match) -> str:
    target = match.group(1)
    titled = TITLED.fullmatch(target)
    if titled:
        return f"`{titled.group(1)}`"
    if target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    return f"`{target.lstrip('.')}`"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def fence_doctests(text: str) -> str:
    """``text`` with each doctest block outside fenced code moved into a ``pycon`` fence at the left margin."""
    lines, out, i, fenced = text.split("\n"), [], 0, False
    while i < len(lines):
        line = lines[i]
        if FENCE.match(line):
            fenced = not fenced
        if fenced or not line.lstrip().startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent, block = _indent(line), []
        while i < len(lines) and lines[i].strip() and _indent(lines[i]) >= indent:
            block.append(lines[i][indent:])
            i += 1
        out += ["", "```pycon", *block, "```", ""]
    return "\n".join(out)


def markdown_docstring(text: str) -> str:
    """A docstring written with Sphinx roles and doctests, as the markdown mkdocstrings renders."""
    return fence_doctests(LITERAL_MARKER.sub(":", ROLE.sub(_role_text, text)))


def _comment_above(attr: griffe.Attribute) -> str | None:
    """The ``#:`` comment lines right above ``attr``'s assignment, joined, or None."""
    if not attr.lineno or isinstance(attr.filepath, list) or attr.filepath not in attr.lines_collection:
        return None
    lines = attr.lines_collection[attr.filepath]
    found, number = [], attr.lineno - 2
    while number >= 0 and (comment := COMMENT.fullmatch(lines[number])):
        found.insert(0, comment.group(1))
        number -= 1
    return "\n".join(found) or None


class SphinxDocstrings(griffe.Extension):
    """Rewrites docstrings once Griffe has loaded a package (see the module docstring)."""

    def on_attribute_instance(self, *, attr: griffe.Attribute, **kwargs: Any) -> None:
        if attr.docstring is None and (comment := _comment_above(attr)):
            attr.docstring = griffe.Docstring(comment, lineno=attr.lineno, parent=attr)

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_docstring(obj.docstring.value)
