"""Rendezvous through a directory (RV-1..RV-5) and hosts that exit without a client (HO-1, HO-2).

The file-level tests write announcements directly; the process tests start
``python -m meshtrio host --announce DIR`` as a scheduler would, attach from a client process
found through :func:`meshtrio.hosts_from_dir`, and SIGKILL that client.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import trio
import trio.testing
from hosts import HOST_ARGV, host_env, read_first_line

import meshtrio
from meshtrio import ChannelAddr, serve_host_agent
from meshtrio._pool import ConnectionPool
from meshtrio._rendezvous import (
    MAX_ANNOUNCEMENT_BYTES,
    Announcement,
    announce,
    read_announcements,
    withdraw,
)
from meshtrio.errors import BadAnnouncementError, InputError, RendezvousTimeoutError
from meshtrio.testing import alive, descendants, no_leaked_processes

TOKEN = "rendezvous-test-token-0123456789"


def write(folder: Path, name: str, addr: str, *, host: str = "n", pid: int = 1, rank=None) -> None:
    """Write one announcement file as a host would (content only; atomicity is RV-1's test)."""
    ann = Announcement(ChannelAddr.parse(addr), host, pid, rank, 0.0)
    (folder / name).write_text(ann.to_json())


# -- the files --------------------------------------------------------------------------------
def test_rv1_announce_writes_one_whole_file(tmp_path: Path) -> None:
    """announce leaves exactly one complete file named by host and pid (no temp file behind),
    holding the address, pid and rank; withdraw removes it, twice is fine."""
    path = announce(tmp_path / "d", ChannelAddr.parse("tcp:127.0.0.1:4000"), rank=2)
    assert [p.name for p in (tmp_path / "d").iterdir()] == [path.name], "RV-1: a temp file left"
    assert path.name.endswith(f"-{os.getpid()}.json")
    data = json.loads(path.read_text())
    assert data["address"] == "tcp:127.0.0.1:4000"
    assert data["rank"] == 2
    assert data["pid"] == os.getpid()
    withdraw(path)
    withdraw(path)
    assert list((tmp_path / "d").iterdir()) == []


@pytest.mark.parametrize("addr", ["tcp:0.0.0.0:4000", "tcp:[::]:4000", "local:3"])
def test_rv_announce_refuses_addresses_no_client_can_reach(tmp_path: Path, addr: str) -> None:
    """A wildcard or in-process address is refused before anything is written."""
    with pytest.raises(InputError, match="cannot announce"):
        announce(tmp_path, ChannelAddr.parse(addr), rank=None)
    assert list(tmp_path.iterdir()) == []


def test_rv3_order_is_by_rank_then_hostname_whatever_the_file_names(tmp_path: Path) -> None:
    """Ranked hosts come first by rank, then unranked ones by host name and pid; hidden temp
    files and other names are skipped."""
    write(tmp_path, "a.json", "tcp:127.0.0.1:5", host="zeta", pid=9)
    write(tmp_path, "b.json", "tcp:127.0.0.1:4", host="alpha", pid=8)
    write(tmp_path, "c.json", "tcp:127.0.0.1:3", host="x", rank=1)
    write(tmp_path, "d.json", "tcp:127.0.0.1:2", host="y", rank=0)
    (tmp_path / ".e.json.1234.tmp").write_text("{half")
    (tmp_path / "notes.txt").write_text("not an announcement")
    found = read_announcements(tmp_path)
    assert [str(a.address) for a in found] == [
        "tcp:127.0.0.1:2",
        "tcp:127.0.0.1:3",
        "tcp:127.0.0.1:4",
        "tcp:127.0.0.1:5",
    ], "RV-3"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{half", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"meshtrio_announcement": 2}', "version 1"),
        (
            '{"meshtrio_announcement": 1, "address": "tcp:0.0.0.0:1", "hostname": "h", '
            '"pid": 1, "rank": null, "started_at": 0}',
            "wildcard",
        ),
        (
            '{"meshtrio_announcement": 1, "address": "tcp:host:1", "hostname": "h", '
            '"pid": 1, "rank": null, "started_at": 0}',
            "tcp host",
        ),
        (
            '{"meshtrio_announcement": 1, "address": "tcp:127.0.0.1:1", "hostname": "h", '
            '"pid": true, "rank": -1, "started_at": 0}',
            "pid must be",
        ),
        ("x" * (MAX_ANNOUNCEMENT_BYTES + 1), "larger than"),
        ("\udcff", "not UTF-8"),
    ],
)
def test_rv_bad_files_are_a_typed_error_naming_the_file(
    tmp_path: Path, content: str, match: str
) -> None:
    """A file that is not a valid announcement is a BadAnnouncementError naming its path."""
    bad = tmp_path / "bad.json"
    bad.write_bytes(content.encode("utf-8", "surrogateescape"))  # "\udcff": the byte 0xff
    with pytest.raises(BadAnnouncementError, match=match) as info:
        read_announcements(tmp_path)
    assert info.value.path == str(bad)
    assert isinstance(info.value, ValueError)


def test_rv3_two_hosts_claiming_one_rank_is_an_error(tmp_path: Path) -> None:
    """Two announcements with one rank (a stale file?) are refused, naming both."""
    write(tmp_path, "a.json", "tcp:127.0.0.1:5", host="a", rank=0)
    write(tmp_path, "b.json", "tcp:127.0.0.1:6", host="b", rank=0)
    with pytest.raises(BadAnnouncementError, match=r"rank 0 is claimed by a .* and by b"):
        read_announcements(tmp_path)


def test_rv_errors_pickle_with_their_details() -> None:
    """The rendezvous errors keep their message and attributes through pickle."""
    err = RendezvousTimeoutError("m", directory="/d", expected=3, found=["tcp:127.0.0.1:1"])
    back = pickle.loads(pickle.dumps(err))
    assert (str(back), back.directory, back.expected, back.found) == (
        "m",
        "/d",
        3,
        ("tcp:127.0.0.1:1",),
    )
    assert pickle.loads(pickle.dumps(BadAnnouncementError("b", path="/p"))).path == "/p"


# -- waiting ----------------------------------------------------------------------------------
async def test_rv4_hosts_from_dir_waits_for_the_expected_count(tmp_path: Path) -> None:
    """It waits while too few hosts announced (the directory need not exist yet), and returns
    their addresses in RV-3 order once all are there."""
    folder = tmp_path / "later"
    result: list[ChannelAddr] = []
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:

            async def wait() -> None:
                result.extend(await meshtrio.hosts_from_dir(folder, expect=2, poll_interval=0.01))

            nursery.start_soon(wait)
            await trio.testing.wait_all_tasks_blocked()
            folder.mkdir()
            write(folder, "b.json", "tcp:127.0.0.1:7", host="b", rank=1)
            await trio.testing.wait_all_tasks_blocked()
            assert result == [], "RV-4: returned with one of two hosts"
            write(folder, "a.json", "tcp:127.0.0.1:8", host="a", rank=0)
    assert [str(a) for a in result] == ["tcp:127.0.0.1:8", "tcp:127.0.0.1:7"]


async def test_rv4_timeout_names_how_many_were_found(tmp_path: Path) -> None:
    """Too few hosts within the timeout: RendezvousTimeoutError (a TimeoutError) saying how
    many were found, and which, in about the timeout."""
    write(tmp_path, "a.json", "tcp:127.0.0.1:9", host="a")
    start = trio.current_time()
    with trio.fail_after(5), pytest.raises(RendezvousTimeoutError) as info:
        await meshtrio.hosts_from_dir(tmp_path, expect=3, timeout=0.3, poll_interval=0.05)
    assert 0.3 <= trio.current_time() - start < 2
    err = info.value
    assert isinstance(err, TimeoutError)
    assert "for 3 hosts" in str(err)
    assert "found 1: tcp:127.0.0.1:9" in str(err)
    assert (err.expected, err.found, err.directory) == (3, ("tcp:127.0.0.1:9",), str(tmp_path))


async def test_rv_more_hosts_than_expected_is_an_error(tmp_path: Path) -> None:
    """More announcements than expected (stale files of an earlier job) fail at once."""
    write(tmp_path, "a.json", "tcp:127.0.0.1:1", host="a", pid=1)
    write(tmp_path, "b.json", "tcp:127.0.0.1:2", host="b", pid=2)
    with trio.fail_after(5), pytest.raises(BadAnnouncementError, match="2 hosts announced, 1"):
        await meshtrio.hosts_from_dir(tmp_path, expect=1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"expect": 0},
        {"expect": True},
        {"expect": 1, "timeout": -1},
        {"expect": 1, "poll_interval": 0},
    ],
)
async def test_rv_bad_arguments_are_input_errors(tmp_path: Path, kwargs: dict) -> None:
    """expect, timeout and poll_interval out of range are refused before any wait."""
    with pytest.raises(InputError):
        await meshtrio.hosts_from_dir(tmp_path, **kwargs)


# -- HO-1, HO-2 in one process ----------------------------------------------------------------
async def test_ho1_host_nobody_attaches_to_exits_after_the_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A host with an orphan timeout and no client ever returns after that timeout."""
    start = trio.current_time()
    with trio.fail_after(100):
        async with trio.open_nursery() as nursery:
            await nursery.start(
                lambda task_status: serve_host_agent(
                    "local:0",
                    token=TOKEN,
                    orphan_timeout=30,
                    in_process_procs=True,  # no zygote: a real process under a mock clock
                    task_status=task_status,
                )
            )
    assert 30 <= trio.current_time() - start < 31, "HO-1"


async def test_ho2_a_connected_client_keeps_the_host_then_ho1_when_it_leaves(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """An open client connection keeps the host however idle; the host exits the timeout
    after the connection closes; a host without an orphan timeout would not."""
    with trio.fail_after(1000):
        async with trio.open_nursery() as nursery:
            ended = trio.Event()

            async def host(task_status: trio.TaskStatus[ChannelAddr]) -> None:
                await serve_host_agent(
                    "local:0",
                    token=TOKEN,
                    orphan_timeout=10,
                    in_process_procs=True,  # no zygote: a real process under a mock clock
                    task_status=task_status,
                )
                ended.set()

            addr = await nursery.start(host)
            async with trio.open_nursery() as conns:
                pool = ConnectionPool(conns, TOKEN)
                await pool.peer(addr)
                await trio.sleep(500)
                assert not ended.is_set(), "HO-2: a host left a connected client"
                await pool.aclose()
                conns.cancel_scope.cancel()
            left = trio.current_time()
            await ended.wait()
            assert 10 <= trio.current_time() - left < 11, "HO-1"


# -- processes --------------------------------------------------------------------------------
CLIENT = textwrap.dedent(
    """
    import sys, trio, meshtrio

    async def main():
        addrs = await meshtrio.hosts_from_dir(sys.argv[1], expect=1, timeout=20)
        async with meshtrio.attach(addrs) as mesh:
            procs = await mesh.spawn("workers", {"procs": 1})
            print("ready", *(p.pid for p in (await procs.states()).values()), flush=True)
            await trio.sleep_forever()

    trio.run(main)
    """
)


async def _wait_exit(proc: trio.Process, bound: float) -> int:
    with trio.fail_after(bound):
        return await proc.wait()


@pytest.mark.processes
async def test_ho1_rv2_announced_host_exits_after_its_client_is_sigkilled(
    tmp_path: Path,
) -> None:
    """A client found the host through the directory (whose file holds no token), spawned a
    proc and was SIGKILLed: the host drains the proc, withdraws its announcement and exits 0
    about the orphan timeout later (RV-5, HO-1); nothing is left."""
    folder = tmp_path / "rv"
    env = host_env(TOKEN)
    argv = [*HOST_ARGV, "--announce", str(folder), "--orphan-timeout", "1s"]
    with no_leaked_processes(), trio.fail_after(40):
        host = await trio.lowlevel.open_process(argv, env=env, stdout=subprocess.PIPE)
        client = await trio.lowlevel.open_process(
            [sys.executable, "-c", CLIENT, str(folder)], env=env, stdout=subprocess.PIPE
        )
        try:
            assert host.stdout is not None
            assert client.stdout is not None
            addr = await read_first_line(host.stdout)
            line = await read_first_line(client.stdout)
            assert line.startswith("ready"), line
            [ann] = read_announcements(folder)
            assert str(ann.address) == addr
            [path] = folder.iterdir()
            assert TOKEN not in path.read_text(), "RV-2: the token is in the announcement"
            proc_pids = [int(p) for p in line.split()[1:]]
            assert set(proc_pids) <= set(descendants(host.pid))
            assert proc_pids, "the client's proc is not running under the host"
            client.kill()
            await client.wait()
            killed = trio.current_time()
            assert await _wait_exit(host, 20) == 0
            assert trio.current_time() - killed >= 1, "HO-1: exited before the timeout"
            assert not any(alive(p) for p in proc_pids), "HO-1: the proc outlived its host"
            assert list(folder.iterdir()) == [], "RV-5: the announcement was left behind"
        finally:
            for p in (host, client):
                if p.returncode is None:
                    p.kill()
                    await p.wait()
                if p.stdout is not None:
                    await p.stdout.aclose()


@pytest.mark.processes
async def test_ho1_announced_host_with_no_client_exits_and_withdraws(tmp_path: Path) -> None:
    """An announced host that no client ever attaches to exits 0 after the orphan timeout
    and removes its announcement."""
    folder = tmp_path / "rv"
    argv = [*HOST_ARGV, "--announce", str(folder), "--orphan-timeout", "0.5s"]
    with no_leaked_processes(), trio.fail_after(20):
        host = await trio.lowlevel.open_process(argv, env=host_env(TOKEN), stdout=subprocess.PIPE)
        try:
            assert host.stdout is not None
            await read_first_line(host.stdout)
            assert await _wait_exit(host, 15) == 0
            assert list(folder.iterdir()) == []
        finally:
            if host.returncode is None:
                host.kill()
                await host.wait()
            await host.stdout.aclose()  # type: ignore[union-attr]


@pytest.mark.processes
async def test_rv5_sigterm_ends_an_announced_host_and_withdraws(tmp_path: Path) -> None:
    """SIGTERM (a scheduler cancelling the job) ends an announced host gracefully: its procs
    are stopped, it exits 0 and its announcement is removed, so a client then finds none."""
    folder = tmp_path / "rv"
    argv = [*HOST_ARGV, "--announce", str(folder), "--rank", "0"]
    with no_leaked_processes(), trio.fail_after(30):
        host = await trio.lowlevel.open_process(argv, env=host_env(TOKEN), stdout=subprocess.PIPE)
        try:
            assert host.stdout is not None
            await read_first_line(host.stdout)
            [addr] = await meshtrio.hosts_from_dir(folder, expect=1, timeout=10)
            with pytest.raises(meshtrio.HostsError):  # leaving: the host is gone, it says so
                async with meshtrio.attach([addr], token=TOKEN) as mesh:
                    procs = await mesh.spawn("w", {"procs": 1}, on_failure="log")
                    pids = [s.pid for s in (await procs.states()).values() if s.pid]
                    assert pids
                    host.send_signal(signal.SIGTERM)
                    assert await _wait_exit(host, 15) == 0
            assert not any(alive(p) for p in pids), "the proc outlived its SIGTERMed host"
            assert list(folder.iterdir()) == [], "RV-5"
            with pytest.raises(RendezvousTimeoutError, match="found 0"):
                await meshtrio.hosts_from_dir(folder, expect=1, timeout=0.1)
        finally:
            if host.returncode is None:
                host.kill()
                await host.wait()
            await host.stdout.aclose()  # type: ignore[union-attr]


def test_rv_host_refuses_to_announce_a_wildcard_before_listening(tmp_path: Path) -> None:
    """``meshtrio host --listen tcp:0.0.0.0:0 --announce DIR`` fails at once, saying why,
    and writes nothing (it never listens)."""
    argv = [sys.executable, "-m", "meshtrio", "host", "--listen", "tcp:0.0.0.0:0"]
    done = subprocess.run(
        [*argv, "--announce", str(tmp_path / "rv")],
        env=host_env(TOKEN),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0
    assert "cannot announce tcp:0.0.0.0:" in done.stderr
    assert done.stdout == "", "it listened (printed an address) before refusing"
    assert not (tmp_path / "rv").exists()


def test_rv4_each_announcement_is_read_once_per_wait(tmp_path: Path) -> None:
    """With a cache (as hosts_from_dir keeps while it waits), a file already read is not
    read again: a later change to it is not seen, a new file is."""
    write(tmp_path, "a.json", "tcp:127.0.0.1:1", host="a")
    cache: dict[str, Announcement] = {}
    [first] = read_announcements(tmp_path, cache)
    write(tmp_path, "a.json", "tcp:127.0.0.1:2", host="a")
    write(tmp_path, "b.json", "tcp:127.0.0.1:3", host="b")
    assert [str(a.address) for a in read_announcements(tmp_path, cache)] == [
        "tcp:127.0.0.1:1",
        "tcp:127.0.0.1:3",
    ]
    assert set(cache) == {"a.json", "b.json"}
    assert first is cache["a.json"]
