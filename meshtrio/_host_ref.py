"""Non-owning references to hosts and host meshes (spec 4.1): HostRef and HostMeshRef.

Text form of a host mesh ref: ``<host mesh id> ":" [host ("," host)*] "@" <region>``, e.g.
``test:local:3,local:4@2+replica=1/2,host=2/1``; each host is its channel address text.

Invariants owned here:

* A :class:`HostMeshRef` has exactly one host per rank of its region, in dense rank order.
* Slicing keeps the id and the bootstrap command and picks hosts by base rank (``remap``),
  in the new region's order.
* ``HostMeshRef.parse(str(ref)) == ref`` when the ref has no bootstrap command (it is not part
  of the text) and no host address text contains ``,`` or starts or ends with whitespace (the
  upstream grammar cannot carry those). ``parse`` raises only HostMeshRefParseError.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence

import attrs

from meshtrio._addr import ChannelAddr
from meshtrio._bootstrap import BootstrapCommand
from meshtrio._errors import CardinalityError, HostMeshRefParseError, InputError, MeshError
from meshtrio._ids import HostMeshId
from meshtrio._slicing import Extent, Region
from meshtrio._util import show

__all__ = ["HostMeshRef", "HostRef"]


@attrs.frozen
class HostRef:
    """One host, known by the channel address its host agent listens on.

    Attributes:
        addr: the host agent's channel address.
    """

    addr: ChannelAddr = attrs.field()

    @addr.validator
    def _check_addr(self, _attr: attrs.Attribute[ChannelAddr], value: object) -> None:
        if not isinstance(value, ChannelAddr):
            raise InputError(f"a HostRef needs a ChannelAddr, got {type(value).__name__}")

    @classmethod
    def parse(cls, text: str) -> HostRef:
        """The host at channel address text ``text``.

        Raises:
            AddrParseError: ``text`` is not a channel address.
        """
        return cls(ChannelAddr.parse(text))

    def __str__(self) -> str:
        return str(self.addr)


def _to_host(value: HostRef | ChannelAddr | str) -> HostRef:
    if isinstance(value, HostRef):
        return value
    if isinstance(value, ChannelAddr):
        return HostRef(value)
    if isinstance(value, str):
        return HostRef.parse(value)
    raise InputError(f"a host must be a HostRef, ChannelAddr or str, got {type(value).__name__}")


def _to_hosts(values: Iterable[HostRef | ChannelAddr | str]) -> tuple[HostRef, ...]:
    if isinstance(values, str | bytes):
        raise InputError("hosts must be a sequence of hosts, not a single string")
    try:
        items = iter(values)
    except TypeError:
        raise InputError(f"hosts must be a sequence, got {type(values).__name__}") from None
    return tuple(_to_host(v) for v in items)


_short = functools.partial(show, limit=83)
"""Caller text quoted in a parse error: its repr, cut to 80 characters and an ellipsis."""


def _region_separators(rest: str) -> Iterator[int]:
    """The indices of the ``@`` that may start the region in ``rest`` (the text after ``id:``),
    best first.

    First every ``@`` after which the text has no ``@`` outside double-quoted labels and no
    unterminated quote, leftmost first; then the last ``@``. Host addresses may contain ``@``
    and ``"`` (``unix:@name``), and region labels may too (quoted), so a candidate can still
    be wrong: :meth:`HostMeshRef.parse` takes the first one whose parts parse.
    """
    n = len(rest)
    at = rest.find("@")
    last = -1
    yielded: set[int] = set()
    while at != -1:
        last = at
        i = at + 1
        clean = True
        while i < n:
            c = rest[i]
            if c == "@":
                clean = False
                break
            if c == '"':
                i += 1
                while i < n and rest[i] != '"':
                    i += 2 if rest[i] == "\\" else 1
                if i >= n:
                    clean = False
                    break
            i += 1
        if clean:
            yielded.add(at)
            yield at
        at = rest.find("@", at + 1)
    if last >= 0 and last not in yielded:
        yield last


@attrs.frozen
class HostMeshRef:
    """A host mesh by value: its id, its region and one host per rank.

    Attributes:
        id: the host mesh id (kept by slicing).
        region: the ranks of the mesh.
        hosts: one host per rank of ``region``, in dense rank order.
        bootstrap_command: how hosts start procs for this mesh (None: each host's default);
            kept by slicing, not part of the text form.
    """

    id: HostMeshId
    region: Region
    hosts: tuple[HostRef, ...] = attrs.field(converter=_to_hosts)
    bootstrap_command: BootstrapCommand | None = None

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.id, HostMeshId):
            raise InputError(f"a host mesh ref needs a HostMeshId, got {type(self.id).__name__}")
        if not isinstance(self.region, Region):
            raise InputError(f"a host mesh ref needs a Region, got {type(self.region).__name__}")
        if self.bootstrap_command is not None and not isinstance(
            self.bootstrap_command, BootstrapCommand
        ):
            raise InputError(
                "bootstrap_command must be a BootstrapCommand or None, got "
                f"{type(self.bootstrap_command).__name__}"
            )
        if len(self.hosts) != self.region.num_ranks:
            raise CardinalityError(
                f"host mesh {self.id}: region {self.region} has {self.region.num_ranks} ranks "
                f"but {len(self.hosts)} hosts were given"
            )

    @classmethod
    def from_hosts(
        cls, id: HostMeshId, addrs: Sequence[ChannelAddr | str | HostRef]
    ) -> HostMeshRef:
        """A 1-D mesh over ``addrs`` with region ``hosts=N/1``.

        Raises:
            AddrParseError: an address text that does not parse.
            InputError: ``addrs`` is not a sequence of hosts, or ``id`` is not a HostMeshId.
        """
        hosts = _to_hosts(addrs)
        return cls(id, Extent(hosts=len(hosts)).region(), hosts)

    @classmethod
    def parse(cls, text: str) -> HostMeshRef:
        """Parse ``id:host,host@region``.

        Raises:
            HostMeshRefParseError: naming the part that failed (id, hosts, region, or the host
                count), with the underlying error as ``__cause__``.
        """
        if not isinstance(text, str):
            raise HostMeshRefParseError(
                f"host mesh ref text must be a str, got {type(text).__name__}"
            )
        id_text, colon, rest = text.partition(":")
        if not colon:
            raise HostMeshRefParseError(
                f"host mesh ref {_short(text)} has no ':' after the host mesh id"
            )
        try:
            mesh_id = HostMeshId.parse(id_text)
        except MeshError as exc:
            raise HostMeshRefParseError(
                f"host mesh ref {_short(text)}: bad host mesh id {_short(id_text)}: {exc}"
            ) from exc
        first_error: HostMeshRefParseError | None = None
        for sep in _region_separators(rest):
            try:
                return cls._from_parts(text, mesh_id, rest[:sep], rest[sep + 1 :])
            except HostMeshRefParseError as exc:
                first_error = first_error or exc  # the best candidate's error is the one shown
        if first_error is not None:
            raise first_error
        raise HostMeshRefParseError(f"host mesh ref {_short(text)} has no '@' before the region")

    @classmethod
    def _from_parts(
        cls, text: str, mesh_id: HostMeshId, hosts_text: str, region_text: str
    ) -> HostMeshRef:
        hosts: list[HostRef] = []
        if hosts_text.strip():
            for k, part in enumerate(hosts_text.split(",")):
                try:
                    hosts.append(HostRef(ChannelAddr.parse(part.strip())))
                except MeshError as exc:
                    raise HostMeshRefParseError(
                        f"host mesh ref {_short(text)}: bad host #{k} {_short(part)}: {exc}"
                    ) from exc
        try:
            region = Region.parse(region_text)
        except MeshError as exc:
            raise HostMeshRefParseError(
                f"host mesh ref {_short(text)}: bad region {_short(region_text)}: {exc}"
            ) from exc
        try:
            return cls(mesh_id, region, hosts)
        except MeshError as exc:
            raise HostMeshRefParseError(f"host mesh ref {_short(text)}: {exc}") from exc

    def __str__(self) -> str:
        return f"{self.id}:{','.join(str(h.addr) for h in self.hosts)}@{self.region}"

    def __len__(self) -> int:
        return len(self.hosts)

    @property
    def addrs(self) -> tuple[ChannelAddr, ...]:
        """The hosts' channel addresses, in dense rank order."""
        return tuple(h.addr for h in self.hosts)

    def sliced(self, region: Region) -> HostMeshRef:
        """The sub-mesh over ``region`` (a subset of this mesh's region, by base rank).

        Hosts are picked by base rank, in ``region``'s order; the id and bootstrap command are
        kept.

        Raises:
            InputError: ``region`` is not a Region or not a subset of this mesh's region.
        """
        if not isinstance(region, Region):
            raise InputError(f"sliced() needs a Region, got {type(region).__name__}")
        picks = self.region.remap(region)
        if picks is None:
            raise InputError(
                f"region {region} is not a subset of host mesh {self.id}'s region {self.region}"
            )
        hosts = self.hosts
        return HostMeshRef(self.id, region, [hosts[i] for i in picks], self.bootstrap_command)

    def range(self, label: str, sel: int | slice | range) -> HostMeshRef:
        """The sub-mesh selected by ``self.region.range(label, sel)`` (the dimension is kept).

        Raises:
            The errors of :meth:`Region.range`.
        """
        return self.sliced(self.region.range(label, sel))

    def with_bootstrap(self, cmd: BootstrapCommand | None) -> HostMeshRef:
        """A copy whose procs start with ``cmd`` (None: each host's default).

        Raises:
            InputError: ``cmd`` is neither None nor a BootstrapCommand.
        """
        return attrs.evolve(self, bootstrap_command=cmd)
