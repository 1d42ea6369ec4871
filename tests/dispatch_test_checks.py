"""Small test checks that worker processes can import (module-level functions, pickled by reference), for the
tests of whole checks run in parallel (test_paper_checks_dispatch.py). Not a test module."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from opdcheck.paper_checks.result import CheckResult, Verdict

#: how long a test check waits for a file another check writes before giving up (a guard, never reached)
WAIT_GUARD = 120.0


def _result(tag: str, ctx) -> CheckResult:
    fig, rel = ctx.figure_path(f"{tag}.png")
    fig.write_text(f"{tag} seed {ctx.seed}")
    return CheckResult(id=tag, paper_ref="test", claim="test", verdict=Verdict.CONFIRMED, computed=ctx.seed,
                       stated="seed", comparison="identity", judged=1, figures=[rel], seed=ctx.seed)


def ok_a(ctx):
    return _result("p-a", ctx)


def ok_b(ctx):
    return _result("p-b", ctx)


def ok_c(ctx):
    return _result("p-c", ctx)


def boom(ctx):
    raise RuntimeError("planted crash in a worker")


def dies(ctx):
    """Kills its own process, as a native crash or the OOM killer would."""
    os.kill(os.getpid(), signal.SIGKILL)


def _wait_for(path: Path) -> None:
    t0 = time.monotonic()
    while not path.exists() and time.monotonic() - t0 < WAIT_GUARD:
        time.sleep(0.02)


def slow_b(ctx):
    """Says it started (a file), then works for a long time: cut off by the interrupt."""
    (Path(ctx.out_dir) / "p-b.started").write_text("")
    time.sleep(WAIT_GUARD)
    return _result("p-b", ctx)


def sends_sigterm(ctx):
    """Once p-b has started (so the run has collected p-a's result and handed its worker p-b), SIGTERM the run."""
    _wait_for(Path(ctx.out_dir) / "p-b.started")
    os.kill(os.getppid(), signal.SIGTERM)
    time.sleep(WAIT_GUARD)
    raise AssertionError("SIGTERM was not handled")


def needs_3k(problem) -> int:
    """A memory estimator: 3000 bytes whatever the instance."""
    return 3000
