"""TLS under the WebSocket: the stream wrapper, the server's first-byte sniff, and what a
failed TLS handshake means (the ``ssl`` error turned into a :class:`~meshtrio.errors.TLSError`
that says what to fix).

Invariants owned here:

* TLS-4 (whole writes under TLS): a write that started (its data went into TLS records)
  finishes even if its caller is cancelled meanwhile (then the cancellation is delivered), as
  SK-1 for plaintext: TLS records encrypted but not sent would break the record sequence for
  good. The write is bounded by the socket's own send timeout (SK-1).
* TLS-5 (a wrong mix is told, not timed out): a TLS host answers a plaintext client with an
  HTTP refusal that says TLS is required (the client raises
  :class:`~meshtrio.errors.TLSRequiredError` at once); a TLS client of a plaintext host fails
  its handshake at once (:class:`~meshtrio.errors.TLSHandshakeError`), and certificate
  failures raise :class:`~meshtrio.errors.TLSVerifyError` naming what the verifier said. Not
  promised: which of the two a middlebox that mangles the first bytes produces.
* TLS-6 (a close is not a truncation): :meth:`TlsStream.aclose` of a stream that is not
  broken sends TLS ``close_notify`` before closing the socket, so the peer reads a clean end
  of stream, not a truncation error. Best effort and bounded: it does not wait for the
  peer's ``close_notify``; it gives up if the write cannot start within
  :data:`CLOSE_BOUND` (a started write finishes within the send timeout, SK-1), or if
  another task is writing at that moment (the records must not interleave).
"""

from __future__ import annotations

import contextlib
import socket as _stdsocket
import ssl

import trio

from meshtrio._errors import TLSError, TLSHandshakeError, TLSVerifyError
from meshtrio._transport.frame_stream import DEFAULT_RECEIVE_SIZE, FrameStream

__all__ = [
    "CLIENT_CERT_REQUIRED",
    "TLS_REQUIRED",
    "TlsStream",
    "handshake_error",
    "plaintext_refusal",
    "sniff_tls",
    "ssl_cause",
]

TLS_REQUIRED = "TLS required"
"""How a TLS host's refusal of a plaintext client begins (TLS-5)."""

CLIENT_CERT_REQUIRED = "client certificate required"
"""How a mutual-TLS host's refusal of a client without a certificate begins (TLS-2)."""


class TlsStream(trio.abc.Stream):
    """TLS over a :class:`~meshtrio._transport.frame_stream.FrameStream`, with the ``ssl``
    module's memory BIOs (TLS-4).

    Lean on purpose: a message costs its encryption and the socket write, nothing more (no
    locks, no extra passes through the scheduler: trio's :class:`trio.SSLStream` took about
    0.2 ms more per round trip). It relies on its one user, trio-websocket, never writing from
    two tasks at once (it holds a lock around every write), and reading from one task. It
    remembers the ``ssl`` error that broke it (``failure``), so a hang-up can be explained.

    Args:
        raw: the byte stream underneath (owned from now on).
        context: the TLS context.
        server_side: True on the accepting side.
        server_hostname: the name or IP to verify the server's certificate against (clients).
    """

    def __init__(
        self,
        raw: FrameStream,
        context: ssl.SSLContext,
        *,
        server_side: bool,
        server_hostname: str | None = None,
    ) -> None:
        self.raw = raw
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._tls = context.wrap_bio(
            self._in, self._out, server_side=server_side, server_hostname=server_hostname
        )
        self.failure: ssl.SSLError | None = None

    def _broken(self, exc: ssl.SSLError) -> trio.BrokenResourceError:
        if self.failure is None:
            self.failure = exc
        self.raw.gone.set()  # broken for good: whoever waits on the stream learns it now
        broken = trio.BrokenResourceError(f"TLS: {exc.reason or exc}")
        broken.__cause__ = exc
        return broken

    async def _feed(self) -> None:
        """Read one chunk from the socket into the TLS object (end of file included)."""
        data = await self.raw.receive_some()
        if data:
            self._in.write(data)
        else:
            self._in.write_eof()

    async def _flush(self) -> None:
        """Write what the TLS object produced, whole even if cancelled (TLS-4; bounded by
        the socket's send timeout, SK-1)."""
        out = self._out.read()
        if out:
            await self.raw.send_all(out, committed=True)

    async def do_handshake(self) -> None:
        """Run the TLS handshake (trio.BrokenResourceError when it fails; ``failure`` says
        why; the alert, if any, is sent to the peer first)."""
        while True:
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                await self._flush()
                await self._feed()
                continue
            except ssl.SSLError as exc:
                with trio.move_on_after(ALERT_BOUND):
                    try:
                        await self._flush()  # the alert tells the peer why
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        pass
                raise self._broken(exc) from exc
            await self._flush()
            return

    def getpeercert(self) -> object:
        """The peer's verified certificate (empty/None when it presented none)."""
        return self._tls.getpeercert()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()  # cancelled: nothing was encrypted
        try:
            self._tls.write(data)
        except ssl.SSLError as exc:
            raise self._broken(exc) from exc
        await self._flush()

    async def wait_send_all_might_not_block(self) -> None:
        await self.raw.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        size = min(max_bytes or DEFAULT_RECEIVE_SIZE, MAX_RECORD)
        incoming = self._in
        while True:
            # Decrypt only when there is something to decrypt (a failed read costs a buffer).
            if incoming.pending or incoming.eof or self._tls.pending():
                try:
                    return self._tls.read(size)
                except ssl.SSLWantReadError:
                    pass  # part of a record: read on
                except ssl.SSLZeroReturnError:
                    return b""  # the peer closed TLS cleanly
                except ssl.SSLError as exc:
                    raise self._broken(exc) from exc
            await self._feed()

    async def aclose(self) -> None:
        """Send TLS ``close_notify`` (best effort, TLS-6), then close the socket."""
        if self.failure is None and not self.raw.gone.is_set():
            try:
                self._tls.unwrap()  # makes our close_notify
            except ssl.SSLError:
                pass  # SSLWantReadError: the peer's is not awaited; other errors: no alert
            alert = self._out.read()
            if alert:
                with (
                    trio.move_on_after(CLOSE_BOUND),
                    contextlib.suppress(
                        trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError
                    ),
                ):
                    await self.raw.send_all(alert)
        await trio.aclose_forcefully(self.raw)


MAX_RECORD = 16384
"""Largest TLS record payload: one read returns at most this much."""

ALERT_BOUND = 1.0
"""Longest a failed TLS handshake spends sending its alert to the peer."""

CLOSE_BOUND = 1.0
"""Longest a close waits to start sending its ``close_notify`` (TLS-6)."""


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
