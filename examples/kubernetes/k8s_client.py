"""The client of the Kubernetes recipe: find the StatefulSet's hosts by DNS, attach, run
procs and actors, stop them.

Each host pod has a stable name through the headless Service,
``<statefulset>-<ordinal>.<service>`` (the pod's DNS search path adds the namespace), which
resolves to the pod's IP once it is ready. meshtrio addresses are IP literals, so this
resolves the names in ordinal order (the rank order) and waits, bounded, for pods that are
not ready yet. The token comes from ``MESHTRIO_TOKEN_FILE`` (a mounted Secret).
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
        return f"rank {meshtrio.current_rank().rank} on {socket.gethostname()}"


async def hosts_from_statefulset(
    statefulset: str, service: str, count: int, port: int, timeout: float
) -> list[str]:
    """``tcp:IP:PORT`` of pods ``<statefulset>-0 .. -<count-1>``, in that order; waits up
    to ``timeout`` seconds for names that do not resolve yet (pods not ready)."""
    addrs: list[str] = []
    with trio.fail_after(timeout):
        for ordinal in range(count):
            name = f"{statefulset}-{ordinal}.{service}"
            while True:
                try:
                    infos = await trio.socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
                except socket.gaierror:
                    await trio.sleep(1.0)  # not ready (or not scheduled) yet: DNS has no event
                    continue
                family, _type, _proto, _name, sockaddr = infos[0]
                ip = str(sockaddr[0])
                addrs.append(
                    f"tcp:[{ip}]:{port}" if family == socket.AF_INET6 else f"tcp:{ip}:{port}"
                )
                break
    return addrs


async def main(args: argparse.Namespace) -> None:
    addrs = await hosts_from_statefulset(
        args.statefulset, args.service, args.hosts, args.port, args.timeout
    )
    print("hosts:", " ".join(addrs), flush=True)
    token = (await trio.Path(os.environ["MESHTRIO_TOKEN_FILE"]).read_text()).strip()
    options: dict[str, Any] = {}
    if args.tls_ca:  # the hosts were started with --tls-cert/--tls-key
        options["tls"] = meshtrio.TLSConfig(ca=args.tls_ca)
    async with meshtrio.attach(addrs, name="k8s", token=token, **options) as mesh:
        procs = await mesh.spawn("workers", {"procs": args.procs_per_host})
        actors = await procs.spawn("where", Where)
        for _point, text in (await actors.where.call()).items():
            print("actor", text, flush=True)
    # Leaving the block stops this client's procs; the hosts keep serving for the next
    # client, and exit (the pods restart clean) after their orphan timeout without one.


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--statefulset", default="meshtrio-hosts")
    parser.add_argument("--service", default="meshtrio-hosts")
    parser.add_argument("--hosts", type=int, required=True)
    parser.add_argument("--port", type=int, default=7000)
    parser.add_argument("--procs-per-host", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--tls-ca", help="CA certificate that signed the hosts' certificates")
    trio.run(main, parser.parse_args())
