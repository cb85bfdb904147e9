"""Batched solves spread over devices: a one-axis mesh over the batch, and a map that uses it.

:func:`batch_map` runs ``jax.vmap(solve)`` on each device's share of a batch
with ``jax.shard_map``: every device iterates its own instances to its own
stopping point, with no communication inside the solver loops (partitioning
the vmapped loops instead would make each iteration an all-reduce of the
stopping test and hold every device to the slowest instance). Under
``jax.distributed`` the mesh spans every host's devices and each process
supplies its own rows (:func:`shard_batch` with ``local=True``).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from optdsl.errors import ArgumentError

BATCH_AXIS = "batch"


def batch_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A one-dimensional mesh named ``"batch"`` over ``devices`` (default: every device of every process)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (BATCH_AXIS,))


def shard_batch(tree: Any, mesh: Mesh | None = None, *, local: bool = False) -> Any:
    """``tree``'s arrays placed on ``mesh`` with their leading (batch) axis split across its devices.

    The batch size must be a multiple of the mesh size. With ``local=True`` (multi-host
    runs) each process passes only its own rows, and the result is the global batch
    assembled from every process's rows (``jax.make_array_from_process_local_data``).
    """
    mesh = batch_mesh() if mesh is None else mesh
    sharding = NamedSharding(mesh, PartitionSpec(BATCH_AXIS))
    devices = mesh.devices.size // (jax.process_count() if local else 1)

    def place(leaf: Any) -> jax.Array:
        leaf = leaf if isinstance(leaf, jax.Array) else np.asarray(leaf)
        if leaf.ndim == 0 or leaf.shape[0] % devices:
            raise ArgumentError(f"shard_batch: an array of shape {leaf.shape} has no leading batch axis that "
                             f"{devices} devices can split evenly")
        if local:
            return jax.make_array_from_process_local_data(sharding, leaf)
        return jax.device_put(leaf, sharding)

    return jax.tree_util.tree_map(place, tree)


#: Instances per batched solve on each of several CPU devices (see :func:`batch_map`).
CPU_CHUNK = 1


def batch_map(fn: Callable, mesh: Mesh | None = None, *, batch_size: int | None = None) -> Callable:
    """``jax.vmap(fn)`` over the leading axis of every argument, each device mapping its own share.

    ``fn`` is typically a :class:`~optdsl.runtime.compiled.CompiledProblem`; the result is
    jit-able and differentiable (``jax.grad`` flows back through the map), and its
    outputs stay sharded over ``mesh`` (default :func:`batch_mesh`). Each device solves
    ``batch_size`` instances at a time (``jax.lax.map``); the default is its whole share
    in one batch, except on a mesh of several CPU devices, where it is ``CPU_CHUNK``:
    there, jaxlib's batched LAPACK kernels (LU of a batch of KKT systems) running on
    devices that share one host thread pool can wait on each other for ever.
    """
    mesh = batch_mesh() if mesh is None else mesh
    if batch_size is None and mesh.devices.size > 1 and mesh.devices.flat[0].platform == "cpu":
        batch_size = CPU_CHUNK
    spec = PartitionSpec(BATCH_AXIS)

    def local(batch: Any) -> Any:
        return _chunked_vmap(fn, batch, batch_size) if batch_size else jax.vmap(fn)(batch)

    # No collectives run inside ``fn``, so the varying-axes type check (which would ask every solver loop
    # to mark its constant initial values as device-varying) has nothing to guard.
    return jax.shard_map(local, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)


def _chunked_vmap(fn: Callable, batch: Any, size: int) -> Any:
    """``jax.vmap(fn)(batch)`` computed ``size`` instances at a time: a ``lax.map`` over whole chunks, then the rest.

    ``jax.lax.map(fn, batch, batch_size=size)`` does the same but reshapes its outputs with a ``-1`` axis,
    which fails on an empty output (a ``Solution`` of a model without equality constraints has one).
    """
    tree_map = jax.tree_util.tree_map
    share = jax.tree_util.tree_leaves(batch)[0].shape[0]
    full = share - share % size
    if not full:
        return jax.vmap(fn)(batch)
    chunks = tree_map(lambda a: a[:full].reshape(full // size, size, *a.shape[1:]), batch)
    out = tree_map(lambda y: y.reshape(full, *y.shape[2:]), jax.lax.map(jax.vmap(fn), chunks))
    if full == share:
        return out
    rest = jax.vmap(fn)(tree_map(lambda a: a[full:], batch))
    return tree_map(lambda y, r: jnp.concatenate([y, r]), out, rest)
