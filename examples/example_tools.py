"""What the paper's examples share: the command line, wall-clock timing of JAX calls, and saving figures.

Every example of the paper's experiments takes ``--quick`` (small sizes, few steps: what the
tests run) and ``--out DIR`` (where its PNG figures go, ``figures/`` by default), prints its
numbers as ``name: value`` lines, and returns them from ``main``. A figure of a quick run says so.
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


#: Set by :func:`parse_args`: this process runs the small ``--quick`` version, which its figures state.
QUICK_RUN = [False]


def parse_args(doc: str) -> argparse.Namespace:
    """``--quick`` and ``--out DIR`` (default ``figures``), with the example's docstring as help."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few steps (a test run)")
    parser.add_argument("--out", type=Path, default=Path("figures"), help="folder for the PNG figures")
    args = parser.parse_args()
    QUICK_RUN[0] = args.quick
    return args


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """``(fn(*args, **kwargs), seconds)``, waiting for JAX's asynchronous results before stopping the clock."""
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args, **kwargs))
    return out, time.perf_counter() - start


def save_figure(fig: plt.Figure, out: Path, name: str) -> Path:
    """Write ``fig`` to ``out/name`` (creating ``out``), close it, and print the path; a quick run's figure is
    labelled as one."""
    if QUICK_RUN[0]:
        fig.text(0.5, 0.0, "quick run (--quick): small sizes and few steps, not the full experiment",
                 ha="center", va="top", fontsize=8, style="italic")
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    print(f"figure: {path}")
    return path
