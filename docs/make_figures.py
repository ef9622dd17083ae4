"""Regenerate the figures of the documentation (docs/figures/*.png) from the examples.

    python docs/make_figures.py            # needs ../shared/data/seed for the study's figures

The figures are committed, so that building the documentation needs neither
a solve nor the study's data.  Re-run this after changing the plots or the model.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
EXAMPLES = DOCS.parent / "examples"
FIGURES = DOCS / "figures"

#: example script, arguments, {file it writes: name in docs/figures}
RUNS = [
    ("quickstart.py", [], {"dispatch.png": "quickstart_dispatch.png", "daily_profit.png": "quickstart_daily_profit.png"}),
    ("reproduce_seed_study.py", [], {"profit_by_case.png": "study_profit_by_case.png",
                                     "monthly_case0_0.8.png": "study_monthly_case0_0.8.png",
                                     "dispatch_case0_0.8.png": "study_dispatch_case0_0.8.png",
                                     "study.csv": "study.csv"}),
]


def main() -> int:
    FIGURES.mkdir(exist_ok=True)
    for script, args, files in RUNS:
        with tempfile.TemporaryDirectory() as tmp:
            command = [sys.executable, str(EXAMPLES / script), "--out", tmp, *args]
            print("running", " ".join(command[1:]))
            done = subprocess.run(command, text=True, capture_output=True)
            print(done.stdout)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                print(f"{script} failed; its figures are left as they were", file=sys.stderr)
                continue
            for name, target in files.items():
                shutil.copy(Path(tmp) / name, FIGURES / target)
                print("  wrote", FIGURES / target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
