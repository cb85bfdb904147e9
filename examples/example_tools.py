"""What the paper's examples share: the command line, wall-clock timing of JAX calls, and saving figures.

Every example takes ``--quick`` (small sizes, few steps: what the tests run) and
``--out DIR`` (where its PNG figures go), prints its numbers as ``name: value``
lines, and returns them from ``main``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Callable

import jax
import matplotlib

matplotlib.use("Agg")  # figures are files; no display is needed
import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen first)


def parse_args(doc: str) -> argparse.Namespace:
    """``--quick`` and ``--out DIR`` (default ``figures``), with the example's docstring as help."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few steps (a test run)")
    parser.add_argument("--out", type=Path, default=Path("figures"), help="folder for the PNG figures")
    return parser.parse_args()


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """``(fn(*args, **kwargs), seconds)``, waiting for JAX's asynchronous results before stopping the clock."""
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args, **kwargs))
    return out, time.perf_counter() - start


def save_figure(fig: plt.Figure, out: Path, name: str) -> Path:
    """Write ``fig`` to ``out/name`` (creating ``out``), close it, and print the path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    print(f"figure: {path}")
    return path
