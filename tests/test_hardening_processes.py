"""Hardening (issue 8) against real host agent processes: each test reproduces one defect.

Every host is a ``python -m meshtrio host`` process started as a user would (loopback only,
except the one test that shows the warning a wider bind gets, which still connects only to
127.0.0.1). Every test is bounded by ``trio.fail_after`` (real clock) and checks that no
process outlives it (:func:`meshtrio.testing.no_leaked_processes`); waits are on the host's own
record of an event (:func:`hosts.wait_for_event`), never on a sleep.

Invariants shown: HA-5 (total), HA-6 (a drain outlives its client), HA-7 (least privilege)
with AU-1 (scoped credentials), CF-1 (usable ranges) and CF-2 (bounded snapshots), the
insecure-bind warning, and states() naming why a host could not be asked.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import msgpack
import pytest
import trio
import trio_websocket
from hosts import (
    HOST_ARGV,
    connect,
    hand_started_hosts,
    host_env,
    open_raw,
    read_first_line,
    read_until_eof,
    reap,
    wait_for_event,
)

import meshtrio
from meshtrio import (
    BootstrapCommand,
    ChannelAddr,
    HostInfo,
    HostMesh,
    HostMeshId,
    ProcId,
    ProcMeshId,
    config,
)
from meshtrio._messages import (
    Ack,
    Drain,
    GetInfo,
    GetProcMeshConfigs,
    GetProcStates,
    HostInfoReply,
    ProcHello,
    SetClientConfig,
    Shutdown,
    SpawnProcs,
    StopProcMesh,
)
from meshtrio._status import StatusKind
from meshtrio._transport.handshake import Offer
from meshtrio._wire import PROTOCOL_VERSION, Envelope, EnvelopeKind, WireError, decode, encode
from meshtrio.errors import (
    AuthRejectedError,
    ConfigError,
    ConfigPushError,
    RemoteError,
    ShutdownError,
)
from meshtrio.testing import alive, no_leaked_processes

pytestmark = pytest.mark.processes

TOKEN = "hardening-processes-test-token"
PY = sys.executable


# -- helpers -------------------------------------------------------------------------------------
def spawn_request(name: str, cfg: dict[str, Any]) -> SpawnProcs:
    """A SpawnProcs of one proc (the host's default command) on host rank 0."""
    return SpawnProcs(ProcMeshId.instance(name), HostMeshId.singleton("hosts"), 0, 1, cfg, [None])


async def only_info(mesh: HostMesh) -> HostInfo:
    """The HostInfo of a one-host mesh."""
    (info,) = (await mesh.info()).values()
    return info


async def spawn_one_and_check(mesh: HostMesh, name: str) -> None:
    """Spawning one proc works and it reads Running."""
    procs = await mesh.spawn(name, {"procs": 1})
    kinds = [s.status.kind for s in (await procs.states()).values()]
    assert kinds == [StatusKind.RUNNING], f"a spawn after the bad input: {kinds}"


def read_env_file(path: Path) -> dict[str, str]:
    """What ``env`` wrote to ``path`` (only ``NAME=value`` lines)."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            out[name] = value
    return out


def process_env(pid: int) -> dict[str, str]:
    """The environment a process was started with (from ``/proc``)."""
    with open(f"/proc/{pid}/environ", "rb") as f:
        entries = f.read().split(b"\0")
    return dict(e.decode().partition("=")[::2] for e in entries if b"=" in e)


@asynccontextmanager
async def raw_ws(addr: str) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """A hand-driven WebSocket to a host agent with the client token (no Peer, no validation
    of what is sent)."""
    stream = await open_raw(ChannelAddr.parse(addr))
    try:
        async with trio.open_nursery() as nursery:
            ws = await trio_websocket.wrap_client_stream(
                nursery,
                stream,
                "127.0.0.1",
                "/meshtrio",
                extra_headers=Offer(PROTOCOL_VERSION, TOKEN).headers(),
                max_message_size=1 << 22,
            )
            yield ws
            nursery.cancel_scope.cancel()
    finally:
        await trio.aclose_forcefully(stream)


async def ws_call(ws: trio_websocket.WebSocketConnection, corr: int, body: Any) -> Envelope:
    """Send one well-formed request; return the envelope that ends it (events skipped)."""
    await ws.send_message(encode(Envelope(EnvelopeKind.REQUEST, corr, body)))
    return await ws_outcome(ws, corr)


async def ws_outcome(ws: trio_websocket.WebSocketConnection, corr: int) -> Envelope:
    """The REPLY or ERROR envelope that ends request ``corr`` (events skipped)."""
    while True:
        env = decode(await ws.get_message())
        if env.corr == corr and env.kind in (EnvelopeKind.REPLY, EnvelopeKind.ERROR):
            return env


@asynccontextmanager
async def host_with_stderr(listen: str, *extra: str) -> AsyncIterator[tuple[trio.Process, str]]:
    """A ``python -m meshtrio host --listen <listen> [extra...]`` process whose stderr is a
    pipe; yields it and the address it printed. It is killed (if still running) and reaped at
    the end."""
    argv = [*HOST_ARGV[:4], "--listen", listen, *extra]
    proc = await trio.lowlevel.open_process(
        argv, env=host_env(TOKEN), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        addr = await read_first_line(proc.stdout)
        assert addr, "the host did not print its address"
        yield proc, addr
    finally:
        with trio.CancelScope(shield=True):
            await reap(proc)


async def stderr_after_exit(proc: trio.Process) -> str:
    """Everything a host wrote to stderr, once it exited cleanly."""
    assert await proc.wait() == 0, "the host did not exit cleanly on shutdown"
    assert proc.stderr is not None
    return (await read_until_eof(proc.stderr)).decode(errors="replace")


DRAIN_CLIENT = """
import functools, os, sys, trio
from meshtrio._addr import ChannelAddr
from meshtrio._messages import Drain
from meshtrio._transport import endpoints as net

async def main():
    async with trio.open_nursery() as nursery:
        connect = functools.partial(
            net.connect, ChannelAddr.parse(sys.argv[1]), token=os.environ["MESHTRIO_TOKEN"],
            max_size=1 << 20, timeout=5.0,
        )
        peer = await nursery.start(connect)
        await peer.call(Drain(None, 1.0, 4), timeout=60.0)

trio.run(main)
"""
"""A client (its own process) that asks for a full drain with a 1 s grace and waits."""


# -- HA-5: out-of-range and deeply nested config values ------------------------------------------
async def test_ha5_an_out_of_range_config_value_from_a_peer_does_not_kill_the_agent() -> None:
    """HA-5, CF-1. Reproduces: a pushed ``mesh_tail_log_lines=2**63`` made the launcher's
    stderr-tail deque raise OverflowError in the proc's supervising task, which killed the
    host agent (exit 1). Now both a SpawnProcs carrying it and a SetClientConfig of it get an
    error reply naming the key, the host keeps serving, and ``configured()`` refuses it."""
    huge = 2**63
    with no_leaked_processes(), trio.fail_after(20):
        async with hand_started_hosts(1, token=TOKEN) as (host,):
            async with trio.open_nursery() as nursery:
                peer = await connect(nursery, host.addr, token=TOKEN)
                bad_spawn = spawn_request("huge-tail", {"mesh_tail_log_lines": huge})
                with pytest.raises(RemoteError, match="mesh_tail_log_lines"):
                    await peer.call(bad_spawn, timeout=10.0)
                with pytest.raises(RemoteError, match="mesh_tail_log_lines"):
                    await peer.call(SetClientConfig({"mesh_tail_log_lines": huge}), timeout=5.0)
                info = await peer.call(GetInfo(), timeout=5.0)
                assert isinstance(info, HostInfoReply)
                assert (info.state, info.proc_count) == ("serving", 0)
                assert info.config["mesh_tail_log_lines"] == (100, "Default"), info.config
                nursery.cancel_scope.cancel()
            assert host.proc.returncode is None, "HA-5: the host agent process died"
            async with meshtrio.attach([host.addr], token=TOKEN) as mesh:
                await spawn_one_and_check(mesh, "after-huge")
                await mesh.shutdown()  # leaving an attach block leaves the host serving
            assert await host.proc.wait() == 0, "the host did not exit cleanly on shutdown"
    # CF-1: the client refuses it where it enters, so no host ever sees it from meshtrio.
    with (
        pytest.raises(ConfigError, match="mesh_tail_log_lines"),
        config.configured(mesh_tail_log_lines=huge),
    ):
        pytest.fail("CF-1: configured() accepted mesh_tail_log_lines=2**63")


async def test_ha5_a_deeply_nested_config_value_is_refused_at_decode() -> None:
    """HA-5, CF-2. Reproduces: a SpawnProcs whose config held a list nested 500 deep under an
    unknown key killed the host agent with RecursionError. Now it (packed by hand: the
    client-side validator refuses to build it) gets an ERROR reply, the connection stays
    usable and the host keeps serving; an unknown but well-formed key is accepted and named
    in a ``config_ignored`` event."""
    deep: Any = 0
    for _ in range(500):
        deep = [deep]
    body = {
        "proc_mesh_id": str(ProcMeshId.instance("deep")),
        "host_mesh_id": "hosts",
        "host_rank": 0,
        "num_per_host": 1,
        "config": {"from_the_future": deep},
        "commands": [None],
        "proc_bind": None,
    }
    with no_leaked_processes(), trio.fail_after(20):
        async with hand_started_hosts(1, token=TOKEN) as (host,):
            async with raw_ws(host.addr) as ws:
                for corr, name, payload in (
                    (1, "SpawnProcs", body),
                    (2, "SetClientConfig", {"config": {"from_the_future": deep}}),
                ):
                    await ws.send_message(msgpack.packb([0, corr, name, payload]))
                    env = await ws_outcome(ws, corr)
                    assert env.kind is EnvelopeKind.ERROR, f"HA-5: {name} was accepted: {env}"
                    assert isinstance(env.body, WireError)
                    assert "from_the_future" in env.body.message, env.body
                served = await ws_call(ws, 3, GetInfo())
                assert served.kind is EnvelopeKind.REPLY, "the connection is not usable any more"
                assert isinstance(served.body, HostInfoReply)
                assert (served.body.state, served.body.proc_count) == ("serving", 0)
                ack = await ws_call(ws, 4, SetClientConfig({"from_the_future": 1}))
                assert (ack.kind, ack.body) == (EnvelopeKind.REPLY, Ack()), ack
                info = (await ws_call(ws, 5, GetInfo())).body
                assert isinstance(info, HostInfoReply)
                ignored = [e.detail for e in info.events if e.kind == "config_ignored"]
                assert ignored == ["unknown keys: from_the_future"], info.events
                assert "from_the_future" not in info.config
                assert host.proc.returncode is None, "HA-5: the host agent process died"
                assert (await ws_call(ws, 6, Shutdown(5.0, 4))).kind is EnvelopeKind.REPLY
            assert await host.proc.wait() == 0, "the host did not exit cleanly on shutdown"


# -- HA-6: a drain outlives its client -----------------------------------------------------------
async def test_ha6_a_client_killed_mid_drain_leaves_the_host_serving() -> None:
    """HA-6. Reproduces: a client SIGKILLed during phase 1 of shutdown (its Drain still
    running) left the host ``draining`` forever, refusing every spawn. Here the drain is made
    slow by a SIGSTOPped proc (only the ladder's SIGKILL ends it); the drain goes on without
    its client, ends, and the host is ``serving`` again and spawns."""
    with no_leaked_processes(), trio.fail_after(30):
        async with hand_started_hosts(1, token=TOKEN) as (host,):
            with config.configured(mesh_terminate_timeout="1s"):
                async with meshtrio.attach([host.addr], token=TOKEN) as mesh:
                    procs = await mesh.spawn("frozen", {"procs": 1})
                    (state,) = (await procs.states()).values()
                    assert state.pid is not None
                    pid = state.pid
                    os.kill(pid, signal.SIGSTOP)
                    try:
                        client = await trio.lowlevel.open_process(
                            [PY, "-c", DRAIN_CLIENT, host.addr], env=host_env(TOKEN)
                        )
                        try:
                            await wait_for_event(mesh, "drain_begin", 1)
                        finally:
                            client.kill()
                            await client.wait()
                        assert client.returncode == -signal.SIGKILL
                        await wait_for_event(mesh, "proc_exit", 1)  # the ladder's SIGKILL
                        with trio.move_on_after(5):  # the drain's last step follows at once
                            await wait_for_event(mesh, "drain_end", 1)
                        info = await only_info(mesh)
                        assert info.state == "serving", (
                            f"HA-6: host is {info.state!r} after its drain's client died; "
                            f"events: {[e.kind for e in info.events]}"
                        )
                        assert not alive(pid), "the SIGSTOPped proc was not reaped"
                        (gone,) = (await procs.states()).values()
                        assert gone.signal == signal.SIGKILL, gone
                    finally:
                        if alive(pid):
                            with suppress(ProcessLookupError):
                                os.kill(pid, signal.SIGCONT)
                    await spawn_one_and_check(mesh, "after-drain")
                    await mesh.shutdown()
            assert await host.proc.wait() == 0, "the host did not exit cleanly on shutdown"


# -- HA-7: a proc credential cannot drive its host ----------------------------------------------
async def test_ha7_a_proc_credential_cannot_drive_its_host(tmp_path: Path) -> None:
    """HA-7, AU-1. Reproduces: procs were handed the client token itself, so any proc could
    spawn, stop, drain or shut down its host, or say hello for another proc. Now a proc sees
    only its own credential (``MESHTRIO_PROC_TOKEN``; ``MESHTRIO_TOKEN`` is removed), which
    is refused for every client request and for another proc's hello, and a forged one is
    refused at the handshake."""
    recorder = BootstrapCommand(
        "sh", ("-c", 'env > "$1/env.$$"; exec "$0" -m meshtrio proc', PY, str(tmp_path))
    )
    with no_leaked_processes(), trio.fail_after(30):
        async with hand_started_hosts(1, token=TOKEN) as (host,):
            assert process_env(host.proc.pid).get("MESHTRIO_TOKEN") == TOKEN
            async with meshtrio.attach([host.addr], token=TOKEN) as mesh:
                recorded = await mesh.with_bootstrap(recorder).spawn("recorded", {"procs": 2})
                other = await mesh.spawn("other", {"procs": 1})
                states = (await recorded.states()).values()
                envs = [read_env_file(tmp_path / f"env.{s.pid}") for s in states]
                for env in envs:
                    assert "MESHTRIO_PROC_TOKEN" in env, "HA-7: no proc credential"
                    assert "MESHTRIO_TOKEN" not in env, "HA-7: a proc holds the client token"
                cred = envs[0]["MESHTRIO_PROC_TOKEN"]
                assert cred != TOKEN
                assert cred != envs[1]["MESHTRIO_PROC_TOKEN"], "one credential per proc"

                with pytest.raises(ConfigPushError, match="SetClientConfig"):
                    async with meshtrio.attach([host.addr], token=cred):
                        pytest.fail("HA-7: a proc credential attached as a client")
                other_id = other.id
                refused = [
                    Shutdown(5.0, 4),
                    Drain(None, 5.0, 4),
                    StopProcMesh(other_id, "by a proc", 1.0, 4),
                    spawn_request("by-a-proc", {}),
                    GetInfo(),
                    GetProcStates(other_id),
                    GetProcMeshConfigs(other_id, 1.0),
                    SetClientConfig({}),
                    ProcHello(ProcId.parse(states[1].proc_id), os.getpid()),
                ]
                async with trio.open_nursery() as nursery:
                    peer = await connect(nursery, host.addr, token=cred)
                    for request in refused:
                        with pytest.raises(RemoteError) as info:
                            await peer.call(request, timeout=5.0)
                        assert info.value.kind == "AuthRejectedError", (request, info.value)
                    nursery.cancel_scope.cancel()

                mac_at = cred.rindex(".") + 2  # inside the MAC, not its last (padding) char
                flipped = "A" if cred[mac_at] != "A" else "B"
                forged = [
                    cred[:mac_at] + flipped + cred[mac_at + 1 :],
                    cred.rsplit(".", 1)[0] + ".Z2FyYmFnZQ",
                    envs[1]["MESHTRIO_PROC_TOKEN"].rsplit(".", 1)[0] + ".!!not-base64!!",
                ]
                for token in forged:
                    async with trio.open_nursery() as nursery:
                        with pytest.raises(AuthRejectedError):
                            await connect(nursery, host.addr, token=token)

                for mesh_states in (await recorded.states(), await other.states()):
                    kinds = [s.status.kind for s in mesh_states.values()]
                    assert kinds == [StatusKind.RUNNING] * len(kinds), kinds
                dump = await recorded.config_dump()  # the procs' own connections still work
                assert [bool(d) for d in dump.values()] == [True, True], dump
                info = await only_info(mesh)
                assert (info.state, info.proc_count) == ("serving", 3)
                await mesh.shutdown()
            assert await host.proc.wait() == 0, "the host did not exit cleanly on shutdown"


# -- the insecure-bind warning ------------------------------------------------------------------
async def test_insecure_bind_warns() -> None:
    """Reproduces: a host listening on 0.0.0.0 (plaintext, token on the wire) said nothing.
    Now, allowed with ``--insecure`` (without it, it refuses: see test_tls.py), it prints a
    WARNING on stderr and records an ``insecure_bind`` event; a loopback host does neither.
    Only 127.0.0.1 is ever connected to."""
    with no_leaked_processes(), trio.fail_after(20):
        async with host_with_stderr("tcp:0.0.0.0:0", "--insecure") as (wide, printed):
            bound = ChannelAddr.parse(printed)
            assert bound.host == "0.0.0.0", printed
            async with meshtrio.attach([f"tcp:127.0.0.1:{bound.port}"], token=TOKEN) as mesh:
                info = await only_info(mesh)
                assert [e.kind for e in info.events].count("insecure_bind") == 1, info.events
                await mesh.shutdown()
            err = await stderr_after_exit(wide)
            warnings = [line for line in err.splitlines() if "WARNING" in line]
            assert warnings, f"no WARNING on stderr: {err!r}"
            assert "plaintext" in warnings[0], warnings
            assert "0.0.0.0" in warnings[0], warnings
        async with host_with_stderr("tcp:127.0.0.1:0") as (loop, addr):
            async with meshtrio.attach([addr], token=TOKEN) as mesh:
                info = await only_info(mesh)
                assert "insecure_bind" not in [e.kind for e in info.events], info.events
                await mesh.shutdown()
            err = await stderr_after_exit(loop)
            assert "WARNING" not in err, err
            assert "plaintext" not in err, err


# -- states() says why a host cannot be asked -----------------------------------------------------
async def test_states_says_why_a_host_cannot_be_asked() -> None:
    """Reproduces: after a host process died, ``states()`` reported its ranks as
    ``Timeout(60s)`` (``get_proc_state_max_idle``), though nothing timed out: the connection
    was refused or lost, and the caller could not tell a dead host from a slow one. Now it
    returns at once, the dead host's ranks read ``Unknown`` with the refusal or lost
    connection as ``error``, and the live host's ranks read Running."""
    assert config.get(config.GET_PROC_STATE_MAX_IDLE) == 60.0
    with no_leaked_processes(), trio.fail_after(12):
        async with hand_started_hosts(2, token=TOKEN) as hosts:
            async with meshtrio.attach([h.addr for h in hosts], token=TOKEN) as mesh:
                procs = await mesh.spawn("workers", {"procs": 1})
                hosts[1].proc.kill()
                await hosts[1].proc.wait()
                start = trio.current_time()
                with trio.fail_after(5):
                    states = (await procs.states()).values()
                assert trio.current_time() - start < 5
                live = [s for s in states if s.host_rank == 0]
                dead = [s for s in states if s.host_rank == 1]
                assert [s.status.kind for s in live] == [StatusKind.RUNNING], live
                assert [s.status.kind for s in dead] == [StatusKind.UNKNOWN], dead
                error = getattr(dead[0], "error", None)
                assert error is not None, "no reason given for the dead host's ranks"
                # refused (the pool saw the reset and reconnected) or lost (it was mid-call)
                assert re.match(r"(HostUnreachableError|ConnectionLostError): ", error), error
                assert hosts[1].addr in error, error
                assert "Timeout" not in error, error
                with pytest.raises(ShutdownError) as failed:
                    await mesh.shutdown()
                assert [f.address for f in failed.value.failures] == [hosts[1].addr]
            assert await hosts[0].proc.wait() == 0, "host 0 did not exit cleanly on shutdown"
