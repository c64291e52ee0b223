"""The SLURM recipe (``examples/slurm/``) on a real single-node SLURM cluster.

The cluster (munged, slurmctld, slurmd from the OS packages) is made in a temporary directory
by :mod:`slurm_cluster` and stopped at the end. Each test submits ``meshtrio.sbatch``, which
runs one ``meshtrio host --announce`` per node through ``srun``; the hosts listen on loopback
here (``MESHTRIO_LISTEN_IP``: tests touch no other network). Then:

* the recipe as a user runs it: its own client (``slurm_client.py``) in the job finds the hosts,
  spawns procs and actors, shuts the hosts down, and the job completes;
* this test as the client, from outside the job (as from a login node): it waits for the
  hosts with :func:`meshtrio.hosts_from_dir`, spawns procs and an actor on the allocated node,
  shuts down, and checks the job completed and nothing is left (no job step, host or proc).

Skipped with the reason when not root or the packages are missing (``.ci/run`` installs them
when it runs as root).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from slurm_cluster import Cluster, missing, slurm_cluster

import meshtrio
from meshtrio.testing import descendants, no_leaked_processes

pytestmark = [pytest.mark.slurm, pytest.mark.processes]

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "slurm"
TOKEN = "slurm-test-token-0123456789abcdef"
JOB_BOUND = 60.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A one-node SLURM cluster for this module's tests."""
    reason = missing()
    if reason is not None:
        pytest.skip(reason)
    with slurm_cluster(tmp_path_factory.mktemp("slurm")) as running:
        yield running
    left = [p for p in descendants() if _cmdline(p).startswith(("slurm", "munged"))]
    assert not left, f"SLURM daemons or job steps outlived the cluster: {left}"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _submit(cluster: Cluster, work: Path, client: str) -> str:
    """Submit the recipe on one node; return the job id."""
    (work / "token").write_text(TOKEN + "\n")
    os.chmod(work / "token", 0o600)
    env = {k: v for k, v in cluster.env.items() if not k.startswith("MESHTRIO_")}
    env.update(
        PYTHON=sys.executable,
        MESHTRIO_TOKEN_FILE=str(work / "token"),
        MESHTRIO_RENDEZVOUS=str(work / "rv"),
        MESHTRIO_CLIENT=client,
        MESHTRIO_LISTEN_IP="127.0.0.1",
    )
    argv = [
        "sbatch",
        "--parsable",
        "--nodes=1",
        f"--chdir={work}",
        f"--output={work}/job.out",
        str(EXAMPLE / "meshtrio.sbatch"),
    ]
    saved = cluster.env
    cluster.env = env
    try:
        return cluster.run(*argv).strip().split(";")[0]
    finally:
        cluster.env = saved


def _wait_done(cluster: Cluster, job: str, work: Path) -> str:
    """Poll slurmctld (it publishes no event) until the job ended; its final state."""
    deadline = time.monotonic() + JOB_BOUND
    while True:
        state = cluster.job_state(job)
        if state not in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING"):
            return state
        if time.monotonic() > deadline:
            out = (work / "job.out").read_text() if (work / "job.out").exists() else ""
            why = cluster.run("squeue", "-h", "-j", job, "-o", "%r").strip()
            raise AssertionError(
                f"job {job} still {state} ({why}) after {JOB_BOUND} s\n{out}\n{cluster.logs()}"
            )
        time.sleep(0.2)


def _no_job_left(cluster: Cluster, job: str) -> None:
    assert cluster.run("squeue", "-h", "-j", job, "-o", "%i").strip() == "", "job still queued"
    hosts = [p for p in descendants() if "meshtrio host" in _cmdline(p)]
    assert not hosts, f"meshtrio hosts outlived the job: {hosts}"


def test_slurm_recipe_runs_its_client_in_the_job(cluster: Cluster, tmp_path: Path) -> None:
    """sbatch meshtrio.sbatch: the in-job client finds the host through the rendezvous, runs
    two procs with an actor each on the allocated node, shuts down; the job completes."""
    with no_leaked_processes(grace=10):
        job = _submit(cluster, tmp_path, str(EXAMPLE / "slurm_client.py"))
        state = _wait_done(cluster, job, tmp_path)
        out = (tmp_path / "job.out").read_text()
        assert state == "COMPLETED", f"job {job} ended {state}:\n{out}"
        assert "hosts: tcp:127.0.0.1:" in out, out
        assert f"actor rank 0 on {cluster.node}" in out, out
        assert f"actor rank 1 on {cluster.node}" in out, out
        assert "shut down: 1 hosts, failures: 0" in out, out
        assert list((tmp_path / "rv").iterdir()) == [], "RV-5: an announcement was left"
    _no_job_left(cluster, job)


class Where(meshtrio.Actor):
    """Says where it runs."""

    @meshtrio.endpoint
    async def where(self) -> tuple[int, int]:
        return meshtrio.current_rank().rank, os.getpid()


async def test_slurm_client_outside_the_job_attaches_spawns_and_ends_it(
    cluster: Cluster, tmp_path: Path
) -> None:
    """With no client in the job, this test attaches through hosts_from_dir, spawns procs
    and an actor on the allocated node, shuts the host down; the job then completes and no
    host, proc or job step is left."""
    with no_leaked_processes(grace=10), trio.fail_after(JOB_BOUND + 30):
        job = _submit(cluster, tmp_path, "")
        rendezvous = tmp_path / "rv" / f"job-{job}"
        addrs = await meshtrio.hosts_from_dir(rendezvous, expect=1, timeout=JOB_BOUND)
        assert [a.host for a in addrs] == ["127.0.0.1"]
        async with meshtrio.attach(addrs, token=TOKEN, name="slurm") as mesh:
            [info] = (await mesh.info()).values()
            assert cluster.run("squeue", "-h", "-j", job, "-o", "%T").strip() == "RUNNING"
            procs = await mesh.spawn("workers", {"procs": 2})
            actors = await procs.spawn("where", Where)
            answers = sorted((await actors.where.call()).values())
            assert [rank for rank, _pid in answers] == [0, 1]
            assert {pid for _rank, pid in answers} <= set(descendants(info.pid))
            report = await mesh.shutdown()
            assert report.failures == ()
        state = await trio.to_thread.run_sync(_wait_done, cluster, job, tmp_path)
        assert state == "COMPLETED", (tmp_path / "job.out").read_text()
        assert list(rendezvous.iterdir()) == []
    _no_job_left(cluster, job)


async def test_slurm_scancel_ends_the_hosts_and_withdraws_them(
    cluster: Cluster, tmp_path: Path
) -> None:
    """scancel of a job whose hosts wait for a client: srun passes SIGTERM on, each host
    stops and withdraws its announcement (RV-5), the job ends CANCELLED, nothing is left."""
    with no_leaked_processes(grace=10), trio.fail_after(JOB_BOUND + 30):
        job = _submit(cluster, tmp_path, "")
        rendezvous = tmp_path / "rv" / f"job-{job}"
        await meshtrio.hosts_from_dir(rendezvous, expect=1, timeout=JOB_BOUND)
        cluster.run("scancel", job)
        state = await trio.to_thread.run_sync(_wait_done, cluster, job, tmp_path)
        assert state == "CANCELLED"
    # no_leaked_processes waited for the job's processes to end: the host is gone
    assert list(rendezvous.iterdir()) == [], "RV-5: a SIGTERMed host left its file"
    _no_job_left(cluster, job)


def test_slurm_missing_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without root, or without the packages, the cluster is not tried and the skip reason
    says exactly what is missing."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "needs root" in (missing() or "")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "slurmd" else "/bin/x")
    reason = missing() or ""
    assert "apt-get install -y slurm-wlm munge" in reason
    assert "slurmd not found" in reason
