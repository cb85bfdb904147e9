"""Threads of the LAPACK behind jaxlib's CPU kernels: one per call by default for compiled problems.

On a CPU, jaxlib runs its factorisations and triangular solves (Cholesky, LU, ...) by calling
the LAPACK that scipy ships, in a wheel OpenBLAS. OpenBLAS spreads each call over every core,
and its threads spin while they wait for their share. An interior point makes thousands of
such calls on matrices of tens to a few hundred rows. There the threads cost more than they
gain on an idle machine, and when the other cores are busy (another process, a data loader,
a parallel test run) every call waits for a thread that is not running: a batch of 16
Markowitz portfolios of 50 assets took seconds instead of tens of milliseconds.

So when optdsl compiles its first problem in a process it sets that library to one thread
(:func:`limit`), unless the environment variable ``OPTDSL_LAPACK_THREADS`` says otherwise
(a number of threads, or ``keep`` to leave the library as it is) or the process was started
with ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` set (that choice
stands). Only the libraries that scipy ships are set: a numpy that ships its own BLAS keeps its
threads, and where scipy uses a system or conda BLAS nothing is changed (set one of those
variables instead). The setting is made with ``threadpoolctl`` and applies to the whole process,
so scipy's own ``linalg`` calls run on one thread too.
"""

from __future__ import annotations

import os
from pathlib import Path

from optdsl.errors import ArgumentError

#: The variable that sets the number of threads, or ``keep``.
ENV = "OPTDSL_LAPACK_THREADS"
#: Variables by which a user sets BLAS threads for the whole process before it starts.
USER_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: Threads per LAPACK call unless :data:`ENV` says otherwise.
DEFAULT_THREADS = 1
_KEEP = frozenset({"keep", "off", "no", "false"})
_done = False


def requested() -> int | None:
    """The number of threads :func:`limit` sets, or ``None`` to leave the library as it is."""
    setting = os.environ.get(ENV, "").strip().lower()
    if setting in _KEEP:
        return None
    if setting:
        if not setting.isdigit() or int(setting) < 1:
            raise ArgumentError(f"{ENV} must be a positive number of threads or 'keep', got {setting!r}")
        return int(setting)
    if any(os.environ.get(name, "").strip() for name in USER_ENV):
        return None
    return DEFAULT_THREADS


def limit() -> None:
    """Set the threads of the LAPACK that jaxlib calls to :func:`requested`, once per process."""
    global _done
    if _done:
        return
    _done = True
    threads = requested()
    if threads is None:
        return
    try:
        import scipy
        import scipy.linalg.cython_lapack  # noqa: F401  (loads the library jaxlib takes LAPACK from)
        import threadpoolctl
    except ImportError:
        return
    site = Path(scipy.__file__).resolve().parent.parent
    shipped = (site / "scipy", site / "scipy.libs")
    for lib in threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers:
        if any(Path(lib.filepath).resolve().is_relative_to(root) for root in shipped):
            lib.set_num_threads(threads)
