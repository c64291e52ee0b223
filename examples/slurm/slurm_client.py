"""The client of the SLURM recipe: find the job's hosts, run procs and actors, shut down.

Run by ``meshtrio.sbatch`` in the job's batch step (or by hand from anywhere that reaches
the nodes)::

    MESHTRIO_TOKEN=$(cat ~/.meshtrio/token) python slurm_client.py --rendezvous DIR --hosts N

It waits for N hosts to announce themselves in DIR, attaches, spawns ``--procs-per-host``
procs on every host and one actor per proc, prints where each actor runs, and shuts the
hosts down (so the job's ``srun`` step ends). If this client dies instead, its hosts exit
by themselves 60 s later (their orphan timeout).
"""

from __future__ import annotations

import argparse
import os
import socket
from typing import Any

import trio

import meshtrio


class Where(meshtrio.Actor):
    """An actor that says where it runs."""

    @meshtrio.endpoint
    async def where(self) -> str:
        return f"rank {meshtrio.current_rank().rank} on {socket.gethostname()} (pid {os.getpid()})"


def tls_options(ca: str | None) -> dict[str, Any]:
    """``attach``'s ``tls=`` for hosts started with ``--tls-cert``/``--tls-key``."""
    if ca is None:
        return {}
    return {"tls": meshtrio.TLSConfig(ca=ca)}


async def main(args: argparse.Namespace) -> None:
    addrs = await meshtrio.hosts_from_dir(args.rendezvous, expect=args.hosts, timeout=args.timeout)
    print("hosts:", " ".join(str(a) for a in addrs), flush=True)
    async with meshtrio.attach(addrs, name="slurm", **tls_options(args.tls_ca)) as mesh:
        procs = await mesh.spawn("workers", {"procs": args.procs_per_host})
        actors = await procs.spawn("where", Where)
        for _point, text in (await actors.where.call()).items():
            print("actor", text, flush=True)
        report = await mesh.shutdown()
        print(f"shut down: {len(report.shutdown)} hosts, failures: {len(report.failures)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rendezvous", required=True, help="the hosts' --announce directory")
    parser.add_argument("--hosts", type=int, required=True, help="how many hosts to wait for")
    parser.add_argument("--procs-per-host", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for hosts")
    parser.add_argument("--tls-ca", help="CA certificate that signed the hosts' certificates")
    trio.run(main, parser.parse_args())
