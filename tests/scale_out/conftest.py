"""Dask clusters for the scale-out tests: in-process LocalCluster for most, real `dask` processes for some.

Every cluster listens on 127.0.0.1 only, is bounded in time (pytest-timeout) and is shut down
by its fixture, whatever the test did.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = str(Path(__file__).resolve().parents[2])  # the checkout: workers import tests.scale_out.layers from it


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of 2 worker processes x 1 thread on 127.0.0.1; its Client is the default one."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as cluster, Client(cluster) as c:
        yield c


class DaskProcesses:
    """A `dask scheduler` and `dask worker` processes started with the dask command line."""

    def __init__(self, tmp_path, n_workers=2, nanny=False):
        self.scheduler_file = str(tmp_path / "scheduler.json")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
        dask = [sys.executable, "-m", "dask"]
        self.processes = [subprocess.Popen(
            [*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", self.scheduler_file], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        deadline = time.monotonic() + 60
        while not os.path.exists(self.scheduler_file):
            if time.monotonic() > deadline or self.processes[0].poll() is not None:
                self.close()
                raise RuntimeError("the dask scheduler did not start")
            time.sleep(0.1)
        for _ in range(n_workers):
            self.processes.append(subprocess.Popen(
                [*dask, "worker", "--scheduler-file", self.scheduler_file, "--host", "127.0.0.1", "--nthreads", "1",
                 "--no-dashboard", "--nanny" if nanny else "--no-nanny"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def client(self):
        from distributed import Client

        c = Client(scheduler_file=self.scheduler_file, timeout=60)
        c.wait_for_workers(len(self.processes) - 1, timeout=60)
        return c

    def close(self):
        for p in reversed(self.processes):
            if p.poll() is None:
                p.terminate()
        for p in self.processes:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=15)


@pytest.fixture
def dask_processes(tmp_path):
    cluster = DaskProcesses(tmp_path)
    try:
        yield cluster
    finally:
        cluster.close()


def relative_error(a, b) -> float:
    a, b = np.asarray(a, np.complex128), np.asarray(b, np.complex128)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))
