"""The docs pages are code that runs, and the generated tables match the code.

* every ```python block of the README, the tutorial, the runtime, JAXopt, interop and scale pages runs, in order,
  in one namespace per page (our own docs: ``exec`` here is fine; the .opt parser never evals);
* docs/atoms.md is exactly what docs/atom_table.py writes from the atom classes, and every
  atom class has a row;
* the lowering page names every method, solver and linear solve the compiler accepts;
* every page in mkdocs.yml's nav exists (``mkdocs build --strict`` is run by docs/build.sh);
* every public name (the ``__all__`` of optdsl and of the runtime, its solvers and projections, and of the interop)
  has a docstring and a ``:::`` directive of docs/api.md that renders it, and the page has the command line's help.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import types
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


PUBLIC_MODULES = ["optdsl", "optdsl.runtime", "optdsl.runtime.solvers", "optdsl.runtime.projections", "optdsl.interop"]


def api_directives() -> dict[str, list[str] | None]:
    """Each ``::: identifier`` of docs/api.md with its ``members`` option (None: every public member)."""
    text = (DOCS / "api.md").read_text()
    directives: dict[str, list[str] | None] = {}
    for identifier, options in re.findall(r"^::: (\S+)\n((?:[ \t]+\S.*\n)*)", text, flags=re.M):
        members = re.search(r"(?<!\w)members:\s*(false|\[([^]]*)\])", options)
        directives[identifier] = None if members is None else re.findall(r"\w+", members.group(2) or "")
    return directives


def _module(identifier: str) -> types.ModuleType | None:
    """The module a directive names, or None when it names a function or class."""
    try:
        return importlib.import_module(identifier)
    except ModuleNotFoundError:
        return None


def _renders(directives: dict[str, list[str] | None], module: str, name: str) -> bool:
    """Whether the directive for ``module`` exists and lists ``name`` among the members it renders."""
    return module in directives and (directives[module] is None or name in directives[module])


def _documented(name: str, obj, directives: dict[str, list[str] | None]) -> bool:
    """Whether a directive renders ``obj`` (public as ``name``): itself, its module, or a package re-exporting it."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__ in directives
    home, own_name = obj.__module__, obj.__name__
    if f"{home}.{own_name}" in directives or _renders(directives, home, own_name):
        return True
    # A package renders what its __all__ re-exports, except a name that is also one of its submodules
    # (mkdocstrings shows the submodule there, not the function).
    for identifier in directives:
        package = _module(identifier)
        if package is None or name not in getattr(package, "__all__", ()) or getattr(package, name) is not obj:
            continue
        if importlib.util.find_spec(f"{identifier}.{name}") is None and _renders(directives, identifier, name):
            return True
    return False


def test_api_reference_documents_every_public_name():
    directives = api_directives()
    missing, undocumented = [], []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            where = f"{module_name}.{name}"
            if isinstance(obj, str):
                if f"`{where}`" not in (DOCS / "api.md").read_text():
                    missing.append(where)
                continue
            if not _documented(name, obj, directives):
                missing.append(where)
            if not (obj.__doc__ or "").strip():
                undocumented.append(where)
    assert missing == [], f"docs/api.md has no directive rendering: {missing}"
    assert undocumented == [], f"no docstring: {undocumented}"


def test_api_reference_has_the_command_line():
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    from optdsl.cli import _parser

    assert hooks.CLI_MARKER in (DOCS / "api.md").read_text()
    reference = hooks.cli_reference()
    commands = hooks.subcommands(_parser())
    assert {"solve", "check", "grad", "latex"} <= set(commands)
    assert [name for name in commands if f"usage: optdsl {name} " not in reference] == []
    assert [f"--{o}" for o in ("method", "solver", "tol", "maxiter", "data", "json", "dim", "of", "wrt")
            if f"--{o}" not in reference] == []
