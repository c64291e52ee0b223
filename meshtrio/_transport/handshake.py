"""The opening handshake: protocol version and credential.

A client offers ``Meshtrio-Protocol: <version>`` and ``Authorization: Bearer <credential>``
(as WebSocket upgrade headers, or the same values handed to an in-memory listener). The server
refuses, before any message is exchanged, a wrong or missing credential (401) or another
protocol version (426). Secrets are compared in constant time (:func:`hmac.compare_digest`).

Two kinds of credential are accepted by a host agent (:class:`Credentials`):

* the **client token**: whoever holds it may drive the host (spawn, stop, drain, shut down);
* a **proc credential** (:func:`proc_credential`): ``proc.<proc id>.<mac>``, an HMAC of one
  proc id under a secret that only the host agent holds. The host hands it to that proc alone
  (in ``MESHTRIO_PROC_TOKEN``; the client token is removed from the proc's environment), and
  a connection that presented it is served as that proc and nothing else.

Invariants owned here:

* AU-1 (scoped credentials): a proc credential names exactly one proc id, cannot be forged
  without the host's secret, and is never accepted where the client token is required; the
  connection's :class:`Principal` says which of the two it presented.
* AU-2 (constant time): the token and the MAC are compared with :func:`hmac.compare_digest`.
  Not promised: the length of the presented credential, and whether it has the ``proc.``
  form, can be learnt from timing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets

import attrs

from meshtrio._contract import TOKEN_ENV
from meshtrio._errors import (
    AuthRejectedError,
    InputError,
    ProtocolError,
    TLSHandshakeError,
    TLSRequiredError,
    TransportError,
)
from meshtrio._transport.tls_streams import CLIENT_CERT_REQUIRED, TLS_REQUIRED
from meshtrio._wire import PROTOCOL_VERSION

__all__ = [
    "CLIENT",
    "Credentials",
    "Offer",
    "Principal",
    "Refusal",
    "check_offer",
    "check_token",
    "new_token",
    "proc_credential",
    "refusal_error",
    "token_from_env",
]

_PROC_PREFIX = "proc."

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


@attrs.frozen
class Principal:
    """Who a connection authenticated as: the client (``proc_id`` None) or one proc."""

    proc_id: str | None = None

    @property
    def is_client(self) -> bool:
        """True for the holder of the client token."""
        return self.proc_id is None


CLIENT = Principal()
"""The principal of a connection that presented the client token."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, proc_id: str) -> bytes:
    return hmac.new(secret, b"meshtrio-proc\0" + proc_id.encode(), hashlib.sha256).digest()


def proc_credential(secret: bytes, proc_id: str) -> str:
    """The credential of one proc under a host agent's ``secret`` (AU-1)."""
    return f"{_PROC_PREFIX}{_b64(proc_id.encode())}.{_b64(_mac(secret, proc_id))}"


@attrs.frozen(repr=False)
class Credentials:
    """What a server accepts: the client token and, on a host agent, proc credentials.

    Args:
        token: the client token.
        proc_secret: the secret proc credentials are made with (None: no proc may connect).
    """

    token: str
    proc_secret: bytes | None = None

    def __repr__(self) -> str:
        return "Credentials(...)"  # never show a secret

    def authenticate(self, presented: str) -> Principal | None:
        """The principal ``presented`` proves, or None (AU-1, AU-2)."""
        if not presented:
            return None
        if self.proc_secret is not None and presented.startswith(_PROC_PREFIX):
            who, _, mac = presented[len(_PROC_PREFIX) :].partition(".")
            try:
                proc_id = _unb64(who).decode()
                given = _unb64(mac)
            except (binascii.Error, ValueError):
                return None
            if hmac.compare_digest(given, _mac(self.proc_secret, proc_id)):
                return Principal(proc_id)
            return None
        if hmac.compare_digest(presented.encode(), self.token.encode()):
            return CLIENT
        return None


def check_offer(offer: Offer, expected: str | Credentials) -> Refusal | Principal:
    """Return why ``offer`` must be refused, or the principal it authenticated as."""
    creds = expected if isinstance(expected, Credentials) else Credentials(expected)
    principal = creds.authenticate(offer.token)
    if principal is None:
        return Refusal(401, "authentication failed: wrong or missing token")
    if offer.version != PROTOCOL_VERSION:
        return Refusal(
            426,
            f"protocol version {offer.version} not supported (this peer speaks {PROTOCOL_VERSION})",
        )
    return principal


def refusal_error(status: int, reason: str, address: str) -> TransportError:
    """The client-side error for a refused handshake."""
    if reason.startswith(TLS_REQUIRED):
        return TLSRequiredError(f"{address}: {reason}", address=address)
    if reason.startswith(CLIENT_CERT_REQUIRED):
        return TLSHandshakeError(f"{address}: {reason}", address=address)
    if status == 401:
        return AuthRejectedError(f"{address}: {reason or 'authentication failed'}", address=address)
    return ProtocolError(f"{address}: handshake refused ({status}): {reason}", address=address)


def new_token() -> str:
    """A fresh random token (for local meshes, handed to children through the environment)."""
    return secrets.token_urlsafe(32)


def token_from_env() -> str | None:
    """The token in ``MESHTRIO_TOKEN``, or None."""
    return os.environ.get(TOKEN_ENV) or None
