"""What a check receives: profile, seed, output directory, an optional user instance, progress."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    from opdcheck.problem import Problem
    from opdcheck.sweeps import Executor

__all__ = ["CheckContext", "Progress"]

PROFILES = ("quick", "full")


class Progress:
    """A minimal progress line on stderr for long runs (silent when ``enabled`` is False)."""

    def __init__(self, enabled: bool = True, stream=None) -> None:
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.label = ""
        self._t0 = time.perf_counter()
        self._last = 0.0

    def start(self, label: str) -> None:
        self.label = label
        self._t0 = time.perf_counter()
        self._last = 0.0

    def update(self, done: int, total: int, note: str = "") -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if done < total and now - self._last < 0.5:  # at most two redraws a second
            return
        self._last = now
        el = now - self._t0
        frac = done / max(total, 1)
        eta = el / frac - el if frac > 0 else float("nan")
        msg = f"\r  {self.label}: {done}/{total} ({100 * frac:4.0f}%) {el:6.1f}s elapsed"
        if done < total and np.isfinite(eta):
            msg += f", ~{eta:.0f}s left"
        if note:
            msg += f"  {note}"
        self.stream.write(msg[:120].ljust(100))
        self.stream.flush()

    def done(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * 120 + "\r")
            self.stream.flush()


@dataclass
class CheckContext:
    """Inputs to a check's ``run``.

    ``rng(stream)`` gives an independent, reproducible generator per named stream so that adding
    a stream in one check does not shift the random numbers of another.
    """

    profile: str = "quick"
    seed: int = 0
    out_dir: Path = field(default_factory=lambda: Path("opdcheck-report"))
    instance: "Problem | None" = None
    progress: Progress = field(default_factory=lambda: Progress(enabled=False))
    #: the sweep executor (opdcheck.sweeps); None -> in-process
    executor: "Executor | None" = None

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile: {self.profile!r}; choose one of {PROFILES}.")
        if not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed: {self.seed!r}; pass a non-negative integer.")
        self.out_dir = Path(self.out_dir)

    @property
    def full(self) -> bool:
        return self.profile == "full"

    def rng(self, stream: str) -> np.random.Generator:
        key = [self.seed] + [ord(ch) for ch in stream]
        return np.random.default_rng(np.random.SeedSequence(key))

    @property
    def figures_dir(self) -> Path:
        d = self.out_dir / "figures"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def figure_path(self, name: str) -> tuple[Path, str]:
        """(absolute path to write, path relative to the report) for a figure file name."""
        p = self.figures_dir / name
        return p, str(p.relative_to(self.out_dir))

    def counterexample_path(self, name: str) -> tuple[Path, str]:
        d = self.out_dir / "counterexamples"
        d.mkdir(parents=True, exist_ok=True)
        p = d / name
        return p, str(p.relative_to(self.out_dir))

    def map(self, fn, specs, *, stream: str, label: str | None = None) -> list:
        """Run ``fn(spec, seed)`` over ``specs`` with the run's executor; results in task order.

        ``fn`` must be a module-level function (picklable) and ``specs`` picklable; the seed of task i is
        ``opdcheck.sweeps.task_seed(self.seed, stream, i)``, whichever executor runs it.
        """
        from opdcheck.sweeps import InProcess, task_seeds

        specs = list(specs)
        seeds = task_seeds(self.seed, stream, len(specs))
        ex = self.executor or InProcess()
        update = self.for_subtask(label or stream)
        try:
            return ex.map(fn, specs, seeds=seeds, progress=lambda d, t: update(d, t, ""))
        finally:
            self.progress.done()

    def for_subtask(self, label: str) -> Callable[[int, int, str], None]:
        self.progress.start(label)
        return self.progress.update
