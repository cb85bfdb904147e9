"""The lowerings: one module per route of the lowering table, each a :class:`~.base.Lowering`.

=====================  ====================================  ==========================
module                 optimality map                        forward solver
=====================  ====================================  ==========================
``stationary``         ``∇f = 0``                            Newton / L-BFGS / Newton-CG
``proximal``           proximal- / projected-gradient point  FISTA / ISTA
``mirror``             KL mirror-descent fixed point         exponentiated gradient
``kkt``                KKT residual over ``(z, ν, λ)``       primal-dual interior point
``conic``              HSDE residual of the cone program     conic interior point (or ADMM)
=====================  ====================================  ==========================

``first_order`` holds what the first three share; ``base`` the interface and the
one assembly of a ``Solution``.
"""

from optdsl.compiler.lowerings.base import Diff, Lowering, Options
from optdsl.compiler.lowerings.conic import Conic
from optdsl.compiler.lowerings.kkt import KKT
from optdsl.compiler.lowerings.mirror import Mirror
from optdsl.compiler.lowerings.proximal import ProjectedGradient, ProximalGradient
from optdsl.compiler.lowerings.stationary import Stationary

#: Every lowering by its ``method=`` name.
LOWERINGS: dict[str, type[Lowering]] = {
    cls.name: cls for cls in (Stationary, ProjectedGradient, ProximalGradient, Mirror, KKT, Conic)}

__all__ = ["LOWERINGS", "Conic", "Diff", "KKT", "Lowering", "Mirror", "Options", "ProjectedGradient",
           "ProximalGradient", "Stationary"]
