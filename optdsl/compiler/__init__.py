"""The compiler: analyse a Problem's structure and lower it to a differentiable JAX program.

``compile_problem(problem, **options)`` (also ``problem.compile(**options)``)
returns a :class:`~optdsl.runtime.compiled.CompiledProblem`; ``analyze`` exposes
the structure it found.
"""

from optdsl.compiler.analyze import Structure, analyze
from optdsl.compiler.compile import compile_problem
from optdsl.errors import CompileError

__all__ = ["CompileError", "Structure", "analyze", "compile_problem"]
