"""A real single-node SLURM cluster in a temporary directory, for tests (a plain module).

:func:`slurm_cluster` starts munged, slurmctld and slurmd from the OS packages (Debian's
``slurm-wlm`` and ``munge``), each with explicit paths into one temporary directory: a munge
key made there, ``slurm.conf`` naming this machine, free ports, no cgroups
(``proctrack/linuxproc``, ``task/none``), no accounting. It waits (a bounded poll of
``sinfo``: the daemons publish no event) until the node is idle, yields a :class:`Cluster`,
then stops the daemons (TERM, then KILL) and reaps them.

:func:`missing` says why such a cluster cannot be had here (not root, a program missing), so
tests can skip with that reason.

The daemons run as root (they must: slurmd starts job steps as the submitting user), in the
foreground (``-D``), as children of the test process, which is a subreaper
(``tests/conftest.py``): so job steps that slurmd forks count as its descendants, and
``no_leaked_processes`` sees anything a job leaves behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import attrs

PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo", "srun")
"""What a cluster needs on PATH (``apt-get install slurm-wlm munge``)."""

START_BOUND = 30.0
"""Seconds the daemons get to bring the node up."""


def missing() -> str | None:
    """Why a test cluster cannot run here, or None."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "the SLURM test needs root (slurmd starts job steps as the submitting user)"
    lacking = [p for p in PROGRAMS if shutil.which(p) is None]
    if lacking:
        return (
            "the SLURM test needs the Debian packages slurm-wlm and munge "
            f"(apt-get install -y slurm-wlm munge): {', '.join(lacking)} not found"
        )
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@attrs.define
class Cluster:
    """A running test cluster."""

    root: Path
    conf: Path
    node: str
    env: dict[str, str]
    daemons: list[subprocess.Popen[bytes]]

    def run(self, *argv: str, timeout: float = 15.0) -> str:
        """Run a SLURM command against this cluster; its stdout (raises on failure)."""
        out = subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if out.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed ({out.returncode}): {out.stderr}")
        return out.stdout

    def job_state(self, job_id: str) -> str:
        """The job's state (``PENDING``, ``RUNNING``, ``COMPLETED``, ...) per slurmctld."""
        out = self.run("scontrol", "-o", "show", "job", job_id)
        for field in out.split():
            if field.startswith("JobState="):
                return field.split("=", 1)[1]
        raise AssertionError(f"no JobState in {out!r}")

    def logs(self) -> str:
        """The daemons' log tails (for failure messages)."""
        parts = []
        for name in ("munged.log", "slurmctld.log", "slurmd.log"):
            path = self.root / name
            if path.exists():
                parts.append(f"--- {name}\n" + "\n".join(path.read_text().splitlines()[-30:]))
        return "\n".join(parts)


def _conf(root: Path, node: str, cpus: int) -> str:
    return f"""\
ClusterName=meshtrio-test
SlurmctldHost={node}
SlurmUser=root
SlurmdUser=root
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MinJobAge=600
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
PlugStackConfig={root}/plugstack.conf
NodeName={node} CPUs={cpus} State=UNKNOWN
PartitionName=test Nodes={node} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
"""


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def slurm_cluster(root: Path) -> Iterator[Cluster]:
    """Start a one-node cluster with its files under ``root``; stop it on exit."""
    node = socket.gethostname().split(".")[0]
    for sub in ("state", "spool", "munge"):
        (root / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root, 0o755)  # job steps (as root here) and munged read below it
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    os.chmod(key, 0o400)
    conf = root / "slurm.conf"
    conf.write_text(_conf(root, node, os.cpu_count() or 1))
    (root / "plugstack.conf").write_text("")
    env = {**os.environ, "SLURM_CONF": str(conf)}
    daemons: list[subprocess.Popen[bytes]] = []
    cluster = Cluster(root, conf, node, env, daemons)
    try:
        daemons.append(
            subprocess.Popen(
                [
                    "munged",
                    "--foreground",
                    "--force",
                    f"--key-file={key}",
                    f"--socket={root}/munge.socket",
                    f"--pid-file={root}/munged.pid",
                    f"--log-file={root}/munged.log",
                    f"--seed-file={root}/munge/munged.seed",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        _wait_for(lambda: (root / "munge.socket").exists(), cluster, "munged's socket")
        for argv in (["slurmctld", "-D", "-i", "-f", str(conf)], ["slurmd", "-D", "-f", str(conf)]):
            daemons.append(
                subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            )
        _wait_for(lambda: _node_idle(cluster), cluster, "the node to be idle")
        yield cluster
    finally:
        for proc in reversed(daemons):
            _stop(proc)
        for proc in daemons:
            if proc.stderr is not None:
                proc.stderr.close()


def _node_idle(cluster: Cluster) -> bool:
    out = subprocess.run(
        ["sinfo", "-h", "-N", "-o", "%t"],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return out.returncode == 0 and out.stdout.strip() == "idle"


def _wait_for(ready: object, cluster: Cluster, what: str) -> None:
    """Poll ``ready()`` (daemons publish no readiness event) until true, within START_BOUND."""
    assert callable(ready)
    deadline = time.monotonic() + START_BOUND
    while not ready():
        for proc in cluster.daemons:
            if proc.poll() is not None:
                raise AssertionError(
                    f"{proc.args[0]} exited with {proc.returncode} while waiting for {what}:\n"
                    + cluster.logs()
                )
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {START_BOUND} s:\n{cluster.logs()}")
        time.sleep(0.1)
