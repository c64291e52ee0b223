"""The mesh admin (spec 9): :func:`serve_admin` (``spawn_admin`` is the seed's name), what it
serves, and for whom.

:func:`serve_admin` checks the meshes, builds the admin's host set (:func:`aggregate_hosts`)
and its model (:class:`~meshtrio._admin_model.AdminModel`: every answer, read from the hosts
over the connections the caller's meshes already hold, no second control plane), then
serves the model's HTTP JSON API and page (:mod:`meshtrio._admin_http`) from a task of the
caller's Trio run. Its errors are in :mod:`meshtrio.errors` (``Admin*Error``).

Invariants owned here (spec 9.1; tests are named after them):

* SA-1: an empty set of meshes is refused (InputError naming SA-1); nothing is served.
* SA-2: a mesh with no hosts is refused, naming its index (``mesh at index 1 has no hosts``).
* SA-3: the admin's hosts are the meshes' hosts in first-seen order, each once
  (:class:`~meshtrio._host_set.HostSet`, which owns the set's own laws); a host in two meshes
  is asked once.
* SA-4: one mesh is the same as a list of one mesh.
* SA-5: the admin runs in the caller's process, in a task of the ``async with`` block.
* SA-6 / CH-1: the client's own hosts (``client_hosts``, e.g. the in-process hosts it runs)
  are merged *after* the meshes' hosts with the same de-duplication: each appears once,
  whether or not a mesh holds it too, and is marked ``client``.
* AI-1 (live identity): ``/v1/admin`` names this admin (its id, pid, start time, who
  started it) for as long as the block runs; AI-2 (hosting process): its ``pid`` is the
  caller's; AI-3 (url): its ``url`` equals :attr:`Admin.url`.
* Authenticated and local by default: every ``/v1/`` request needs the bearer token (a fresh
  random one unless given; printed once on stderr only when made here), and the default
  ``listen`` is loopback; a non-loopback ``listen`` is served, with a warning.

Not promised: upstream's admin *actor* (there is no ``mesh_admin`` actor: the admin is a task
of the caller, so ``/v1/admin`` names an admin id and a pid, not upstream's ``actor_id`` and
``proc_id``), its ``GetAdminAddr`` message, TLS (the admin speaks plain HTTP: keep it on
loopback or behind a TLS proxy), nor the admin outliving the block.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import sys
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, Protocol

import attrs
import trio

from meshtrio._addr import ChannelAddr
from meshtrio._admin_model import ADMIN_HOST_TIMEOUT, ADMIN_MAX_CONCURRENT, AdminModel
from meshtrio._blocks import Captured, async_context_manager
from meshtrio._errors import InputError
from meshtrio._host_set import HostSet

__all__ = [
    "Admin",
    "aggregate_hosts",
    "serve_admin",
    "spawn_admin",
]

log = logging.getLogger("meshtrio.admin")


class _Meshlike(Protocol):
    @property
    def addrs(self) -> tuple[ChannelAddr, ...]: ...


def aggregate_hosts(meshes: Any, client_hosts: Iterable[_Meshlike] = ()) -> HostSet[ChannelAddr]:
    """The admin's hosts (SA-1, SA-2, SA-3, SA-6 / CH-1).

    Raises:
        InputError: no meshes (SA-1), or a mesh with no hosts, naming its index (SA-2).
    """
    if isinstance(meshes, str) or not isinstance(meshes, Sequence):
        raise InputError(f"meshes must be a sequence of host meshes, got {type(meshes).__name__}")
    if not meshes:
        raise InputError("the admin needs at least one host mesh, got none (SA-1)")
    for index, mesh in enumerate(meshes):
        if not tuple(mesh.addrs):
            raise InputError(f"mesh at index {index} has no hosts (SA-2)")
    hosts: HostSet[ChannelAddr] = HostSet.of(addr for mesh in meshes for addr in mesh.addrs)
    for client in client_hosts:  # SA-6 / CH-1: after the meshes', same de-duplication
        for addr in client.addrs:
            hosts = hosts.insert(addr)
    return hosts


@attrs.frozen
class Admin:
    """A running admin (what :func:`serve_admin` yields).

    Attributes:
        url: where it serves (``http://127.0.0.1:PORT``); AI-3.
        token: the bearer token every ``/v1/`` request needs.
        hosts: its hosts, in first-seen order (SA-3).
    """

    url: str
    token: str = attrs.field(repr=False)
    hosts: HostSet[ChannelAddr]
    model: AdminModel = attrs.field(repr=False)

    @property
    def page_url(self) -> str:
        """The page's address with the token in the fragment (never sent to the server)."""
        return f"{self.url}/#token={self.token}"


@async_context_manager
async def serve_admin(
    meshes: Any,
    *,
    listen: str = "127.0.0.1:0",
    token: str | None = None,
    client_hosts: Sequence[Any] = (),
    host_timeout: float = ADMIN_HOST_TIMEOUT,
    max_concurrent: int = ADMIN_MAX_CONCURRENT,
    announce: bool = True,
) -> AsyncIterator[Admin]:
    """Serve the mesh admin for ``meshes`` while the block runs (spec 9; SA-1..SA-6, CH-1).

    The HTTP server (hypercorn's Trio worker serving a Starlette app: the ``admin`` extra,
    ``pip install 'meshtrio[admin]'``) runs in a task of this block, reading the hosts over
    the meshes' own connections. It only looks (AD-2). Every ``/v1/`` request needs
    ``Authorization: Bearer <token>``; ``GET /`` serves the page, which reads the token from
    its URL's fragment (:attr:`Admin.page_url`).

    Args:
        meshes: a :class:`~meshtrio.HostMesh`, or a sequence of them (SA-4).
        listen: ``HOST:PORT`` to bind (default loopback, a free port).
        token: the bearer token (default: a fresh random one).
        client_hosts: the client's own host meshes (e.g. in-process hosts), merged after
            ``meshes``' hosts (SA-6 / CH-1).
        host_timeout: seconds each host has per lookup (AD-1).
        max_concurrent: lookups in flight at once; one more is answered 503 (AD-1).
        announce: print where it serves, once, on stderr (the page's address with the token
            in its fragment, and a curl line), when it made its own token.

    Leaving the block stops the server (requests in flight are cancelled); cancelling it
    does the same. Nothing on the hosts changes.

    Raises:
        InputError: no meshes (SA-1), a mesh with no hosts (SA-2), a mesh that is not a live
            HostMesh, a bad ``token``, ``host_timeout`` or ``max_concurrent``, or a
            ``listen`` that is malformed or cannot be bound (taken, not an address here).
        ImportError: the ``admin`` extra is not installed (the message says so).
    """
    if not isinstance(meshes, Sequence) or isinstance(meshes, str):
        meshes = [meshes] if hasattr(meshes, "addrs") else meshes
    hosts = aggregate_hosts(meshes, client_hosts)
    model = AdminModel(
        meshes,
        hosts=hosts,
        client_hosts=client_hosts,
        host_timeout=host_timeout,
        max_concurrent=max_concurrent,
    )
    made_token = token is None
    if token is None:
        token = secrets.token_urlsafe(32)
    if (
        not isinstance(token, str)
        or len(token) < 16
        or not token.isascii()
        or not token.isprintable()
    ):
        raise InputError("the admin token must be printable ASCII text of 16 chars or more")
    host, port = _split_listen(listen)
    if not _is_loopback(host):
        log.warning(
            "the mesh admin listens on %s, which other machines can reach, in plaintext: "
            "whoever reads this traffic can take its token and read what it shows",
            listen,
        )
    try:
        from meshtrio import _admin_http
    except ImportError as exc:
        raise ImportError(
            f"the mesh admin needs the 'admin' extra: pip install 'meshtrio[admin]' ({exc})"
        ) from exc
    captured = Captured()  # re-raised below, outside the nursery (no group wrap)
    refused: OSError | None = None
    async with trio.open_nursery() as nursery:
        try:
            url = await nursery.start(_admin_http.serve, model, token, host, port)
        except OSError as exc:  # the address is taken or cannot be bound: nothing served
            refused = exc
        else:
            model.info = attrs.evolve(model.info, url=url)
            if announce and made_token:
                print(
                    f"meshtrio admin: open {url}/#token={token}\n"
                    f"  or: curl -H 'Authorization: Bearer {token}' {url}/v1/tree",
                    file=sys.stderr,
                    flush=True,
                )
            with captured:
                yield Admin(url=url, token=token, hosts=model.hosts, model=model)
        nursery.cancel_scope.cancel()
    if refused is not None:
        raise InputError(
            f"the mesh admin cannot listen on {listen}: {refused.strerror or refused}"
        ) from refused
    captured.reraise()


@async_context_manager
async def spawn_admin(
    meshes: Any,
    *,
    listen: str = "127.0.0.1:0",
    token: str | None = None,
    client_hosts: Sequence[Any] = (),
    host_timeout: float = ADMIN_HOST_TIMEOUT,
    max_concurrent: int = ADMIN_MAX_CONCURRENT,
    announce: bool = True,
) -> AsyncIterator[Admin]:
    """The seed's (and upstream's) name for :func:`serve_admin`: the same arguments, the
    same admin."""
    async with serve_admin(
        meshes,
        listen=listen,
        token=token,
        client_hosts=client_hosts,
        host_timeout=host_timeout,
        max_concurrent=max_concurrent,
        announce=announce,
    ) as admin:
        yield admin


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


def _split_listen(listen: str) -> tuple[str, int]:
    if not isinstance(listen, str):
        raise InputError(f"listen must be 'HOST:PORT' text, got {type(listen).__name__}")
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InputError(f"listen must be 'HOST:PORT' (e.g. 127.0.0.1:0), got {listen!r}")
    return host, int(port)
