"""optdsl: declared optimization problems as fast, differentiable JAX programs."""

from optdsl.modeling import *  # noqa: F403  (the modeling layer's public names, listed in its __all__)
from optdsl.modeling import __all__ as _modeling_names

__version__ = "0.1.0"

# The .opt front end, imported on first use so that `import optdsl` loads the modeling layer only.
_GRAMMAR_NAMES = ("parse", "load", "OptSyntaxError", "OptNameError")


def __getattr__(name: str):
    if name in _GRAMMAR_NAMES:
        import optdsl.grammar

        return getattr(optdsl.grammar, name)
    raise AttributeError(f"module 'optdsl' has no attribute {name!r}")


__all__ = [*_modeling_names, *_GRAMMAR_NAMES, "__version__"]
