"""Progress of a sweep: a bar on a terminal (rich), plain lines in a log."""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

from .sweep_spec import SweepPoint

__all__ = ["SweepProgress"]


class SweepProgress:
    """A progress bar on a terminal (rich), plain lines otherwise."""

    def __init__(self, scenarios: int, fleets: int, *, enabled: bool, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.scenarios, self.fleets = scenarios, fleets
        self.scenarios_done = self.fleets_done = self.failed = 0
        self.start = time.monotonic()
        self.bar: Any = None
        self._next_line = 0.0
        interactive = (
            enabled
            and fleets > 0
            and hasattr(self.stream, "isatty")
            and self.stream.isatty()
            and os.environ.get("TERM") != "dumb"
        )
        if interactive:
            try:
                from rich.console import Console
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeElapsedColumn,
                    TimeRemainingColumn,
                )
            except ImportError:  # plain lines without rich
                return
            self.bar = Progress(
                TextColumn("sweep"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("fleets, {task.fields[info]}"),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
            )
            self.task = self.bar.add_task("sweep", total=fleets, info=self._info())
            self.bar.start()

    def _info(self) -> str:
        return f"scenarios {self.scenarios_done}/{self.scenarios}, failed {self.failed}"

    def note(self, message: str) -> None:
        """Print a message above the bar (or as a line).

        Parameters
        ----------
        message : str
        """
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.console.print(message, markup=False, highlight=False)
        else:
            print(message, file=self.stream, flush=True)

    def _postfix(self) -> None:
        if self.bar is not None:
            self.bar.update(self.task, info=self._info())

    def _clock(self) -> str:
        elapsed = time.monotonic() - self.start
        text = f"{_hms(elapsed)}"
        if 0 < self.fleets_done < self.fleets:
            text += f", ~{_hms(elapsed / self.fleets_done * (self.fleets - self.fleets_done))} left"
        return text

    def fleets_finished(self, n: int, scenario_fleets: int) -> None:
        """Count ``n`` finished fleets of a scenario of ``scenario_fleets`` fleet tasks.

        Parameters
        ----------
        n : int
        scenario_fleets : int
        """
        self.fleets_done += n
        if self.bar is not None:
            self.bar.update(self.task, advance=n)
        elif self.enabled and scenario_fleets >= 20 and time.monotonic() >= self._next_line:
            self._next_line = time.monotonic() + 10.0
            self.note(f"[{self._clock()}] fleets {self.fleets_done}/{self.fleets}")

    def scenario_finished(self, point: SweepPoint, line: str, failed: bool) -> None:
        """Report a finished scenario.

        Parameters
        ----------
        point : SweepPoint
        line : str
            What became of it.
        failed : bool
        """
        self.scenarios_done += 1
        self.failed += int(failed)
        if self.bar is not None:
            self._postfix()
            if failed:
                self.note(f"failed: {point.short} ({point.label}): {line}")
            return
        self.note(
            f"[{self._clock()}] scenario {self.scenarios_done}/{self.scenarios} "
            f"({self.failed} failed) {point.short} {point.label}: {line}"
        )

    def close(self) -> None:
        """Stop the bar."""
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
