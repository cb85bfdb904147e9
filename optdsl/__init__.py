"""optdsl: declared optimization problems as fast, differentiable JAX programs.

``import optdsl`` loads only the exception tree; the modeling layer (and with it JAX), the ``.opt``
front end and the cvxpy interop load on first use of one of their names, so that the command line
answers ``--help`` without starting JAX.
"""

import importlib
import logging
from typing import Any

from optdsl.errors import *  # noqa: F403  (the exception tree, listed in its __all__)
from optdsl.errors import __all__ as _error_names

__version__ = "0.1.0"

# Compile-time decisions are logged on "optdsl.compiler"; shown only where the application configures logging.
logging.getLogger("optdsl").addHandler(logging.NullHandler())

#: Names served by a submodule imported on first use (the modeling layer serves every other public name).
_FROM = {
    **dict.fromkeys(("parse", "load", "OptSourceError", "OptSyntaxError", "OptNameError"), "optdsl.grammar"),
    **dict.fromkeys(("from_cvxpy", "Layer", "InteropError"), "optdsl.interop"),  # never imports cvxpy before a call
}

_SUBMODULES = ("cli", "compiler", "errors", "grammar", "interop", "modeling", "runtime")


def _modeling_names() -> list[str]:
    return list(importlib.import_module("optdsl.modeling").__all__)


def __getattr__(name: str) -> Any:
    if name == "__all__":
        return [*_modeling_names(), *_error_names, *_FROM, "__version__"]
    if name in _SUBMODULES:
        return importlib.import_module(f"optdsl.{name}")
    if name in _FROM:
        return getattr(importlib.import_module(_FROM[name]), name)
    if not name.startswith("__") and name in _modeling_names():
        return getattr(importlib.import_module("optdsl.modeling"), name)
    raise AttributeError(f"module 'optdsl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__getattr__("__all__")})
