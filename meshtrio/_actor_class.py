"""What an actor is: the :class:`Actor` base class, the :func:`endpoint` decorator, and the
context an actor's code runs in (:func:`context`, :func:`current_rank`).

Pure definitions (no I/O, no trio): the proc side (:mod:`meshtrio._proc.actors`) runs actors
with them, the client side (:mod:`meshtrio._actor_mesh`) reads an actor class's endpoints to
build its proxies.

Invariants owned here:

* AC-1 (endpoints are declared): an actor's endpoints are exactly the methods marked with
  :func:`endpoint` on its class or a base class (:func:`endpoints_of`); nothing else can be
  called remotely, and a decorated method is still an ordinary method when called locally.
* AC-2 (context is per actor): inside an actor's ``__init__`` and endpoints (and tasks they
  start), :func:`context` is that actor's :class:`ActorContext`; anywhere else it raises
  :class:`~meshtrio.errors.NoActorContextError`. Not promised: a context inside threads the
  actor starts (``trio.to_thread`` copies it; a bare ``threading.Thread`` does not).
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, overload

import attrs

from meshtrio._errors import InputError, NoActorContextError
from meshtrio._slicing import Point, Region

__all__ = [
    "Actor",
    "ActorContext",
    "EndpointInfo",
    "context",
    "current_rank",
    "endpoint",
    "endpoints_of",
    "running_as",
]

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__meshtrio_endpoint__"


@attrs.frozen
class EndpointInfo:
    """How one endpoint is declared.

    Attributes:
        name: the method's name.
        concurrent: its calls may overlap (``@endpoint(concurrent=True)``).
        is_async: it is an ``async def``.
    """

    name: str
    concurrent: bool
    is_async: bool


class Actor:
    """Base class of actors: subclass it, mark remote methods with :func:`endpoint`, and spawn
    it on a proc mesh with ``await procs.spawn("name", MyActor, *args, **kwargs)``.

    The constructor runs inside each proc with the given arguments (they are pickled with
    cloudpickle, so a class defined in ``__main__``, a test module or a notebook works). By
    default an actor handles one call at a time, in the order each caller sent them, so its
    state needs no locks; ``@endpoint(concurrent=True)`` lets one endpoint's calls overlap.
    """


@overload
def endpoint(fn: F, /) -> F: ...


@overload
def endpoint(*, concurrent: bool = False) -> Callable[[F], F]: ...


def endpoint(fn: Any = None, /, *, concurrent: bool = False) -> Any:
    """Mark an actor method as an endpoint (AC-1): ``@endpoint`` or ``@endpoint(concurrent=True)``.

    ``async def`` endpoints run in the proc's Trio run (cancellable: a caller's cancel or
    deadline reaches them); plain ``def`` endpoints run inline and block their proc's event
    loop while they run (move long CPU work to ``trio.to_thread.run_sync``).

    Args:
        concurrent: let this endpoint's calls run while the actor handles later messages (at
            most ``actor_mailbox_capacity`` at once); by default a call runs alone.

    Raises:
        InputError: what is decorated is not a function.
    """

    def mark(f: F) -> F:
        if not inspect.isfunction(f):
            raise InputError(f"@endpoint marks a method, not {type(f).__name__}")
        info = EndpointInfo(f.__name__, bool(concurrent), inspect.iscoroutinefunction(f))
        setattr(f, _MARK, info)
        return f

    if fn is None:
        return mark
    return mark(fn)


def endpoints_of(cls: type) -> dict[str, EndpointInfo]:
    """The endpoints of actor class ``cls`` by name, base classes' included (AC-1).

    Raises:
        InputError: ``cls`` is not a subclass of :class:`Actor`.
    """
    if not (isinstance(cls, type) and issubclass(cls, Actor)):
        raise InputError(f"an actor class must subclass meshtrio.Actor, got {cls!r:.100}")
    out: dict[str, EndpointInfo] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            info = getattr(value, _MARK, None)
            if isinstance(info, EndpointInfo):
                out[name] = info
            elif name in out:  # overridden without @endpoint: no longer remote
                del out[name]
    return out


@attrs.frozen
class ActorContext:
    """Where the running actor is (AC-2).

    Attributes:
        rank: its rank in its actor mesh (0 .. size-1).
        point: its point in the actor mesh (``point.rank == rank``).
        region: the actor mesh's region.
        actor: the actor mesh's name.
        proc_id: the id of the proc it runs on.
    """

    rank: int
    point: Point
    region: Region
    actor: str
    proc_id: str

    @property
    def size(self) -> int:
        """The number of actors in the mesh."""
        return self.region.num_ranks


_CURRENT: contextvars.ContextVar[ActorContext | None] = contextvars.ContextVar(
    "meshtrio_actor", default=None
)


def running_as(ctx: ActorContext | None) -> contextvars.Token[ActorContext | None]:
    """Make ``ctx`` the current actor context (for the proc runtime); reset with the token."""
    return _CURRENT.set(ctx)


def reset_context(token: contextvars.Token[ActorContext | None]) -> None:
    """Undo :func:`running_as`."""
    _CURRENT.reset(token)


def context() -> ActorContext:
    """The running actor's :class:`ActorContext` (AC-2).

    Raises:
        NoActorContextError: not called from an actor's code.
    """
    ctx = _CURRENT.get()
    if ctx is None:
        raise NoActorContextError("meshtrio.context() is only available inside an actor")
    return ctx


def current_rank() -> Point:
    """The running actor's point in its mesh (``current_rank().rank`` is its rank).

    Raises:
        NoActorContextError: not called from an actor's code.
    """
    return context().point
