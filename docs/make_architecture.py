"""Draw docs/figures/architecture.png: the data flow from a scenario file to a Result.

    python docs/make_architecture.py

The figure is committed (the docs build needs no drawing); re-run this when a
step moves to another file.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

OUT = Path(__file__).resolve().parent / "figures" / "architecture.png"

#: (title, what it is, files), left to right
STEPS = [
    ("scenario", "TOML file,\nchecked against the\ntyped options", "scenario.py\nscenario_schema.py\noptions.py"),
    ("inputs", "xarray Dataset over\n(time, fleet):\nprices, bounds, fleets", "aggregator.py (inputs)\nprices.py, availability.py\nfleet.py"),
    ("linopy model", "variables, rows,\nobjective; extension\nrows and couplings", "formulation.py\nextensions.py, coupling.py\naggregator.py (build_model)"),
    ("backend", "dp, decomposition, highs,\nlinopy or a plugin's:\nSolveOutcome", "dp_backend.py, exact_dp.py\ndecomposition.py, solvers.py\nplugins.py (registries)"),
    ("Result", "one Dataset: dispatch,\nrecomputed profit,\nstatus, bound, gap", "accounting.py, model_check.py\nresult.py, summary.py\nformats.py, plotting.py"),
]
PLUGINS = [
    (1, "price sources,\navailability models"),
    (2, "model extensions"),
    (3, "solver backends"),
]


def main() -> None:
    fig, ax = plt.subplots(figsize=(13, 4.6), dpi=110)
    ax.set_xlim(0, 13.6)
    ax.set_ylim(0, 4.75)
    ax.axis("off")
    width, gap = 2.2, 0.45
    for i, (title, what, files) in enumerate(STEPS):
        x = 0.25 + i * (width + gap)
        ax.add_patch(FancyBboxPatch((x, 1.55), width, 1.6, boxstyle="round,pad=0.05", fc="#e8f0fa", ec="#2f5d8a"))
        ax.text(x + width / 2, 2.9, title, ha="center", va="center", fontsize=12, weight="bold", color="#1d3c5a")
        ax.text(x + width / 2, 2.15, what, ha="center", va="center", fontsize=8.5)
        ax.text(x + width / 2, 0.95, files, ha="center", va="center", fontsize=8, family="monospace",
                color="#444444")
        if i:
            ax.add_patch(FancyArrowPatch((x - gap + 0.02, 2.35), (x - 0.02, 2.35), arrowstyle="-|>",
                                         mutation_scale=16, color="#2f5d8a", lw=1.6))
    for i, label in PLUGINS:
        x = 0.25 + i * (width + gap) + width / 2
        ax.add_patch(FancyArrowPatch((x, 4.05), (x, 3.22), arrowstyle="-|>", mutation_scale=13,
                                     color="#8a5a2f", lw=1.2, linestyle="--"))
        ax.text(x, 4.35, "plugins:\n" + label.replace("\n", " "), ha="center", va="center", fontsize=8.5,
                color="#8a5a2f")
    ax.text(6.8, 0.2, "files under src/aggregator/; the CLI (cli.py) and sweeps (sweep.py, rolling.py) drive the same steps",
            ha="center", fontsize=8.5, style="italic", color="#444444")
    fig.savefig(OUT, bbox_inches="tight")


if __name__ == "__main__":
    main()
