"""Errors raised while compiling a problem."""

from __future__ import annotations

from optdsl.errors import OptDSLError


class CompileError(OptDSLError):
    """The problem cannot be compiled as asked; the message says why and what to change."""
