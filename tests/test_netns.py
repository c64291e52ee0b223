"""Hosts on a real network: host agents in Linux network namespaces, partitioned and healed.

Each test run makes its own namespaces (``mtns-<pid>-<i>``), one per host agent, each joined
to the client's (root) namespace by a veth pair whose host-side address exists only inside
that namespace (a /30 of 10.247.0.0/16 chosen per run). A host agent process runs in each
(``ip netns exec ... python -m meshtrio host --listen tcp:0.0.0.0:0``, over TCP with
``--insecure`` or over TLS with a certificate naming the namespace addresses), so its procs
listen on the wildcard inside the namespace too: the client reaches them only because it
reads a wildcard proc address as the address it reached their host at (PR-3).

Then one host is partitioned (its veth link is brought down in the client's namespace) and
the test checks: a request to it fails with a per-host typed error within the configured
bound (``request_timeout``; requests already on its connection within ``tcp_user_timeout``,
TR-6), the other host is unaffected (info, actor calls), the shutdown report names it, and
after the link is back a new attach to it works.

Namespaces, links and processes are removed whatever happens (the fixture's finalizer; stale
ones of a crashed earlier run, whose pid is gone, are removed first), and the test checks that
none is left. Needs root and ``ip`` (iproute2); otherwise every test here skips saying which.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import attrs
import pytest
import trio
import trustme
from hosts import host_env, read_first_line, reap

import meshtrio
from meshtrio import (
    Actor,
    ChannelAddr,
    HostsError,
    MeshError,
    ShutdownError,
    TLSConfig,
    endpoint,
)
from meshtrio.testing import alive, no_leaked_processes

pytestmark = [pytest.mark.netns, pytest.mark.processes]

TOKEN = "netns-test-token"
LIMIT = 45
"""Seconds one test may take at most (real clock)."""

PREFIX = "mtns-"
"""Namespaces made here are called ``mtns-<pid of the test process>-<i>``."""

BOUND = 2.0
"""The configured bound of the test: request_timeout, connect_timeout, tcp_user_timeout."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=10)


def _why_not() -> str | None:
    """Why these tests cannot run here (None: they can)."""
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "needs root: it creates network namespaces and veth pairs"
    if shutil.which("ip") is None:
        return "needs the ip command: install iproute2 (apt-get install iproute2)"
    probe = f"{PREFIX}{os.getpid()}-probe"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot create a network namespace here: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


def _ours() -> list[str]:
    """Every namespace made by this module (by any run)."""
    listed = _ip("netns", "list", check=False).stdout.split("\n")
    return [line.split()[0] for line in listed if line.startswith(PREFIX)]


def _remove(ns: str) -> None:
    """Kill everything in ``ns`` and delete it (deleting it deletes its veth pair too)."""
    for pid in _ip("netns", "pids", ns, check=False).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    _ip("netns", "del", ns, check=False)


def _remove_stale() -> None:
    """Namespaces of earlier runs whose test process is gone (a crash, a kill -9)."""
    for ns in _ours():
        pid = ns[len(PREFIX) :].split("-")[0]
        if pid.isdigit() and not alive(int(pid)):
            _remove(ns)


@attrs.frozen
class Site:
    """One namespace and its link to the client's namespace."""

    ns: str
    link: str  # the veth end in the client's namespace
    host_ip: str  # the address inside the namespace (exists only there)


@attrs.define
class Network:
    sites: list[Site]

    def partition(self, i: int) -> None:
        """Cut host ``i`` off: its link goes down (no route, packets in flight are lost)."""
        _ip("link", "set", self.sites[i].link, "down")

    def heal(self, i: int) -> None:
        _ip("link", "set", self.sites[i].link, "up")


def _free_subnet() -> int:
    """A third octet k such that 10.247.k.0/24 is used by no address here."""
    used = _ip("-4", "addr", check=False).stdout
    for _ in range(100):
        k = random.randrange(0, 250)
        if f"10.247.{k}." not in used and f"10.247.{k + 1}." not in used:
            return k
    raise AssertionError("no free 10.247.k.0/24 subnet")


def _build(n: int, net: Network) -> None:
    """Add ``n`` sites to ``net``, each recorded before it is made (the finalizer removes
    what a failure leaves half made)."""
    pid = os.getpid()
    k = _free_subnet()
    sites = net.sites
    for i in range(n):
        ns, link, inner = f"{PREFIX}{pid}-{i}", f"mt{pid}r{i}", f"mt{pid}n{i}"
        client_ip, host_ip = f"10.247.{k + i}.1", f"10.247.{k + i}.2"
        sites.append(Site(ns, link, host_ip))  # recorded first: the finalizer removes it
        _ip("netns", "add", ns)
        _ip("link", "add", link, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", ns)
        _ip("addr", "add", f"{client_ip}/30", "dev", link)
        _ip("link", "set", link, "up")
        _ip("-n", ns, "addr", "add", f"{host_ip}/30", "dev", inner)
        _ip("-n", ns, "link", "set", inner, "up")
        _ip("-n", ns, "link", "set", "lo", "up")


@pytest.fixture
def network() -> Iterator[Network]:
    """Two namespaces with a veth link each; removed (and checked gone) at the end."""
    why = _why_not()
    if why is not None:
        pytest.skip(why)
    _remove_stale()
    net = Network([])
    try:
        _build(2, net)
        yield net
    finally:
        for site in net.sites:
            _remove(site.ns)
            _ip("link", "del", site.link, check=False)  # gone with the namespace, normally
        mine = [ns for ns in _ours() if ns.startswith(f"{PREFIX}{os.getpid()}-")]
        assert not mine, f"namespaces left behind: {mine}"
        links = _ip("-o", "link", check=False).stdout
        assert f"mt{os.getpid()}r" not in links, "veth links left behind"


class Pinger(Actor):
    @endpoint
    def where(self) -> str:
        return meshtrio.context().proc_id


@attrs.define
class NsHost:
    proc: trio.Process
    addr: ChannelAddr


@asynccontextmanager
async def hosts_in(net: Network, args: list[str]) -> AsyncIterator[list[NsHost]]:
    """One ``meshtrio host`` process per namespace, listening on the wildcard there; killed
    and reaped at the end if still running."""
    procs: list[trio.Process] = []
    try:
        hosts = []
        for site in net.sites:
            argv = ["ip", "netns", "exec", site.ns, sys.executable, "-m", "meshtrio", "host"]
            proc = await trio.lowlevel.open_process(
                [*argv, "--listen", "tcp:0.0.0.0:0", *args],
                env=host_env(TOKEN),
                stdout=subprocess.PIPE,
            )
            procs.append(proc)
            assert proc.stdout is not None
            bound = ChannelAddr.parse(await read_first_line(proc.stdout))
            hosts.append(NsHost(proc, ChannelAddr.tcp(site.host_ip, bound.port or 0)))
        yield hosts
    finally:
        with trio.CancelScope(shield=True):
            for proc in procs:
                await reap(proc)


@pytest.mark.parametrize("mode", ["tcp", "tls"])
async def test_partitioned_host_fails_alone_and_comes_back(
    network: Network, mode: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    args, tls = ["--insecure"], None
    if mode == "tls":
        d = tmp_path_factory.mktemp("pki")
        ca = trustme.CA()
        ips = [s.host_ip for s in network.sites]
        ca.issue_cert(*ips).private_key_and_cert_chain_pem.write_to_path(str(d / "host.pem"))
        ca.cert_pem.write_to_path(str(d / "ca.pem"))
        args = ["--tls-cert", str(d / "host.pem"), "--tls-key", str(d / "host.pem")]
        tls = TLSConfig(ca=str(d / "ca.pem"))
    bounds = {"request_timeout": BOUND, "connect_timeout": BOUND, "tcp_user_timeout": BOUND}
    with no_leaked_processes(), trio.fail_after(LIMIT), meshtrio.config.configured(**bounds):
        async with hosts_in(network, args) as hosts:
            addrs = [h.addr for h in hosts]
            async with meshtrio.attach(addrs, token=TOKEN, tls=tls) as mesh:
                procs = await mesh.spawn("p", {"gpus": 1}, on_failure="log")
                for ref, addr in zip(procs.procs, addrs, strict=True):
                    assert ref.address is not None
                    assert ref.address.host == addr.host, "PR-3: reached at the host's address"
                pingers = await procs.spawn("pinger", Pinger)
                assert len((await pingers.where.call()).values()) == 2

                network.partition(1)
                # A request to the cut host fails, typed and per host, within the bound; the
                # other host answers.
                started = trio.current_time()
                with pytest.raises(HostsError) as info:
                    await mesh.info()
                assert trio.current_time() - started < BOUND + 1.5
                assert [f.address for f in info.value.failures] == [str(addrs[1])]
                assert info.value.failures[0].kind in ("timeout", "connection_lost"), info.value
                async with meshtrio.attach([addrs[0]], token=TOKEN, tls=tls) as other:
                    (up,) = (await other.info()).values()
                    assert up.proc_count == 1, up
                # Actor calls: the proc behind the cut fails, the other one answers.
                assert await pingers.slice(hosts=0).where.call_one()
                started = trio.current_time()
                with pytest.raises(MeshError):
                    await pingers.slice(hosts=1).where.call_one()
                assert trio.current_time() - started < 2 * BOUND + 1.5
                # Shutdown ends host 0 and reports host 1.
                with pytest.raises(ShutdownError) as down:
                    await mesh.shutdown()
                assert [f.address for f in down.value.failures] == [str(addrs[1])]
            assert await hosts[0].proc.wait() == 0

            network.heal(1)
            async with meshtrio.attach([addrs[1]], token=TOKEN, tls=tls) as again:
                (back,) = (await again.info()).values()
                assert back.proc_count == 1, back  # its proc outlived the partition
                await again.shutdown()
            assert await hosts[1].proc.wait() == 0


def test_skip_reasons_say_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without root, or without ``ip``, the tests skip saying exactly that (never silently)."""
    if not sys.platform.startswith("linux"):
        assert _why_not() == "network namespaces need Linux"
        return
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "needs root" in (_why_not() or "")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    assert "iproute2" in (_why_not() or "")


def test_a_network_half_built_is_still_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure while the namespaces are made leaves every one made so far recorded in the
    fixture's network, so its finalizer removes them (they were lost with the exception)."""
    calls: list[tuple[str, ...]] = []

    def fake_ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        calls.append(args)
        if args[:2] == ("link", "add") and sum(c[:2] == ("link", "add") for c in calls) == 2:
            raise subprocess.CalledProcessError(2, ["ip", *args])
        return subprocess.CompletedProcess(["ip", *args], 0, "", "")

    monkeypatch.setattr(sys.modules[__name__], "_ip", fake_ip)
    net = Network([])
    with pytest.raises(subprocess.CalledProcessError):
        _build(2, net)
    made = [c[2] for c in calls if c[:2] == ("netns", "add")]
    assert (
        [site.ns for site in net.sites]
        == made
        == [f"{PREFIX}{os.getpid()}-0", f"{PREFIX}{os.getpid()}-1"]
    )
