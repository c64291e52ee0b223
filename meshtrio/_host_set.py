"""The admin's set of hosts: an ordered, de-duplicated value (spec 9.1, SA-3).

Invariants owned here:

* SA-3 (first-seen order, no duplicates): a :class:`HostSet` holds each host once, in the
  order it was first inserted; inserting a host it holds returns the same set (insertion is
  idempotent), and ``a | b`` is ``a`` followed by the hosts of ``b`` it did not hold, so
  union is associative (but not commutative: order is first-seen).

Not promised: any particular host key. Hosts are compared by value equality (the admin uses
:class:`~meshtrio.ChannelAddr`, so two spellings of one address that parse equal are one host;
two addresses that reach the same machine are two).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from typing import Generic, TypeVar

import attrs

__all__ = ["HostSet"]

H = TypeVar("H", bound=Hashable)


@attrs.frozen
class HostSet(Generic[H]):
    """Hosts in first-seen order, each once (SA-3). Immutable: :meth:`insert` and ``|``
    return new sets.

    Attributes:
        hosts: the hosts, in first-seen order.
    """

    hosts: tuple[H, ...] = ()

    def __attrs_post_init__(self) -> None:
        deduped = tuple(dict.fromkeys(self.hosts))
        if len(deduped) != len(self.hosts):
            object.__setattr__(self, "hosts", deduped)

    @classmethod
    def of(cls, hosts: Iterable[H]) -> HostSet[H]:
        """The set of ``hosts`` (later duplicates dropped)."""
        return cls(tuple(hosts))

    def insert(self, host: H) -> HostSet[H]:
        """This set with ``host`` at the end, or this very set if it holds ``host``."""
        if host in self:
            return self
        return HostSet((*self.hosts, host))

    def __or__(self, other: HostSet[H]) -> HostSet[H]:
        if not isinstance(other, HostSet):
            return NotImplemented
        return HostSet((*self.hosts, *other.hosts))

    def __contains__(self, host: object) -> bool:
        return host in self.hosts

    def __iter__(self) -> Iterator[H]:
        return iter(self.hosts)

    def __len__(self) -> int:
        return len(self.hosts)

    def index(self, host: H) -> int:
        """The position of ``host`` (ValueError if it is not held)."""
        return self.hosts.index(host)
