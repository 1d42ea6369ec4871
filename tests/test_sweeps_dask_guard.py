"""--scheduler: a cluster without a live worker, or with workers on another opdcheck version, is
refused within the timeout (one line), not waited on forever."""
import pytest

import opdcheck
from opdcheck.sweeps import DaskCluster, worker_opdcheck_version


class FakeClient:
    def __init__(self, workers=None, timeout=False, mismatch=None):
        self.workers = {"tcp://w1": opdcheck.__version__} if workers is None else workers
        self.timeout, self.mismatch, self.closed = timeout, mismatch, False

    def wait_for_workers(self, n, timeout=None):
        if self.timeout:
            raise TimeoutError(f"only 0/{n} workers arrived after {timeout}")

    def get_versions(self, check=False):
        if check and self.mismatch:
            raise ValueError(self.mismatch)
        return {}

    def run(self, fn):
        return dict(self.workers)

    def close(self):
        self.closed = True


def _check(client):
    DaskCluster("tcp://127.0.0.1:1", timeout=0.5)._check_workers(client)


def test_no_live_worker_is_refused():
    with pytest.raises(ValueError, match="no worker joined"):
        _check(FakeClient(timeout=True))


def test_another_opdcheck_version_is_refused():
    with pytest.raises(ValueError, match="run opdcheck 0.0.0-other"):
        _check(FakeClient(workers={"tcp://w1": opdcheck.__version__, "tcp://w2": "0.0.0-other"}))


def test_inconsistent_packages_are_refused():
    with pytest.raises(ValueError, match="package versions differ"):
        _check(FakeClient(mismatch="Mismatched versions found: numpy"))


def test_a_healthy_cluster_passes():
    _check(FakeClient())  # positive control
    assert worker_opdcheck_version() == opdcheck.__version__


def test_a_real_scheduler_without_workers_is_refused_within_the_timeout():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        ex = DaskCluster(cluster.scheduler_address, timeout=1.0)
        with pytest.raises(ValueError, match="no worker joined within 1 s"):
            ex.connect()
        assert ex._client is None  # the client was closed, nothing left connected
