"""mkdocs hooks (registered in mkdocs.yml): the command line's help on the API page; the search index as a script."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from unittest import mock

#: Where docs/api.md receives the command line reference.
CLI_MARKER = "<!-- cli-help -->"


def _fenced(text: str) -> str:
    return f"```text\n{text.rstrip()}\n```\n"


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands of ``parser`` by name (argparse keeps them on its one subparsers action)."""
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


def cli_reference() -> str:
    """``optdsl --help`` and every subcommand's ``--help`` as markdown, wrapped at 100 columns."""
    from optdsl.cli import _parser

    with mock.patch.dict(os.environ, {"COLUMNS": "100"}):
        parser = _parser()
        parts = [_fenced(parser.format_help())]
        parts += [f"### `optdsl {name}`\n\n{_fenced(sub.format_help())}" for name, sub in subcommands(parser).items()]
    return "\n".join(parts)


def on_page_markdown(markdown: str, **kwargs) -> str:
    """Put the command line reference where a page asks for it."""
    return markdown.replace(CLI_MARKER, cli_reference()) if CLI_MARKER in markdown else markdown


def on_post_build(config, **kwargs) -> None:
    """Write the search index as a script too: docs/theme/search/main.js loads it so, which works from file://."""
    folder = Path(config["site_dir"]) / "search"
    index = (folder / "search_index.json").read_text(encoding="utf-8")
    (folder / "search_index.js").write_text(f"window.mkdocs_search_index = {index};\n", encoding="utf-8")
