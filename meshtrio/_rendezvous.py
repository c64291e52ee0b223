"""Rendezvous through a shared directory: hosts say where they are, a client waits for them.

A host agent started by a scheduler (``srun``, a Kubernetes pod, ...) with
``python -m meshtrio host --announce DIR`` writes one small JSON *announcement* into ``DIR``
(:func:`announce`) and removes it when it exits (:func:`withdraw`). A client calls
``await meshtrio.hosts_from_dir(DIR, expect=N)`` (:func:`hosts_from_dir`), which waits until N
announcements are there and returns their addresses, ready for :func:`meshtrio.attach`.

Why this name: Monarch's ``hosts_from_config(name)`` plays this part upstream; ``hosts_from_dir``
keeps its shape (where the hosts come *from*), says the one thing it reads, and is ``async``
because it waits (a blocking wait would stall the Trio run; a cancel abandons it at once).

An announcement holds the host's address, its host name, pid, optional rank and start time:
never the token (whoever can read the directory learns where the hosts are, not how to talk
to them). Its file is named ``<hostname>-<pid>.json``, unique per host agent process.

Why polling: the directory is usually on a filesystem shared between nodes (NFS, Lustre,
GPFS). inotify only sees changes made through the local kernel, so it never fires for a file
another node wrote over NFS, and NFS clients cache directory attributes (``acdirmin``,
``acdirmax``) so a new entry can take seconds to appear in a listing anyway. The client
therefore lists the directory every ``poll_interval`` (default 0.25 s: a few hundred cheap
``readdir`` calls a minute), which works on every filesystem; listings run in a worker
thread, since a stat on a hung NFS server blocks.

Invariants owned here:

* RV-1 (atomic): an announcement appears whole or not at all: it is written to a hidden temp
  file (``.<name>.tmp``, which readers skip) in the same directory, flushed, then renamed
  into place (``rename`` is atomic within one directory, on NFS too). So a reader never sees
  a half-written file, and a file that does not parse is an error, not a race.
* RV-2 (no secret): an announcement holds no token or credential.
* RV-3 (deterministic order): addresses come back sorted by (rank, host name, pid, address),
  hosts without a rank after those with one, so every client that reads the same directory
  gets the same order, whichever host wrote first. Two announcements claiming one rank are
  an error.
* RV-4 (bounded): :func:`hosts_from_dir` returns within ``timeout`` (plus one listing); it
  raises :class:`~meshtrio.errors.RendezvousTimeoutError` naming how many it found and
  where. Files larger than :data:`MAX_ANNOUNCEMENT_BYTES` are refused unread.
* RV-5 (withdrawn on exit): a host that exits, however it is ended short of SIGKILL or a
  machine crash, removes its own announcement; it removes only the file it wrote.

Not promised: that an announced host is still alive when the client attaches (a SIGKILLed
host leaves its file behind: use a fresh directory per job, as the SLURM and Kubernetes
recipes do; more announcements than ``expect`` is an error that says so); that the
address is reachable from the client (the host announces the address it is bound to).
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import socket
import tempfile
import time
from pathlib import Path

import attrs
import trio

from meshtrio._addr import ChannelAddr
from meshtrio._errors import (
    AddrParseError,
    BadAnnouncementError,
    InputError,
    RendezvousTimeoutError,
)

__all__ = [
    "ANNOUNCEMENT_VERSION",
    "MAX_ANNOUNCEMENT_BYTES",
    "Announcement",
    "announce",
    "check_announceable",
    "hosts_from_dir",
    "read_announcements",
    "withdraw",
]

ANNOUNCEMENT_VERSION = 1
"""The ``meshtrio_announcement`` field of the files this version writes and reads."""

MAX_ANNOUNCEMENT_BYTES = 4096
"""Largest announcement file read; a bigger one is refused unread (RV-4)."""

MAX_EXPECT = 1_000_000
"""Most hosts one rendezvous may wait for."""

SUFFIX = ".json"


@attrs.frozen
class Announcement:
    """One host agent's announcement (the content of one file in the directory).

    Attributes:
        address: where the host agent listens (give it to :func:`meshtrio.attach`).
        hostname: the machine's host name.
        pid: the host agent's process id.
        rank: the rank the scheduler gave it (``$SLURM_PROCID``, a StatefulSet ordinal), or
            None; sorts the hosts (RV-3).
        started_at: when the host agent started (seconds since the epoch).
    """

    address: ChannelAddr
    hostname: str
    pid: int
    rank: int | None
    started_at: float

    def sort_key(self) -> tuple[bool, int, str, int, str]:
        """The RV-3 order: ranked hosts first, by rank, then host name, pid, address."""
        return (
            self.rank is None,
            self.rank or 0,
            self.hostname,
            self.pid,
            str(self.address),
        )

    def to_json(self) -> str:
        """The file content."""
        return json.dumps(
            {
                "meshtrio_announcement": ANNOUNCEMENT_VERSION,
                "address": str(self.address),
                "hostname": self.hostname,
                "pid": self.pid,
                "rank": self.rank,
                "started_at": self.started_at,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str, path: str) -> Announcement:
        """Parse a file's content.

        Raises:
            BadAnnouncementError: not a version-1 announcement, a missing or mistyped field,
                an address that does not parse or is a wildcard.
        """
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise BadAnnouncementError(f"{path}: not JSON ({exc})", path=path) from None
        if not isinstance(data, dict):
            raise BadAnnouncementError(f"{path}: not a JSON object", path=path)
        version = data.get("meshtrio_announcement")
        if version != ANNOUNCEMENT_VERSION:
            raise BadAnnouncementError(
                f"{path}: not a meshtrio announcement of version {ANNOUNCEMENT_VERSION} "
                f"(meshtrio_announcement={version!r:.40})",
                path=path,
            )
        address, hostname = data.get("address"), data.get("hostname")
        pid, rank, started = data.get("pid"), data.get("rank"), data.get("started_at")
        if not isinstance(address, str) or not isinstance(hostname, str):
            raise BadAnnouncementError(f"{path}: address and hostname must be text", path=path)
        if not (isinstance(pid, int) and _is_int(pid) and pid >= 0) or not (
            rank is None or (isinstance(rank, int) and _is_int(rank) and rank >= 0)
        ):
            raise BadAnnouncementError(
                f"{path}: pid must be an int >= 0 and rank null or an int >= 0", path=path
            )
        if not isinstance(started, int | float) or isinstance(started, bool):
            raise BadAnnouncementError(f"{path}: started_at must be a number", path=path)
        try:
            addr = ChannelAddr.parse(address)
        except AddrParseError as exc:
            raise BadAnnouncementError(f"{path}: {exc}", path=path) from None
        if _is_wildcard(addr):
            raise BadAnnouncementError(
                f"{path}: {addr} is a wildcard, not an address a client can reach", path=path
            )
        return cls(addr, hostname, pid, rank, float(started))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_wildcard(addr: ChannelAddr) -> bool:
    return (
        addr.transport == "tcp"
        and addr.host is not None
        and ipaddress.ip_address(addr.host).is_unspecified
    )


def _file_name(hostname: str, pid: int) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in hostname)[:200]
    return f"{safe.lstrip('.') or 'host'}-{pid}{SUFFIX}"


def check_announceable(address: ChannelAddr) -> None:
    """Raise InputError unless a client elsewhere could use ``address`` (not a wildcard such
    as ``tcp:0.0.0.0:P``, not an in-process ``local:`` address)."""
    if address.transport == "local" or _is_wildcard(address):
        raise InputError(
            f"cannot announce {address}: a client elsewhere cannot reach it (listen on this "
            "machine's own IP address, e.g. --listen tcp:$(hostname -i):0)"
        )


def announce(directory: str | os.PathLike[str], address: ChannelAddr, *, rank: int | None) -> Path:
    """Write this process's announcement into ``directory`` atomically (RV-1); return its path.

    The directory is created if missing (mode 0700 for the parts made here).

    Raises:
        InputError: ``address`` is a wildcard (``tcp:0.0.0.0:P``: no client can use it) or
            a ``local:`` address (reachable only inside this process), or ``rank`` < 0.
        OSError: the directory cannot be created or written.
    """
    check_announceable(address)
    if rank is not None and rank < 0:
        raise InputError(f"rank must be >= 0, got {rank}")
    folder = Path(directory)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    hostname = socket.gethostname()
    pid = os.getpid()
    content = Announcement(address, hostname, pid, rank, time.time()).to_json()
    final = folder / _file_name(hostname, pid)
    fd, temp = tempfile.mkstemp(prefix="." + final.name + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, 0o644)  # no secret in it (RV-2): readable like the directory allows
        os.replace(temp, final)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    return final


def withdraw(path: Path) -> None:
    """Remove an announcement this process wrote (RV-5); a file already gone is fine."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def read_announcements(
    directory: str | os.PathLike[str], cache: dict[str, Announcement] | None = None
) -> list[Announcement]:
    """Every announcement in ``directory`` now, in RV-3 order (blocking; see hosts_from_dir).

    A missing directory holds none. Hidden files (temp files of RV-1) and names not ending
    in ``.json`` are skipped. With ``cache``, files already read (by name) are not read again
    (an announcement never changes: its host writes it once), and new ones are added to it.

    Raises:
        BadAnnouncementError: a file that is not a valid announcement, is larger than
            :data:`MAX_ANNOUNCEMENT_BYTES`, or claims a rank another one claims.
        OSError: the directory cannot be listed.
    """
    folder = Path(directory)
    found: list[Announcement] = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except FileNotFoundError:
        return []
    for entry in entries:
        if entry.name.startswith(".") or not entry.name.endswith(SUFFIX):
            continue
        if cache is not None and entry.name in cache:
            found.append(cache[entry.name])
            continue
        path = str(folder / entry.name)
        try:
            with open(path, "rb") as f:
                raw = f.read(MAX_ANNOUNCEMENT_BYTES + 1)
        except FileNotFoundError:
            continue  # withdrawn between the listing and the read
        if len(raw) > MAX_ANNOUNCEMENT_BYTES:
            raise BadAnnouncementError(
                f"{path}: larger than {MAX_ANNOUNCEMENT_BYTES} bytes: not an announcement",
                path=path,
            )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadAnnouncementError(f"{path}: not UTF-8 text", path=path) from None
        announcement = Announcement.from_json(text, path)
        if cache is not None:
            cache[entry.name] = announcement
        found.append(announcement)
    found.sort(key=Announcement.sort_key)
    ranks: dict[int, Announcement] = {}
    for a in found:
        if a.rank is None:
            continue
        other = ranks.setdefault(a.rank, a)
        if other is not a:
            raise BadAnnouncementError(
                f"{folder}: rank {a.rank} is claimed by {other.hostname} (pid {other.pid}, "
                f"{other.address}) and by {a.hostname} (pid {a.pid}, {a.address}): "
                "stale files of an earlier job? use a fresh directory per job",
                path=str(folder),
            )
    return found


async def hosts_from_dir(
    directory: str | os.PathLike[str],
    *,
    expect: int,
    timeout: float = 60.0,
    poll_interval: float = 0.25,
) -> list[ChannelAddr]:
    """Wait until ``expect`` host agents announced themselves in ``directory``; return their
    addresses in RV-3 order (by rank, then host name), ready for :func:`meshtrio.attach`.

    The directory is listed every ``poll_interval`` seconds (in a worker thread) until
    ``expect`` announcements are there; a directory that does not exist yet is waited for
    too. See the module docstring for why this polls (NFS).

    Cancelling it abandons the wait at once (a listing under way finishes in its thread).

    Args:
        directory: the directory the hosts were given with ``--announce``.
        expect: how many hosts to wait for (1 to 1,000,000).
        timeout: seconds to wait in all (default 60).
        poll_interval: seconds between listings (0.01 to 60).

    Raises:
        RendezvousTimeoutError: fewer than ``expect`` announcements after ``timeout``; it
            says how many were found (``.found`` holds their addresses).
        BadAnnouncementError: a file in the directory is not a valid announcement, two claim
            one rank, or there are more than ``expect`` (stale files of an earlier job?).
        InputError: ``expect``, ``timeout`` or ``poll_interval`` out of range.
        OSError: the directory cannot be listed.
    """
    if not _is_int(expect) or not 1 <= expect <= MAX_EXPECT:
        raise InputError(f"expect must be an int from 1 to {MAX_EXPECT}, got {expect!r}")
    if not isinstance(timeout, int | float) or not 0 <= timeout < math.inf:
        raise InputError(f"timeout must be finite seconds >= 0, got {timeout!r}")
    if not isinstance(poll_interval, int | float) or not 0.01 <= poll_interval <= 60:
        raise InputError(f"poll_interval must be 0.01 to 60 seconds, got {poll_interval!r}")
    deadline = trio.current_time() + timeout
    cache: dict[str, Announcement] = {}  # each file is read once, however long we wait
    while True:
        found: list[Announcement] = await trio.to_thread.run_sync(
            read_announcements, directory, cache, abandon_on_cancel=True
        )
        if len(found) > expect:
            raise BadAnnouncementError(
                f"{directory}: {len(found)} hosts announced, {expect} expected: stale files "
                "of an earlier job? use a fresh directory per job ("
                + ", ".join(f"{a.hostname}:{a.pid}" for a in found[:8])
                + (", ..." if len(found) > 8 else "")
                + ")",
                path=str(directory),
            )
        if len(found) == expect:
            return [a.address for a in found]
        now = trio.current_time()
        if now >= deadline:
            raise RendezvousTimeoutError(
                f"waited {timeout:g} s for {expect} hosts to announce themselves in "
                f"{directory}: found {len(found)}"
                + (": " + ", ".join(str(a.address) for a in found[:8]) if found else "")
                + (", ..." if len(found) > 8 else ""),
                directory=str(directory),
                expected=expect,
                found=[str(a.address) for a in found],
            )
        await trio.sleep(min(poll_interval, deadline - now))
