"""The one edge where errors of trio, trio-websocket and the OS become meshtrio errors (TR-3).

:func:`translate` maps whatever a connection attempt raised to a
:class:`~meshtrio.errors.TransportError` subclass, keeping the library's error as the new
error's ``__cause__`` (as httpx does), so a traceback still shows what the socket said.
:func:`leaves` and :func:`cancel_part` look through the exception groups a nursery wraps
errors in.
"""

from __future__ import annotations

import trio
import trio_websocket

from meshtrio._errors import (
    ConnectionLostError,
    HostUnreachableError,
    RequestTimeoutError,
    TransportError,
)
from meshtrio._transport.handshake import refusal_error

__all__ = ["cancel_part", "leaves", "translate"]


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions in ``exc``, groups flattened (``[exc]`` if it is not a group)."""
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for sub in exc.exceptions:
            out.extend(leaves(sub))
        return out
    return [exc]


def cancel_part(exc: BaseException) -> BaseException | None:
    """The cancellation in ``exc`` (itself, or the Cancelled part of a group), or None."""
    if isinstance(exc, trio.Cancelled):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        return exc.subgroup(lambda e: isinstance(e, trio.Cancelled))
    return None


def _caused(error: TransportError, cause: BaseException) -> TransportError:
    error.__cause__ = cause  # also sets __suppress_context__, as ``raise error from cause``
    return error


def translate(exc: BaseException, address: str) -> BaseException:
    """Map an error from trio-websocket, trio or the OS to a meshtrio error (TR-3).

    Returns:
        A meshtrio error found in ``exc`` as it is; else a new one whose ``__cause__`` is the
        library error it stands for; ``exc`` itself when it holds only cancellations; the
        first leaf when nothing in ``exc`` is a transport error (a bug: let it show).
    """
    found = [e for e in leaves(exc) if not isinstance(e, trio.Cancelled)]
    if not found:
        return exc
    for e in found:
        if isinstance(e, TransportError | RequestTimeoutError):
            return e
        if isinstance(e, trio_websocket.ConnectionRejected):
            body = (e.body or b"").decode("utf-8", "replace")[:200]
            return _caused(refusal_error(e.status_code, body, address), e)
    first = found[0]
    if isinstance(first, trio_websocket.ConnectionClosed | trio_websocket.HandshakeError):
        return _caused(
            ConnectionLostError(f"{address}: connection closed during handshake", address=address),
            first,
        )
    if isinstance(first, OSError):
        return _caused(
            HostUnreachableError(
                f"{address}: cannot connect: {first.strerror or first or type(first).__name__}",
                address=address,
            ),
            first,
        )
    if isinstance(first, trio.BrokenResourceError | trio.ClosedResourceError):
        return _caused(
            ConnectionLostError(f"{address}: connection broke during handshake", address=address),
            first,
        )
    return first
