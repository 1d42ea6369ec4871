"""A check's numbers do not depend on the number of BLAS threads (the registry pins BLAS to one thread
inside every check, paper_checks/registry.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from opdcheck.paper_checks.context import CheckContext
from opdcheck.paper_checks.registry import CHECK_BLAS_THREADS, register_check
from opdcheck.paper_checks.result import CheckResult, Verdict


def test_a_check_runs_with_one_blas_thread_whatever_the_caller_set():
    seen = []

    @register_check(id="test-blas-threads", paper_ref="test", claim="test")
    def probe(ctx):
        seen.append([i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"])
        return CheckResult(verdict=Verdict.CONFIRMED, computed=0, stated=0, comparison="==")

    from opdcheck.paper_checks import registry
    try:
        with threadpool_limits(limits=2, user_api="blas"):
            res = probe(CheckContext(profile="quick", seed=0))
    finally:
        registry._REGISTRY.pop("test-blas-threads", None)
    assert res.id == "test-blas-threads" and res.claim == "test"  # metadata filled from the declaration
    if not seen[0]:
        pytest.skip("no BLAS library visible to threadpoolctl")
    assert all(n == CHECK_BLAS_THREADS for n in seen[0])


def _strip_times(d):
    if isinstance(d, dict):
        return {k: _strip_times(v) for k, v in d.items() if k != "wall_time"}
    if isinstance(d, list):
        return [_strip_times(v) for v in d]
    return d


@pytest.mark.slow
def test_alg3_npg_is_the_same_with_one_and_two_blas_threads(tmp_path):
    from opdcheck.paper_checks.registry import get_check

    out = []
    for n in (1, 2):
        with threadpool_limits(limits=n, user_api="blas"):
            res = get_check("alg-3-npg").run(CheckContext(profile="quick", seed=0, out_dir=tmp_path / str(n)))
        out.append(json.dumps(_strip_times(res.to_dict()), sort_keys=True))
    assert out[0] == out[1]
    assert np.isfinite(len(out[0]))
