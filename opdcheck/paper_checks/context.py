"""What a check receives: profile, seed, output directory, an optional user instance, progress."""
from __future__ import annotations

import sys
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
    """Progress of a long sweep on the terminal, drawn by tqdm (silent when ``enabled`` is False).

    The interface checks use: ``start(label)``, ``update(done, total, note)``, ``done()`` (also
    reached through ``CheckContext.for_subtask`` / ``CheckContext.progress``). tqdm limits redraws to
    a few a second and clears the bar when a sweep ends (``leave=False``).
    """

    def __init__(self, enabled: bool = True, stream=None) -> None:
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.label = ""
        self._bar = None

    def start(self, label: str) -> None:
        self.done()
        self.label = label

    def update(self, done: int, total: int, note: str = "") -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=f"  {self.label}", file=self.stream, leave=False,
                             dynamic_ncols=True, mininterval=0.5)
        bar = self._bar
        if bar.total != total:
            bar.total = total
        if note:
            bar.set_postfix_str(note[:60], refresh=False)
        bar.update(max(0, done - bar.n))  # tqdm redraws at most every mininterval
        if done >= total:
            bar.refresh()  # the last state is always drawn

    def done(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


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
        import pickle

        from opdcheck.sweeps import InProcess, task_seeds

        try:  # checked in-process too, so a check that runs here also runs with --jobs / --scheduler
            pickle.dumps(fn)
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            raise ValueError(f"ctx.map(stream={stream!r}): fn = {fn!r} cannot be sent to a worker ({exc}); "
                             "pass a module-level function.") from None
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
