"""The opening handshake: protocol version and auth token.

A client offers ``Meshtrio-Protocol: <version>`` and ``Authorization: Bearer <token>`` (as
WebSocket upgrade headers, or the same values handed to an in-memory listener). The server
refuses, before any message is exchanged, a wrong or missing token (401) or another protocol
version (426). Tokens are compared in constant time (:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import hmac
import os
import secrets

import attrs

from meshtrio.errors import AuthRejectedError, InputError, ProtocolError, TransportError
from meshtrio.wire import PROTOCOL_VERSION

__all__ = [
    "Offer",
    "Refusal",
    "check_offer",
    "check_token",
    "new_token",
    "refusal_error",
    "token_from_env",
]

TOKEN_ENV = "MESHTRIO_TOKEN"
"""The environment variable that carries the auth token to host agents and procs."""

VERSION_HEADER = b"meshtrio-protocol"
AUTH_HEADER = b"authorization"


@attrs.frozen
class Offer:
    """What a client presents when it connects."""

    version: int
    token: str

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The offer as WebSocket upgrade headers (no Authorization header for an empty token:
        ``Bearer `` with trailing space is an illegal header value; the server then says 401)."""
        headers = [(VERSION_HEADER, str(self.version).encode())]
        if self.token:
            headers.append((AUTH_HEADER, b"Bearer " + self.token.encode()))
        return headers

    @classmethod
    def from_headers(cls, headers: list[tuple[bytes, bytes]]) -> Offer:
        """Read an offer from upgrade headers; missing values become an impossible offer."""
        version = -1
        token = ""
        for name, value in headers:
            lname = name.lower()
            if lname == VERSION_HEADER:
                try:
                    version = int(value.decode("ascii", "replace"))
                except ValueError:
                    version = -1
            elif lname == AUTH_HEADER and value.startswith(b"Bearer "):
                token = value[7:].decode("utf-8", "replace")
        return cls(version=version, token=token)


@attrs.frozen
class Refusal:
    """Why a server refused an offer: an HTTP status and a short reason."""

    status: int
    reason: str


_TOKEN_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F))


def check_token(token: str) -> str:
    """Return ``token`` if it can be sent (printable ASCII, no spaces), else InputError.

    The error never shows the token itself.
    """
    if not isinstance(token, str) or not token or not set(token) <= _TOKEN_CHARS:
        raise InputError(
            "an auth token must be non-empty printable ASCII without spaces "
            "(e.g. from secrets.token_urlsafe())"
        )
    return token


def check_offer(offer: Offer, expected_token: str) -> Refusal | None:
    """Return why ``offer`` must be refused, or None to accept it."""
    ok_token = hmac.compare_digest(offer.token.encode(), expected_token.encode())
    if not ok_token or not offer.token:
        return Refusal(401, "authentication failed: wrong or missing token")
    if offer.version != PROTOCOL_VERSION:
        return Refusal(
            426,
            f"protocol version {offer.version} not supported (this peer speaks {PROTOCOL_VERSION})",
        )
    return None


def refusal_error(status: int, reason: str, address: str) -> TransportError:
    """The client-side error for a refused handshake."""
    if status == 401:
        return AuthRejectedError(f"{address}: {reason or 'authentication failed'}", address=address)
    return ProtocolError(f"{address}: handshake refused ({status}): {reason}", address=address)


def new_token() -> str:
    """A fresh random token (for local meshes, handed to children through the environment)."""
    return secrets.token_urlsafe(32)


def token_from_env() -> str | None:
    """The token in ``MESHTRIO_TOKEN``, or None."""
    return os.environ.get(TOKEN_ENV) or None
