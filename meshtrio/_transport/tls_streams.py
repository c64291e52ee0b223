"""TLS under the WebSocket: the stream wrapper, the server's first-byte sniff, and what a
failed TLS handshake means (the ``ssl`` error turned into a :class:`~meshtrio.errors.TLSError`
that says what to fix).

Invariants owned here:

* TLS-4 (whole writes under TLS): a write that started finishes even if its caller is
  cancelled meanwhile (then the cancellation is delivered), as SK-1 for plaintext: trio's
  :class:`trio.SSLStream` is broken for good by a cancelled write, and a WebSocket frame cut
  halfway would corrupt the stream. The write is bounded by the socket's own send timeout
  (SK-1) and by :data:`TLS_WRITE_BOUND`.
* TLS-5 (a wrong mix is told, not timed out): a TLS host answers a plaintext client with an
  HTTP refusal that says TLS is required (the client raises
  :class:`~meshtrio.errors.TLSRequiredError` at once); a TLS client of a plaintext host fails
  its handshake at once (:class:`~meshtrio.errors.TLSHandshakeError`), and certificate
  failures raise :class:`~meshtrio.errors.TLSVerifyError` naming what the verifier said. Not
  promised: which of the two a middlebox that mangles the first bytes produces.
"""

from __future__ import annotations

import socket as _stdsocket
import ssl

import trio

from meshtrio._errors import TLSError, TLSHandshakeError, TLSVerifyError

__all__ = [
    "CLIENT_CERT_REQUIRED",
    "TLS_REQUIRED",
    "TLS_WRITE_BOUND",
    "TlsStream",
    "handshake_error",
    "plaintext_refusal",
    "sniff_tls",
    "ssl_cause",
]

TLS_WRITE_BOUND = 60.0
"""Longest one TLS write may take, shielded from cancellation (TLS-4)."""

TLS_REQUIRED = "TLS required"
"""How a TLS host's refusal of a plaintext client begins (TLS-5)."""

CLIENT_CERT_REQUIRED = "client certificate required"
"""How a mutual-TLS host's refusal of a client without a certificate begins (TLS-2)."""


class TlsStream(trio.abc.Stream):
    """A :class:`trio.SSLStream` whose writes are never torn (TLS-4); remembers the ``ssl``
    error that broke it (``failure``), so a hang-up can be explained."""

    def __init__(self, inner: trio.SSLStream[trio.abc.Stream]) -> None:
        self.inner = inner
        self.failure: ssl.SSLError | None = None

    def _note(self, exc: BaseException) -> None:
        cause = ssl_cause(exc)
        if cause is not None and self.failure is None:
            self.failure = cause

    async def do_handshake(self) -> None:
        """Run the TLS handshake (trio's errors, with ``failure`` noted)."""
        try:
            await self.inner.do_handshake()
        except trio.BrokenResourceError as exc:
            self._note(exc)
            raise

    def getpeercert(self) -> object:
        """The peer's verified certificate (empty/None when it presented none)."""
        return self.inner.getpeercert()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + TLS_WRITE_BOUND
            try:
                await self.inner.send_all(data)
            except trio.BrokenResourceError as exc:
                self._note(exc)
                raise
        if scope.cancelled_caught:
            raise trio.BrokenResourceError("a TLS write took too long")
        await trio.lowlevel.checkpoint_if_cancelled()

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        try:
            return await self.inner.receive_some(max_bytes)
        except trio.BrokenResourceError as exc:
            self._note(exc)
            raise

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self.inner.transport_stream)


def ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    """The ``ssl`` error behind ``exc`` (itself, or its cause or context), or None."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


async def sniff_tls(sock: trio.socket.SocketType) -> bool | None:
    """Whether the client's first byte opens a TLS handshake (a ClientHello record), without
    consuming it; None when the client hung up before sending a byte."""
    first = await sock.recv(1, _stdsocket.MSG_PEEK)
    if not first:
        return None
    return first == b"\x16"


def plaintext_refusal() -> bytes:
    """The HTTP answer a TLS host gives a plaintext client (TLS-5)."""
    body = (
        f"{TLS_REQUIRED}: this host accepts wss (TLS) only; attach with "
        "tls=meshtrio.TLSConfig(ca=...) naming the CA that signed its certificate"
    ).encode()
    return (
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


_VERIFY_HINTS = {
    9: "it is not valid yet: check the clocks, or give the host a current certificate",
    10: "it has expired: give the host a renewed certificate (--tls-cert)",
    18: "it is self-signed and not trusted: pass tls=meshtrio.TLSConfig(ca=...) naming it",
    19: "its chain ends in a CA this client does not trust: pass tls=meshtrio.TLSConfig(ca=...) "
    "naming the CA that signed it",
    20: "it is not signed by a CA this client trusts: pass tls=meshtrio.TLSConfig(ca=...) naming "
    "the CA that signed it",
    21: "it is not signed by a CA this client trusts: pass tls=meshtrio.TLSConfig(ca=...) naming "
    "the CA that signed it",
}
_VERIFY_HINTS[62] = _VERIFY_HINTS[64] = (
    "it does not name the address connected to: connect to a name or IP address in its "
    "subjectAltName, or reissue it for this one"
)

_ALERTS_ABOUT_US = (
    "ALERT_UNKNOWN_CA",
    "ALERT_BAD_CERTIFICATE",
    "ALERT_CERTIFICATE_REQUIRED",
    "ALERT_CERTIFICATE_EXPIRED",
    "ALERT_CERTIFICATE_UNKNOWN",
    "ALERT_HANDSHAKE_FAILURE",
    "ALERT_DECRYPT_ERROR",
)


def handshake_error(
    cause: ssl.SSLError | None, address: str, *, after_handshake: bool = False
) -> TLSError:
    """The error for a TLS handshake to ``address`` that failed with ``cause`` (None: the
    host hung up before or during it), saying what to fix (TLS-5). ``after_handshake``: our
    side of the handshake had finished when the host hung up (TLS 1.3 checks a client's
    certificate only then, and trio does not send the alert: the client sees a hang-up)."""
    if isinstance(cause, ssl.SSLCertVerificationError):
        reason = cause.verify_message or str(cause)
        hint = _VERIFY_HINTS.get(
            cause.verify_code, "give tls=meshtrio.TLSConfig(ca=...) the CA that signed it"
        )
        error: TLSError = TLSVerifyError(
            f"{address}: the host's TLS certificate was not accepted ({reason}): {hint}",
            address=address,
            reason=reason,
        )
    elif cause is not None and any(a in (cause.reason or "") for a in _ALERTS_ABOUT_US):
        error = TLSHandshakeError(
            f"{address}: the host refused this client's TLS certificate ({cause.reason}): it "
            "requires mutual TLS; pass tls=meshtrio.TLSConfig(ca=..., cert=..., key=...) with a "
            "certificate signed by the CA it was given (--tls-ca)",
            address=address,
        )
    elif after_handshake:
        error = TLSHandshakeError(
            f"{address}: the host hung up right after the TLS handshake: it did not accept "
            "this client's TLS certificate (or got none). If it requires mutual TLS "
            "(--tls-ca), pass tls=meshtrio.TLSConfig(ca=..., cert=..., key=...) with a "
            "certificate signed by that CA",
            address=address,
        )
    else:
        what = cause.reason or str(cause) if cause is not None else "the host hung up"
        error = TLSHandshakeError(
            f"{address}: the TLS handshake failed ({what}): is the host started with "
            "--tls-cert? A plaintext host cannot speak TLS: attach without tls=, or start "
            "the host with a certificate",
            address=address,
        )
    if cause is not None:
        error.__cause__ = cause
    return error
