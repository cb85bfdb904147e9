"""Conic canonicalisation: a DCP problem as ``min c'x s.t. A x + s = b, s in K``.

``canonicalize(problem)`` returns a :class:`ConicForm`; ``form.data(params)`` gives
``(A, b, c, offset)`` as a traceable JAX function of the parameter values, for the
runtime's conic solver (SCS conventions, cones in the order zero, nonneg, SOC, PSD, exp, power).
``form.variables(x)`` and ``form.duals(y)`` read the user's values back.

>>> import jax.numpy as jnp
>>> import optdsl as od
>>> x = od.Variable(2, name="x")
>>> form = canonicalize(od.Problem(od.Minimize(od.sum(x)), [x >= 1]))
>>> A, b, c, offset = form.data({})
>>> bool((A == -jnp.eye(2)).all()), b.tolist(), c.tolist()  # rows s = x - 1 >= 0
(True, [-1.0, -1.0], [1.0, 1.0])
"""

from optdsl.compiler.conic.canonical import canonicalize
from optdsl.compiler.conic.form import ConicForm

__all__ = ["ConicForm", "canonicalize"]
