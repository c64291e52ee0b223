"""Channel addresses: where a host agent or proc can be reached (spec 3.1, 3.3).

Holds :class:`ChannelAddr` with its text form ``<transport>:<address>``:

* ``tcp:1.2.3.4:5``, ``tcp:[::1]:5`` (IP literals only, never DNS; IPv6 in brackets);
* ``unix:/path/x.sock`` (filesystem path), ``unix:@name`` (Linux abstract socket),
  ``unix:`` (any: pick a socket when binding);
* ``local:N`` (an in-process endpoint; ``local:0`` means pick one when binding).

Invariants owned here:

* Every ``ChannelAddr`` is canonical: the tcp host is the :mod:`ipaddress` text of the IP, so
  ``ChannelAddr.parse(str(a)) == a`` for every address and ``str(ChannelAddr.parse(s)) == s``
  for every canonical ``s``.
* Parsing splits at the first ``:`` only (upstream's ``!`` split is not supported, so unix
  paths may contain ``!``), and raises nothing but :class:`AddrParseError`, whatever the text.
* Fields of the wrong type (a non-str transport, host or path, a non-int port or index)
  raise :class:`AddrParseError` too, never a builtin TypeError.
* A filesystem unix path never starts with ``@`` (that text would mean an abstract socket; use
  ``./@name``) and never contains NUL. Paths are not length-checked here; binding reports that.
"""

from __future__ import annotations

import functools
import ipaddress
import os
from typing import Literal

import attrs

from meshtrio._errors import AddrParseError
from meshtrio._util import is_int, show

__all__ = ["ChannelAddr", "Transport"]

Transport = Literal["tcp", "unix", "local"]

_TRANSPORTS = ("tcp", "unix", "local")
_U64_MAX = 2**64 - 1
_DIGITS = frozenset("0123456789")


def _is_digits(text: str) -> bool:
    return bool(text) and all(c in _DIGITS for c in text)


def _ip(host: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(host, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return host
    if not isinstance(host, str):
        raise AddrParseError(f"tcp host must be an IP address text, got {type(host).__name__}")
    return _ip_text(host)


@functools.lru_cache(maxsize=4096)
def _ip_text(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    # Cached: a 1k-host mesh ref repeats few distinct IPs, and ip_address() is slow.
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise AddrParseError(
            f"tcp host {show(host, 80)} is not an IP address "
            "(tcp addresses take IP literals, not names)"
        ) from None


def _check_port(port: object) -> int:
    if not is_int(port):
        raise AddrParseError(f"tcp port must be an int, got {type(port).__name__}")
    if not 0 <= port <= 65535:
        raise AddrParseError(f"tcp port {show(port)} is outside 0..65535")
    return port


@attrs.frozen(kw_only=True)
class ChannelAddr:
    """A channel address. Build one with :meth:`tcp`, :meth:`unix`, :meth:`unix_abstract`,
    :meth:`local` or :meth:`parse`; ``str()`` is the exact inverse of ``parse``.

    Attributes:
        transport: ``"tcp"``, ``"unix"`` or ``"local"``.
        host: tcp only: the canonical IP text (v4 or v6, without brackets).
        port: tcp only: 0..65535 (0 = pick one when binding).
        path: unix only: the filesystem path, or the abstract name when ``abstract``;
            ``""`` (not abstract) means any.
        abstract: unix only: True for a Linux abstract socket.
        index: local only: the endpoint number (0 = pick one when binding).
    """

    transport: Transport
    host: str | None = None
    port: int | None = None
    path: str | None = None
    abstract: bool = False
    index: int | None = None

    def __attrs_post_init__(self) -> None:
        t = self.transport
        if not isinstance(t, str):
            raise AddrParseError(f"a channel type must be a str, got {type(t).__name__}")
        fields = {"host": self.host, "port": self.port, "path": self.path, "index": self.index}
        wanted = {"tcp": {"host", "port"}, "unix": {"path"}, "local": {"index"}}.get(t)
        if wanted is None:
            raise AddrParseError(
                f"unknown channel type {show(t)}; expected one of {', '.join(_TRANSPORTS)}"
            )
        for name, value in fields.items():
            if (value is not None) != (name in wanted):
                state = "needs" if name in wanted else "cannot have"
                raise AddrParseError(f"a {t} address {state} a {name}")
        if not isinstance(self.abstract, bool):
            raise AddrParseError(f"abstract must be a bool, got {type(self.abstract).__name__}")
        if self.abstract and t != "unix":
            raise AddrParseError(f"only a unix address can be abstract, not a {t} address")
        if t == "tcp":
            object.__setattr__(self, "host", str(_ip(self.host)))
            _check_port(self.port)
        elif t == "unix":
            _check_unix_path(self.path, abstract=self.abstract)
        else:
            idx = self.index
            if not is_int(idx) or not 0 <= idx <= _U64_MAX:
                raise AddrParseError(
                    f"local index must be an int in 0..{_U64_MAX}, got {show(idx)}"
                )

    # ------------------------------------------------------------------ constructors

    @classmethod
    def tcp(
        cls, host: str | ipaddress.IPv4Address | ipaddress.IPv6Address, port: int
    ) -> ChannelAddr:
        """A tcp address; ``host`` is an IP literal (brackets around v6 are accepted).

        Raises:
            AddrParseError: ``host`` is not an IP literal, or ``port`` not an int in 0..65535.
        """
        return cls(transport="tcp", host=str(_ip(host)), port=_check_port(port))

    @classmethod
    def unix(cls, path: str | os.PathLike[str] = "") -> ChannelAddr:
        """A unix socket at a filesystem ``path``; ``""`` means any (pick one when binding).

        Raises:
            AddrParseError: ``path`` is not a str (or path-like), contains NUL, or starts
                with ``@``.
        """
        if isinstance(path, os.PathLike):
            path = os.fspath(path)
        return cls(transport="unix", path=path)

    @classmethod
    def unix_abstract(cls, name: str) -> ChannelAddr:
        """A Linux abstract unix socket called ``name`` (non-empty, no NUL).

        Raises:
            AddrParseError: ``name`` is not a str, is empty, or contains NUL.
        """
        return cls(transport="unix", path=name, abstract=True)

    @classmethod
    def local(cls, index: int) -> ChannelAddr:
        """An in-process endpoint; ``0`` means pick one when binding.

        Raises:
            AddrParseError: ``index`` is not an int in ``0..2**64-1``.
        """
        return cls(transport="local", index=index)

    @classmethod
    def parse(cls, text: str) -> ChannelAddr:
        """Parse ``<transport>:<address>``.

        Raises:
            AddrParseError: for any text that is not a valid address (and nothing else).
        """
        if not isinstance(text, str):
            raise AddrParseError(f"a channel address must be a str, got {type(text).__name__}")
        if type(text) is str and len(text) <= 256:  # a mesh ref repeats few address shapes
            return _parse_cached(text)
        return cls._parse(text)

    @classmethod
    def _parse(cls, text: str) -> ChannelAddr:
        transport, sep, rest = text.partition(":")
        if not sep:
            raise AddrParseError(
                f"no channel type specified in {show(text, 80)} (want e.g. 'tcp:...')"
            )
        if transport == "tcp":
            return cls._parse_tcp(rest, text)
        if transport == "unix":
            if rest.startswith("@"):
                return cls.unix_abstract(rest[1:])
            return cls.unix(rest)
        if transport == "local":
            if not _is_digits(rest) or len(rest) > 20 or int(rest) > _U64_MAX:
                raise AddrParseError(
                    f"bad local address {show(text, 80)}: want 'local:N' with N in 0..{_U64_MAX}"
                )
            return cls.local(int(rest))
        raise AddrParseError(
            f"unknown channel type {transport[:40]!r} in {text[:80]!r}; expected one of "
            + ", ".join(_TRANSPORTS)
        )

    @classmethod
    def _parse_tcp(cls, rest: str, text: str) -> ChannelAddr:
        if rest.startswith("["):
            close = rest.rfind("]:")
            if close < 0:
                raise AddrParseError(f"bad tcp address {show(text, 80)}: want 'tcp:[IPv6]:PORT'")
            host, port_text = rest[1:close], rest[close + 2 :]
            ip = _ip(host)
            if ip.version != 6:
                raise AddrParseError(
                    f"bad tcp address {show(text, 80)}: only IPv6 goes in brackets"
                )
        else:
            host, sep, port_text = rest.rpartition(":")
            if not sep:
                raise AddrParseError(f"bad tcp address {show(text, 80)}: want 'tcp:IP:PORT'")
            if ":" in host:
                raise AddrParseError(
                    f"bad tcp address {show(text, 80)}: an IPv6 host must be in brackets, "
                    "e.g. 'tcp:[::1]:1234'"
                )
            ip = _ip(host)
        if not _is_digits(port_text) or len(port_text) > 5:
            raise AddrParseError(
                f"bad tcp address {show(text, 80)}: port {port_text[:20]!r} is not a number "
                "in 0..65535"
            )
        return cls.tcp(ip, int(port_text))

    # ------------------------------------------------------------------ views

    def __str__(self) -> str:
        if self.transport == "tcp":
            host = f"[{self.host}]" if ":" in str(self.host) else self.host
            return f"tcp:{host}:{self.port}"
        if self.transport == "unix":
            return f"unix:@{self.path}" if self.abstract else f"unix:{self.path}"
        return f"local:{self.index}"

    @property
    def is_any(self) -> bool:
        """True for "pick one when binding": tcp port 0, ``local:0``, ``unix:``."""
        if self.transport == "tcp":
            return self.port == 0
        if self.transport == "unix":
            return not self.abstract and self.path == ""
        return self.index == 0

    @property
    def is_loopback(self) -> bool:
        """True when the address is only reachable from this machine (unix, local, tcp loopback)."""
        if self.transport != "tcp":
            return True
        ip = ipaddress.ip_address(str(self.host))
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return ip.ipv4_mapped.is_loopback
        return ip.is_loopback

    def reached_via(self, host: ChannelAddr) -> ChannelAddr:
        """This address as seen by a client that reached ``host`` (PR-3): a tcp address on
        the wildcard (``0.0.0.0``, ``::``: a proc next to a wildcard host) becomes the same
        port on ``host``'s IP; any other address is itself."""
        if self.transport != "tcp" or host.transport != "tcp" or host.host is None:
            return self
        if not ipaddress.ip_address(str(self.host)).is_unspecified:
            return self
        assert self.port is not None
        return ChannelAddr.tcp(host.host, self.port)

    @property
    def sockaddr(self) -> tuple[str, int] | str:
        """The address for :mod:`socket` APIs: ``(host, port)`` for tcp, the path for unix
        (``"\\0name"`` for an abstract socket).

        Raises:
            AddrParseError: for a local address or ``unix:`` (any), which have no socket address.
        """
        if self.transport == "tcp":
            return (str(self.host), int(self.port or 0))
        if self.transport == "unix" and (self.abstract or self.path):
            return f"\0{self.path}" if self.abstract else str(self.path)
        raise AddrParseError(f"{self} has no socket address")


def _check_unix_path(path: object, *, abstract: bool) -> None:
    if not isinstance(path, str):
        raise AddrParseError(f"a unix path must be a str, got {type(path).__name__}")
    if "\0" in path:
        raise AddrParseError(
            f"unix path {show(path, 80)} contains NUL at position {path.index(chr(0))}"
        )
    if abstract and not path:
        raise AddrParseError("an abstract unix socket name cannot be empty ('unix:@')")
    if not abstract and path.startswith("@"):
        raise AddrParseError(
            f"unix path {show(path, 80)} starts with '@', which marks an abstract socket; "
            f"write {show('./' + path, 80)} for a file, or use unix_abstract()"
        )


@functools.lru_cache(maxsize=8192)
def _parse_cached(text: str) -> ChannelAddr:
    # Addresses are immutable values, so parsed ones are shared; errors are not cached.
    return ChannelAddr._parse(text)
