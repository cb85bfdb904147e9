"""optdsl: declared optimization problems as fast, differentiable JAX programs."""

from optdsl.modeling import *  # noqa: F403  (the modeling layer's public names, listed in its __all__)
from optdsl.modeling import __all__ as _modeling_names

__version__ = "0.1.0"

__all__ = [*_modeling_names, "__version__"]
