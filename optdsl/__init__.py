"""optdsl: declared optimization problems as fast, differentiable JAX programs."""

from optdsl.modeling import *  # noqa: F403  (the modeling layer's public names, listed in its __all__)
from optdsl.modeling import __all__ as _modeling_names
from optdsl.errors import *  # noqa: F403  (the exception tree, listed in its __all__)
from optdsl.errors import __all__ as _error_names

__version__ = "0.1.0"

# The .opt front end, imported on first use so that `import optdsl` loads the modeling layer only.
_GRAMMAR_NAMES = ("parse", "load", "OptSourceError", "OptSyntaxError", "OptNameError")
# cvxpy interop and layers, imported on first use too (they never import cvxpy before a call).
_INTEROP_NAMES = ("from_cvxpy", "Layer", "InteropError")


def __getattr__(name: str):
    if name in _GRAMMAR_NAMES:
        import optdsl.grammar

        return getattr(optdsl.grammar, name)
    if name in _INTEROP_NAMES:
        import optdsl.interop

        return getattr(optdsl.interop, name)
    raise AttributeError(f"module 'optdsl' has no attribute {name!r}")


__all__ = [*_modeling_names, *_error_names, *_GRAMMAR_NAMES, *_INTEROP_NAMES, "__version__"]
