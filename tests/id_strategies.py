"""Hypothesis strategies for the value types: labels, ids, channel addresses, statuses and
bootstrap commands. Import with ``from id_strategies import ...`` (tests/ is on sys.path).
"""

from __future__ import annotations

import ipaddress
from typing import TypeVar

from hypothesis import strategies as st

from meshtrio import BootstrapCommand, ChannelAddr, HostMeshId, Label, ProcId, ProcMeshId, Status
from meshtrio._ids import B58_ALPHABET, U64_MAX, UID_B58_WIDTH
from meshtrio._status import StatusKind

__all__ = [
    "abstract_unix_addrs",
    "bootstrap_commands",
    "channel_addrs",
    "host_mesh_ids",
    "id_like_texts",
    "label_texts",
    "labels",
    "local_addrs",
    "mesh_ids",
    "proc_ids",
    "proc_mesh_ids",
    "singleton_labels",
    "statuses",
    "tcp_addrs",
    "uids",
    "unix_addrs",
    "unix_path_addrs",
]

IdT = TypeVar("IdT", HostMeshId, ProcMeshId, ProcId)


def label_texts() -> st.SearchStrategy[str]:
    """Valid label text (plain str): one char, up to the 63-char limit, and some whose last
    segment is 11 base58 characters (valid labels, but not allowed for singletons)."""
    first = st.sampled_from("abcdefghijklmnopqrstuvwxyz")
    last = st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789")
    middle = st.text("abcdefghijklmnopqrstuvwxyz0123456789_-", max_size=61)
    uid_tail = st.text("abcdefghijkmnopqrstuvwxyz123456789", min_size=11, max_size=11)
    return st.one_of(
        first,
        st.builds(lambda f, m, z: f + m + z, first, middle, last),
        st.builds(lambda f, t: f"{f}-{t}", first, uid_tail),
    )


def labels() -> st.SearchStrategy[Label]:
    """Valid :class:`Label` values."""
    return label_texts().map(Label)


def _uid_shaped_tail(label: str) -> bool:
    _, sep, tail = label.rpartition("-")
    return bool(sep) and len(tail) == UID_B58_WIDTH and all(c in B58_ALPHABET for c in tail)


def singleton_labels() -> st.SearchStrategy[Label]:
    """Labels allowed for singletons (last segment is not 11 base58 chars)."""
    return labels().filter(lambda lab: not _uid_shaped_tail(lab))


def uids() -> st.SearchStrategy[int]:
    """u64 uids, with small values (which pad with leading ``1``) and the extremes likely."""
    return st.one_of(
        st.integers(0, 58**3),
        st.integers(0, U64_MAX),
        st.sampled_from([0, 1, 57, 58, U64_MAX, U64_MAX - 1]),
    )


def mesh_ids(cls: type[IdT]) -> st.SearchStrategy[IdT]:
    """Singletons and (labelled or unlabelled) instances of the id class ``cls``."""
    instance_labels = st.none() | labels() | st.just(cls.DEFAULT_LABEL)
    return st.one_of(
        singleton_labels().map(cls.singleton),
        st.builds(cls.from_uid, uids(), instance_labels),
    )


def host_mesh_ids() -> st.SearchStrategy[HostMeshId]:
    """Any :class:`HostMeshId`."""
    return mesh_ids(HostMeshId)


def proc_mesh_ids() -> st.SearchStrategy[ProcMeshId]:
    """Any :class:`ProcMeshId`."""
    return mesh_ids(ProcMeshId)


def proc_ids() -> st.SearchStrategy[ProcId]:
    """Any :class:`ProcId`."""
    return mesh_ids(ProcId)


def id_like_texts() -> st.SearchStrategy[str]:
    """Text that is often close to an id: label-ish heads with base58-ish tails."""
    head = st.from_regex(r"[a-zA-Z0-9_<>-]{0,12}", fullmatch=True)
    tail = st.text(B58_ALPHABET + "0OIl", min_size=6, max_size=13)
    return st.one_of(
        st.builds(lambda h, t: f"{h}-{t}", head, tail),
        head,
        st.text(max_size=30),
    )


# --------------------------------------------------------------------------- addresses


def _ips() -> st.SearchStrategy[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    scoped = st.builds(
        lambda ip, scope: ipaddress.IPv6Address(f"{ip}%{scope}"),
        st.ip_addresses(v=6),
        st.text("abcdefxyz0123456789_.", min_size=1, max_size=8),
    )
    fixed = st.sampled_from(
        [ipaddress.ip_address(a) for a in ("127.0.0.1", "::1", "0.0.0.0", "::", "::ffff:7f00:1")]
    )
    return st.ip_addresses(v=4) | st.ip_addresses(v=6) | scoped | fixed


def tcp_addrs() -> st.SearchStrategy[ChannelAddr]:
    """tcp addresses over IPv4, IPv6 (some with a scope id) and any port, 0 included."""
    return st.builds(ChannelAddr.tcp, _ips(), st.integers(0, 65535) | st.just(0))


_PATH_CHARS = st.characters(codec="utf-8", exclude_characters="\0")


def unix_path_addrs() -> st.SearchStrategy[ChannelAddr]:
    """Filesystem unix addresses: odd paths (spaces, ``:``, ``!``, ``@`` inside, unicode)."""
    odd = st.text(_PATH_CHARS, min_size=1, max_size=40).filter(lambda p: not p.startswith("@"))
    common = st.from_regex(r"/tmp/[a-z0-9._ !:@-]{1,20}\.sock", fullmatch=True)
    return st.builds(ChannelAddr.unix, odd | common)


def abstract_unix_addrs() -> st.SearchStrategy[ChannelAddr]:
    """Abstract unix addresses (non-empty names, any chars but NUL)."""
    return st.builds(ChannelAddr.unix_abstract, st.text(_PATH_CHARS, min_size=1, max_size=40))


def unix_addrs() -> st.SearchStrategy[ChannelAddr]:
    """Any unix address: path, abstract or ``unix:`` (any)."""
    return unix_path_addrs() | abstract_unix_addrs() | st.just(ChannelAddr.unix(""))


def local_addrs() -> st.SearchStrategy[ChannelAddr]:
    """``local:N`` addresses, 0 (any) included."""
    return st.builds(ChannelAddr.local, st.integers(0, 2**64 - 1) | st.integers(0, 10))


def channel_addrs() -> st.SearchStrategy[ChannelAddr]:
    """Any channel address."""
    return tcp_addrs() | unix_addrs() | local_addrs()


# --------------------------------------------------------------------------- statuses


def statuses() -> st.SearchStrategy[Status]:
    """Any :class:`Status`: plain kinds, Failed with any message, Timeout with any duration."""
    plain = st.sampled_from(
        [Status(k) for k in StatusKind if k not in (StatusKind.FAILED, StatusKind.TIMEOUT)]
    )
    failed = st.builds(Status.failed, st.text(max_size=30))
    timeout = st.builds(
        Status.timeout,
        st.floats(0, 1e9, allow_nan=False) | st.integers(0, 10**6) | st.sampled_from([0.5, 20.001]),
    )
    return plain | failed | timeout


# --------------------------------------------------------------------------- bootstrap

_ENV_KEY = st.text(st.characters(codec="utf-8", exclude_characters="\0="), min_size=1, max_size=12)
_ARG = st.text(_PATH_CHARS, max_size=20)


def bootstrap_commands() -> st.SearchStrategy[BootstrapCommand]:
    """Any valid :class:`BootstrapCommand`."""
    return st.builds(
        BootstrapCommand,
        program=st.text(_PATH_CHARS, min_size=1, max_size=30),
        args=st.lists(_ARG, max_size=5).map(tuple),
        env=st.dictionaries(_ENV_KEY, _ARG, max_size=5),
        arg0=st.none() | _ARG,
    )
