"""The benchmark figure: forward+backward time of every contender, one panel per workload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def plot(rows: list[dict[str, Any]], out: Path) -> None:
    """Grouped log-scale bars of fwd+bwd seconds per (workload, size)."""
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    fig, axes = plt.subplots(len(workloads), 1, figsize=(11, 3.2 * len(workloads)), squeeze=False)
    for ax, workload in zip(axes[:, 0], workloads):
        mine = [r for r in rows if r["workload"] == workload]
        sizes = list(dict.fromkeys(r["size"] for r in mine))
        names = list(dict.fromkeys(r["contender"] for r in mine))
        width = 0.8 / len(names)
        for j, name in enumerate(names):
            xs, ys = [], []
            for i, size in enumerate(sizes):
                hit = [r["fwdbwd_s"] for r in mine if r["size"] == size and r["contender"] == name and r["fwdbwd_s"]]
                if hit:
                    xs.append(i + (j - (len(names) - 1) / 2) * width)
                    ys.append(hit[0])
            ax.bar(xs, ys, width, label=name)
        ax.set_xticks(range(len(sizes)), sizes, fontsize=7)
        ax.set_yscale("log")
        ax.set_ylabel("fwd+bwd s")
        ax.set_title(workload)
        ax.grid(True, axis="y", which="both", alpha=0.3)
        ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
