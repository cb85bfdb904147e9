"""How optdsl compiles its programs: JAX's persistent compilation cache (on by default for compiled problems),
the XLA options of optdsl's own programs (:data:`COMPILER_OPTIONS`, :func:`jit`) and programs that do not depend
on pytree names (:func:`jit_by_position`).

A compiled problem's first call spends seconds in XLA compilation. With the cache on, a later
process that solves the same model (same shapes and options, same JAX and machine) loads the
compiled program from disk instead. optdsl turns the cache on when it compiles its first problem
in a process, in the user cache directory (``$XDG_CACHE_HOME/optdsl/jax``, else
``~/.cache/optdsl/jax``, at most :data:`MAX_BYTES`, least recently used entries evicted first),
unless JAX already has a cache directory (yours wins) or the environment variable
``OPTDSL_COMPILATION_CACHE`` says otherwise: a directory to use instead, or ``off`` (also ``0``,
``false``, ``no``) to leave the cache off. JAX caches only programs whose compilation took at least
``jax_persistent_cache_min_compile_time_secs``; where that is still JAX's default (one second, and not set
through the environment), optdsl lowers it to :data:`MIN_COMPILE_SECONDS`, because a small model's programs
compile in under a second each and several of them make up its first call. Not lower: with a size limit, JAX
reads the whole directory on every write to find what to evict, so caching the many programs of a few
milliseconds (single operations run outside ``jit``) would make each write slower as the cache fills.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Callable

import jax
from jax.experimental.compilation_cache import compilation_cache

#: The variable that moves or turns off optdsl's cache.
ENV = "OPTDSL_COMPILATION_CACHE"
#: Size limit of the cache directory optdsl sets up (JAX's ``jax_compilation_cache_max_size``).
MAX_BYTES = 2 * 1024 ** 3
#: Compile time from which a program is cached (JAX's ``jax_persistent_cache_min_compile_time_secs``).
MIN_COMPILE_SECONDS = 0.2
_JAX_MIN_COMPILE_DEFAULT = 1.0
_MIN_COMPILE_ENV = "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"
_OFF = frozenset({"0", "off", "false", "no"})
_enabled = False


def directory() -> Path | None:
    """The directory optdsl caches compiled programs in, or ``None`` when ``OPTDSL_COMPILATION_CACHE`` is off."""
    setting = os.environ.get(ENV, "").strip()
    if setting.lower() in _OFF:
        return None
    if setting:
        return Path(setting).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "optdsl" / "jax"


def enable() -> None:
    """Turn the cache on in :func:`directory`, once per process, unless JAX already has a cache directory.

    JAX decides whether to use its cache at the first compilation of the process; the cache is
    reset here so that programs compiled from now on use it even when other JAX code ran first.
    """
    global _enabled
    if _enabled:
        return
    _enabled = True
    path = directory()
    if path is None or jax.config.jax_compilation_cache_dir is not None:
        return
    if jax.config.jax_compilation_cache_max_size == -1:
        jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    if (_MIN_COMPILE_ENV not in os.environ
            and jax.config.jax_persistent_cache_min_compile_time_secs == _JAX_MIN_COMPILE_DEFAULT):
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    compilation_cache.set_cache_dir(str(path))
    compilation_cache.reset_cache()


#: XLA options of the CPU programs optdsl compiles itself (compiled problems, solvers called outside ``jit``,
#: projection kernels); pass them to your own ``jax.jit(..., compiler_options=COMPILER_OPTIONS)`` around a compiled
#: problem on a CPU to get the same, or set them for every program of a process in ``XLA_FLAGS`` before JAX starts.
#: Both options cut compile time only (``python -m benchmarks.compile_time``). XLA's CPU fusion emitters, its default
#: since 2025, take about twice as long as its earlier emitters to compile the many small matrix-vector products and
#: reductions of an interior point, whose kernels run as fast with either. LLVM's optimisation level 1 instead of 3
#: compiles those programs about 10 % faster, and their kernels, small loops around library calls, run as fast;
#: level 0 compiles 2-3 times faster but runs them 1.2-2.5 times slower. Other platforms keep XLA's defaults.
COMPILER_OPTIONS: dict[str, Any] = {"xla_cpu_use_fusion_emitters": False, "xla_backend_optimization_level": 1}


@functools.cache
def _on_cpu() -> bool:
    return jax.default_backend() == "cpu"


def jit(fn: Callable[..., Any], **kwargs: Any) -> Callable[..., Any]:
    """``jax.jit(fn, **kwargs)``, compiled with :data:`COMPILER_OPTIONS` on a CPU where it is called outside any
    transformation (JAX takes compiler options for such top-level programs only; inside ``jit``, ``grad`` or
    ``vmap`` the enclosing program decides)."""
    plain = jax.jit(fn, **kwargs)
    tuned = jax.jit(fn, compiler_options=COMPILER_OPTIONS, **kwargs)

    @functools.wraps(fn)
    def call(*args: Any, **kw: Any) -> Any:
        return (tuned if _top_level() and _on_cpu() else plain)(*args, **kw)

    return call


def _never() -> bool:
    return False


try:  # JAX has no public test of whether it is tracing; without this one, no program gets the options
    from jax._src.core import trace_ctx as _trace_context
    _top_level: Callable[[], bool] = getattr(_trace_context, "is_top_level", _never)
except ImportError:
    _top_level = _never


def jit_by_position(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``jax.jit(fn)`` whose compiled program does not depend on the names in its arguments' and results' pytrees.

    JAX writes the pytree path of every argument and result (``params['x']``, a solution's variable names) into
    the program it compiles, and the persistent cache keys programs by their text: the same model built again
    with other names (cvxpy numbers its parameters and variables process-wide, so rebuilding a cvxpy model in the
    same process renames them) would compile again. Here the program takes and returns flat lists of arrays; the
    pytree structures, names included, stay in Python.
    """
    results: dict[Any, Any] = {}

    @functools.partial(jit, static_argnums=0)
    def flat(tree: Any, *leaves: Any) -> list[Any]:
        out, results[tree] = jax.tree_util.tree_flatten(fn(*jax.tree_util.tree_unflatten(tree, leaves)))
        return out

    @functools.wraps(fn)
    def call(*args: Any) -> Any:
        leaves, tree = jax.tree_util.tree_flatten(args)
        out = flat(tree, *leaves)
        return jax.tree_util.tree_unflatten(results[tree], out)

    return call
