"""optdsl's exception tree: every error optdsl raises on purpose is an :class:`OptDSLError`.

The classes that describe bad input to a function also derive from the built-in
exception a Python caller would expect (``ValueError``, ``TypeError``,
``KeyError``), so ``except ValueError`` keeps working. The modeling, grammar,
compiler and interop layers add their own subclasses (``ModelingError``,
``ShapeError``, ``DCPError``, ``OptSyntaxError``, ``CompileError``, ``InteropError``).
:class:`SolverWarning`, also a ``UserWarning``, is the warning an eager solve gives when it ends unsolved.
"""

__all__ = ["OptDSLError", "ArgumentError", "ArgumentTypeError", "ParameterError", "EmptySetError", "ClosureError",
           "UnknownNameError", "CompileError", "SolverWarning"]


class OptDSLError(Exception):
    """Base class of optdsl's own errors; catch it to handle any of them."""


class ArgumentError(OptDSLError, ValueError):
    """A value, shape or option passed to an optdsl function is outside what it accepts; the message names it."""


class ArgumentTypeError(OptDSLError, TypeError):
    """An argument has a type the function cannot use (e.g. integer data where floats are needed)."""


class ParameterError(ArgumentError):
    """A compiled problem was called with missing, unknown or mis-shaped parameters."""


class EmptySetError(ArgumentError):
    """The set a projection was asked to project onto is empty (crossed bounds, negative radius, ...)."""


class ClosureError(ArgumentTypeError):
    """A solver or optimality map closed over a value that is being differentiated."""


class UnknownNameError(OptDSLError, KeyError):
    """A name (a variable of a solution, a constraint's dual) that is not there; the message lists what is."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class CompileError(OptDSLError):
    """The problem cannot be compiled as asked; the message says why and what to change."""


class SolverWarning(OptDSLError, UserWarning):
    """A solve called with concrete parameters ended with a status other than ``solved``; the message says what
    to try. Silence it with ``warnings.filterwarnings("ignore", category=optdsl.SolverWarning)``."""
