"""Command line: ``python -m meshtrio host | proc | demo``.

* ``host --listen ADDR [--token-file PATH]``: run a host agent. Prints its bound address as the
  first line on stdout, serves until shut down, then exits 0. The token comes from the file, or
  ``MESHTRIO_TOKEN``; without one it refuses to start. ``--tls-cert C --tls-key K
  [--tls-ca CA]`` makes it speak ``wss`` only (with ``--tls-ca``: mutual TLS); a non-loopback
  tcp address without them needs ``--insecure``. Started by a client mesh (which sets
  ``MESHTRIO_PARENT_PID``), it dies with that client.
  With ``--announce DIR`` it also writes its address (never the token) into DIR for
  :func:`meshtrio.hosts_from_dir`, removes it when it exits (SIGTERM and SIGINT included),
  and exits after ``--orphan-timeout`` (default 60 s) without a client (HO-1).
* ``proc``: the default proc bootstrap (started by host agents, not by hand). It registers
  Python's faulthandler on SIGUSR1 (every thread's stack to stderr), which its host uses to
  get a stack from a proc whose event loop is blocked (ST-3).
* ``demo [--hosts N] [--procs-per-host M]``: the main job, see :mod:`meshtrio._demo`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal

import trio

from meshtrio import _config as config
from meshtrio._errors import MeshError

if TYPE_CHECKING:
    from meshtrio._addr import ChannelAddr
    from meshtrio._tls import ServerTLS

__all__ = ["main"]

_forked = False
"""True in a proc its host's zygote forked: it dies with its host through its lifeline (ZY-3),
not ``PR_SET_PDEATHSIG`` (which would tie it to the zygote, its parent)."""


def _parent_pid() -> int | None:
    from meshtrio._contract import PARENT_PID_ENV

    text = os.environ.get(PARENT_PID_ENV, "")
    return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _arm_pdeathsig() -> None:
    from meshtrio._host.pdeathsig import set_parent_death_signal

    parent = _parent_pid()
    if parent is not None and config.get(config.MESH_BOOTSTRAP_ENABLE_PDEATHSIG):
        ppid = os.getppid()
        if ppid != parent and _alive(parent):
            # Started through a wrapper that forked (a shell script, ...): die with the
            # wrapper; checking against ``parent`` would make us exit 0 at once.
            parent = ppid
        set_parent_death_signal(parent)


def _sole(exc: BaseException) -> BaseException:
    """The one exception inside nested single-member exception groups (else ``exc``)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _token(args: argparse.Namespace) -> str | None:
    """The client token from ``--token-file`` or ``MESHTRIO_TOKEN``; None (said on stderr)
    when there is none or the file cannot be read."""
    from meshtrio._transport.handshake import token_from_env

    token: str | None
    if args.token_file:
        try:
            with open(args.token_file, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as exc:
            print(f"meshtrio {args.cmd}: cannot read token file: {exc.strerror}", file=sys.stderr)
            return None
    else:
        token = token_from_env()
    if not token:
        print(
            f"meshtrio {args.cmd}: no auth token: pass --token-file PATH or set MESHTRIO_TOKEN",
            file=sys.stderr,
        )
        return None
    return token


def _server_tls(args: argparse.Namespace) -> ServerTLS | Literal[False] | None:
    """The host's TLS settings from ``--tls-cert/--tls-key/--tls-ca`` (None: none given;
    False: a bad combination or unreadable files, said on stderr)."""
    from meshtrio._tls import ServerTLS

    if not (args.tls_cert or args.tls_key or args.tls_ca):
        return None
    if not (args.tls_cert and args.tls_key):
        print("meshtrio host: --tls-cert and --tls-key go together", file=sys.stderr)
        return False
    tls = ServerTLS(cert=args.tls_cert, key=args.tls_key, ca=args.tls_ca)
    try:
        tls.server_context()
    except MeshError as exc:
        print(f"meshtrio host: {exc}", file=sys.stderr)
        return False
    return tls


def _cmd_host(args: argparse.Namespace) -> int:
    from meshtrio._addr import ChannelAddr
    from meshtrio._contract import LISTEN_ENV
    from meshtrio._host.agent import INSECURE_BIND_WARNING, is_loopback, serve_host_agent

    token = _token(args)
    if token is None:
        return 2
    listen = args.listen or os.environ.get(LISTEN_ENV) or "tcp:127.0.0.1:0"
    addr = ChannelAddr.parse(listen)
    if args.announce:
        from meshtrio._rendezvous import check_announceable

        check_announceable(addr)  # before listening: a wildcard is no address to announce
    tls = _server_tls(args)
    if tls is False:
        return 2
    if tls is None and not is_loopback(addr):
        if not args.insecure:
            print(
                f"meshtrio host: refusing to listen on {addr} in plaintext: other machines "
                "can reach it, and whoever reads the traffic gets the token. Give the host a "
                "certificate (--tls-cert C --tls-key K), or pass --insecure if this network "
                "is trusted",
                file=sys.stderr,
            )
            return 2
        print(
            "meshtrio host: WARNING: " + INSECURE_BIND_WARNING.format(addr=addr),
            file=sys.stderr,
            flush=True,
        )
    orphan = _orphan_timeout(args)
    _arm_pdeathsig()

    async def serve(task_status: trio.TaskStatus[ChannelAddr]) -> None:
        await serve_host_agent(
            addr, token=token, orphan_timeout=orphan, tls=tls or None, task_status=task_status
        )

    trio.run(_announced if args.announce else _printed, serve, args)
    return 0


async def _printed(serve: Callable[..., Awaitable[None]], _args: argparse.Namespace) -> None:
    async with trio.open_nursery() as nursery:
        print(await nursery.start(serve), flush=True)


async def _announced(serve: Callable[..., Awaitable[None]], args: argparse.Namespace) -> None:
    """Serve, and announce the bound address in ``--announce DIR`` until the host ends;
    SIGTERM or SIGINT (a scheduler ending the job) end it gracefully: procs stopped, the
    file removed (RV-5)."""
    from meshtrio._rendezvous import announce, withdraw

    path = None
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        try:
            async with trio.open_nursery() as nursery:

                async def host(task_status: trio.TaskStatus[ChannelAddr]) -> None:
                    await serve(task_status=task_status)
                    nursery.cancel_scope.cancel()  # shut down (or orphaned, HO-1): done

                bound = await nursery.start(host)
                print(bound, flush=True)
                path = announce(args.announce, bound, rank=args.rank)
                async for signum in signals:
                    print(
                        f"meshtrio host: {signal.Signals(signum).name}: stopping",
                        file=sys.stderr,
                        flush=True,
                    )
                    nursery.cancel_scope.cancel()  # serve_host_agent stops its procs
                    break
        finally:
            if path is not None:
                withdraw(path)


def _orphan_timeout(args: argparse.Namespace) -> float | None:
    """HO-1's timeout: ``--orphan-timeout``, else ``MESHTRIO_HOST_ORPHAN_TIMEOUT``, else 60 s
    for an announced host (it was started by a scheduler: nobody else will end it), else
    never."""
    key = config.HOST_ORPHAN_TIMEOUT
    if args.orphan_timeout is not None:
        return key.parse_text(args.orphan_timeout)
    value = config.get(key)
    if value is None and args.announce:
        return ANNOUNCED_ORPHAN_TIMEOUT
    return value


ANNOUNCED_ORPHAN_TIMEOUT = 60.0
"""Seconds an announced host waits for a client (first, or next) before it exits (HO-1)."""


def _preload(snapshot: dict[str, object]) -> None:
    """Import the ``proc_preload`` modules (a forked proc has them from its zygote already)."""
    from meshtrio._host.forkserver import import_preload, parse_preload

    config.GLOBAL.set_client_override(snapshot)  # run_proc installs the same snapshot (PR-2)
    import_preload(parse_preload(config.get(config.PROC_PRELOAD)))


def _cmd_proc(_args: argparse.Namespace) -> int:
    from meshtrio._contract import BOOTSTRAP_ENV, PROC_TOKEN_ENV, ProcBootstrap
    from meshtrio._proc.runtime import run_proc
    from meshtrio._proc.stacks import register_faulthandler

    text = os.environ.get(BOOTSTRAP_ENV)
    token = os.environ.get(PROC_TOKEN_ENV)
    if not text or not token:
        print(
            f"meshtrio proc: no bootstrap payload ({BOOTSTRAP_ENV}) or proc credential "
            f"({PROC_TOKEN_ENV}); procs are started by host agents",
            file=sys.stderr,
        )
        return 2
    boot = ProcBootstrap.from_env(text)
    if not _forked:
        _arm_pdeathsig()
    _preload(boot.config)
    try:
        os.setpgid(0, 0)
    except OSError:
        pass  # already a group leader (the launcher makes it one)
    register_faulthandler()  # SIGUSR1: every thread's stack on stderr, loop blocked or not (ST-3)
    return trio.run(lambda: run_proc(boot, token=token, cfg=config.GLOBAL))


def _cmd_stacks(args: argparse.Namespace) -> int:
    from meshtrio._stacks_cli import run

    token = _token(args)
    if token is None:
        return 2
    return run(args.ref, token, args.timeout)


def _cmd_demo(args: argparse.Namespace) -> int:
    from meshtrio._demo import run_demo

    return trio.run(run_demo, args.hosts, args.procs_per_host, args.samples)


HOST_HELP = """\
Run a host agent: it serves one host, starting procs (worker processes) for the clients that
attach to it (meshtrio.attach([ADDR], token=...) in a Trio program).

It prints the address it is bound to as the first line on stdout (useful with port 0), then
serves until a client shuts it down (exit status 0).

The auth token comes from --token-file or the MESHTRIO_TOKEN environment variable; without
one the host refuses to start. Whoever holds the token can spawn any command on this host
as this user, stop or drain every proc, and shut the host down: keep it secret. Procs get a
credential of their own that cannot do any of that.
"""


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m meshtrio``."""
    parser = argparse.ArgumentParser(prog="meshtrio", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    host = sub.add_parser(
        "host",
        help="run a host agent",
        description=HOST_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    host.add_argument(
        "--listen",
        metavar="ADDR",
        help="address to listen on: tcp:IP:PORT, unix:/path, unix:@name or unix: (default "
        "tcp:127.0.0.1:0, loopback with a free port; a non-loopback tcp address needs "
        "--tls-cert/--tls-key, or --insecure for plaintext)",
    )
    host.add_argument(
        "--tls-cert",
        metavar="PATH",
        help="serve wss (TLS) only, with this certificate chain (PEM); it must name the "
        "addresses clients connect to. Procs serve their actors with it too",
    )
    host.add_argument("--tls-key", metavar="PATH", help="the private key of --tls-cert (PEM)")
    host.add_argument(
        "--tls-ca",
        metavar="PATH",
        help="mutual TLS: clients must present a certificate signed by this CA (PEM)",
    )
    host.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback tcp address without TLS (plaintext: the token and all "
        "traffic can be read on the network)",
    )
    host.add_argument(
        "--token-file",
        metavar="PATH",
        help="file holding the auth token (default: the MESHTRIO_TOKEN environment variable)",
    )
    host.add_argument(
        "--announce",
        metavar="DIR",
        help="write this host's address (not the token) into DIR, a directory the client "
        "can read (meshtrio.hosts_from_dir), remove it on exit, and exit after "
        "--orphan-timeout without a client",
    )
    host.add_argument(
        "--rank",
        type=int,
        metavar="N",
        help="with --announce: this host's rank, which orders the hosts for the client "
        "(e.g. $SLURM_PROCID); default: by host name",
    )
    host.add_argument(
        "--orphan-timeout",
        metavar="DURATION",
        help="exit after this long with no client connected (30s, 5m, none); default: "
        "MESHTRIO_HOST_ORPHAN_TIMEOUT, else 60s with --announce, else none",
    )
    host.set_defaults(fn=_cmd_host)
    proc = sub.add_parser("proc", help="run a proc (started by host agents)")
    proc.set_defaults(fn=_cmd_proc)
    stacks = sub.add_parser(
        "stacks",
        help="print where every proc on a running mesh's hosts is (threads and Trio tasks)",
        description="Print every thread's stack and the Trio task tree of every proc that "
        "the hosts of REF run (a host mesh ref, as a client prints it: id:host,host@region). "
        "It only looks: nothing is pushed, spawned or stopped. The client token comes from "
        "--token-file or MESHTRIO_TOKEN; for TLS hosts, set MESHTRIO_TLS_CA (and "
        "MESHTRIO_TLS_CERT/MESHTRIO_TLS_KEY for mutual TLS).",
    )
    stacks.add_argument("ref", metavar="REF", help="the host mesh ref")
    stacks.add_argument(
        "--timeout", type=float, default=1.0, help="seconds each proc has to answer itself"
    )
    stacks.add_argument("--token-file", metavar="PATH", help="file holding the auth token")
    stacks.set_defaults(fn=_cmd_stacks)
    demo = sub.add_parser(
        "demo", help="bring up a local mesh, run actors on its procs (a Monte Carlo pi), tear down"
    )
    demo.add_argument("--hosts", type=int, default=2)
    demo.add_argument("--procs-per-host", type=int, default=2)
    demo.add_argument("--samples", type=int, default=200_000, help="points per actor")
    demo.set_defaults(fn=_cmd_demo)
    from meshtrio._top import add_top_parser  # light: textual is imported only when run

    add_top_parser(sub)
    args = parser.parse_args(argv)
    try:
        code: int = args.fn(args)
    except (MeshError, KeyboardInterrupt, BaseExceptionGroup) as raised:
        exc = _sole(raised)  # errors from inside a nursery arrive wrapped in a group
        if isinstance(exc, KeyboardInterrupt):
            return 130
        if not isinstance(exc, MeshError):
            raise
        print(f"meshtrio {args.cmd}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
