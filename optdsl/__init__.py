"""optdsl: declared optimization problems as fast, differentiable JAX programs."""

__version__ = "0.1.0"
