"""Checks a built site renders offline and as intended: python docs/check_site.py SITE_DIR (docs/build.sh runs it).

* no page loads a script, stylesheet or image from another host (so highlighting works offline), and the
  search index is there as a script (docs/theme/search/main.js loads it, which works from file://);
* no Sphinx role (``:func:`x```) is left as raw text, and ``>>>`` appears only inside code;
* no block quote sits directly in another (the markdown rendering of a ``>>>`` line).
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|data|attr|exc|obj|const):`")
REMOTE = re.compile(r"^(?:https?:)?//")
ASSETS = {"script": "src", "link": "href", "img": "src"}


class PageCheck(HTMLParser):
    """Collects the problems of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.code_depth = 0
        self.open_tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        url = dict(attrs).get(ASSETS.get(tag, ""))
        if url and REMOTE.match(url) and not (tag == "link" and dict(attrs).get("rel") != "stylesheet"):
            self.problems.append(f"<{tag}> loads {url}")
        if tag == "blockquote" and self.open_tags[-1:] == ["blockquote"]:
            self.problems.append(f"nested block quote at line {self.getpos()[0]}")
        if tag in ("code", "pre"):
            self.code_depth += 1
        if tag not in ("img", "link", "meta", "br", "hr", "input"):
            self.open_tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("code", "pre"):
            self.code_depth -= 1
        if tag in self.open_tags:
            while self.open_tags.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self.code_depth or self.open_tags[-1:] in (["script"], ["style"]):
            return
        for found in (*ROLE.findall(data), *re.findall(">>>", data)):
            self.problems.append(f"raw {found!r} at line {self.getpos()[0]}: {data.strip()[:80]!r}")


def check(site: Path) -> list[str]:
    """Every problem of every page of ``site``, each prefixed by its page."""
    problems = [] if (site / "search" / "search_index.js").is_file() else ["search/search_index.js is missing"]
    for page in sorted(site.rglob("*.html")):
        parser = PageCheck()
        parser.feed(page.read_text(encoding="utf-8"))
        problems += [f"{page.relative_to(site)}: {problem}" for problem in parser.problems]
    return problems


if __name__ == "__main__":
    found = check(Path(sys.argv[1]))
    print("\n".join(found) or f"{sys.argv[1]}: offline assets, code and roles check out", file=sys.stderr)
    sys.exit(1 if found else 0)
