"""The docs pages are code that runs, and the generated tables match the code.

* every ```python block of the README, the tutorial, the runtime, JAXopt, interop and scale pages runs, in order,
  in one namespace per page (our own docs: ``exec`` here is fine; the .opt parser never evals);
* docs/atoms.md is exactly what docs/atom_table.py writes from the atom classes, and every
  atom class has a row;
* the lowering page names every method, solver and linear solve the compiler accepts;
* every page in mkdocs.yml's nav exists (``mkdocs build --strict`` is run by docs/build.sh).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from optdsl.compiler.lowerings import LOWERINGS, Diff
from optdsl.runtime.linear_solve import SOLVERS as LINEAR_SOLVES

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = ["README.md", "docs/tutorial.md", "docs/runtime.md", "docs/jaxopt.md", "docs/interop.md", "docs/scale.md"]


def python_blocks(page: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", (ROOT / page).read_text(), flags=re.S | re.M)


@pytest.mark.parametrize("page", PAGES)
def test_every_python_block_runs_in_order(page):
    blocks = python_blocks(page)
    assert blocks, f"{page}: no python blocks found"
    namespace: dict = {"__name__": f"docs_{Path(page).stem}"}
    for number, block in enumerate(blocks, 1):
        try:
            exec(compile(block, f"{page} block {number}", "exec"), namespace)  # noqa: S102 (our own docs)
        except Exception as error:
            raise AssertionError(f"{page}: python block {number} failed:\n{block}") from error


def _atom_table():
    spec = importlib.util.spec_from_file_location("atom_table", DOCS / "atom_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_atom_table_is_generated_from_the_code():
    atom_table = _atom_table()
    assert atom_table.missing_atoms() == []
    assert (DOCS / "atoms.md").read_text() == atom_table.table(), "run: python docs/atom_table.py"


def test_lowering_page_names_every_option():
    text = (DOCS / "lowering.md").read_text()
    names = [*LOWERINGS, *LINEAR_SOLVES, *(s for lowering in LOWERINGS.values() for s in lowering.solvers),
             *(d.value for d in Diff)]
    missing = [name for name in names if f"`{name}`" not in text]
    assert missing == []


def test_nav_pages_exist():
    config = (DOCS.parent / "mkdocs.yml").read_text()
    pages = re.findall(r":\s*([\w-]+\.md)\s*$", config, flags=re.M)
    assert "opt-language.md" in pages and "tutorial.md" in pages
    assert [p for p in pages if not (DOCS / p).is_file()] == []
