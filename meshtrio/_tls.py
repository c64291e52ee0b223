"""TLS settings: what a client trusts and presents (:class:`TLSConfig`), what a host serves
(:class:`ServerTLS`), and the :class:`ssl.SSLContext` each side builds from them.

A host agent started with a certificate (``python -m meshtrio host --tls-cert C --tls-key K
[--tls-ca CA]``) speaks only ``wss``; so do the procs it starts, which serve their actor
endpoint with the same certificate and key (the host hands them the paths in their bootstrap
payload, never the key itself). A client attaches with ``tls=meshtrio.TLSConfig(ca=...)`` (or an
:class:`ssl.SSLContext` of its own), which it uses for the hosts and for their procs alike.

Invariants owned here:

* TLS-1 (verified by default): a client context verifies the host's certificate chain and its
  name against the address connected to (``check_hostname``); nothing here turns that off for
  clients. A proc connecting back to its own host trusts exactly its host's certificate, the
  first one in its certificate file (the proc and the host share that file; no name check, the
  certificate is pinned; the chain's CAs are not trusted there).
* TLS-2 (mutual TLS is opt-in per host): a host given ``ca`` asks every peer for a
  certificate signed by that CA, and serves a client-token (or actor-token) connection only
  if one was presented and verified; a proc's own connection back to its host needs none (it
  presents its scoped proc credential, AU-1). A presented certificate that does not verify
  ends the TLS handshake. Not promised: that a host without ``ca`` checks anything about the
  client beyond its token.
* TLS-3 (the token still authenticates): TLS adds confidentiality and host authentication; the
  opening handshake's token check (TR-1, AU-1) runs on every connection, TLS or not.
* TLS-7 (a proc's calls to other procs verify as a client's do): the proc checks the peer
  certificate's name against the address it calls, always, and accepts a chain ending at
  any of: the system's default CAs (what a client's ``TLSConfig()`` without ``ca`` trusts:
  hosts with publicly issued certificates), the certificates in its own host's certificate
  file, its chain's CAs included (how a proc learns the private CA that issued its sibling
  hosts' certificates when no ``ca`` is configured), and the configured ``ca``. This is
  wider than a pinned link on purpose: a proc calls procs of *other* hosts, whose
  certificates it cannot know ahead; the name check is what makes it sound (a certificate
  from any of these anchors is accepted only for the address it names). Not promised: that
  a proc trusts less than the system store (a deployment that must not trust public CAs
  for proc addresses has to use names or IPs no public CA certifies, as for clients).
"""

from __future__ import annotations

import ssl

import attrs

from meshtrio._errors import InputError

__all__ = ["ClientTLS", "ServerTLS", "TLSConfig", "client_context"]


def _load(what: str, fn: object, *args: str | None) -> None:
    try:
        fn(*args)  # type: ignore[operator]
    except (OSError, ssl.SSLError, ValueError) as exc:
        detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        paths = ", ".join(a for a in args if a)
        raise InputError(f"TLS: cannot load {what} ({paths}): {detail}") from None


_PEM_END = "-----END CERTIFICATE-----"


def _first_certificate(path: str) -> str:
    """The first PEM certificate in ``path`` (a chain file's leaf).

    Raises:
        InputError: the file cannot be read or holds no certificate.
    """
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError as exc:
        raise InputError(
            f"TLS: cannot load the host certificate ({path}): {exc.strerror}"
        ) from None
    start = text.find("-----BEGIN CERTIFICATE-----")
    end = text.find(_PEM_END, start)
    if start < 0 or end < 0:
        raise InputError(f"TLS: cannot load the host certificate ({path}): no PEM certificate")
    return text[start : end + len(_PEM_END)] + "\n"


@attrs.frozen
class TLSConfig:
    """A client's TLS settings: the CA to trust, and a certificate for mutual TLS.

    Pass it as ``attach(..., tls=meshtrio.TLSConfig(ca="ca.pem"))``; the client then connects to
    hosts and their procs over ``wss`` only, verifying their certificates against ``ca``
    (and their names against the addresses it connects to).

    Attributes:
        ca: a PEM file of the CA certificate(s) to trust (None: the system's trust store).
        cert: a PEM file of this client's certificate (chain), for hosts that require mutual
            TLS (``--tls-ca``); give ``key`` with it.
        key: the private key of ``cert``.
    """

    ca: str | None = None
    cert: str | None = None
    key: str | None = None

    def __attrs_post_init__(self) -> None:
        for name in ("ca", "cert", "key"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise InputError(f"TLSConfig({name}=...) must be a non-empty path, got {value!r}")
        if (self.cert is None) != (self.key is None):
            raise InputError("TLS: give both cert= and key= (a client certificate), or neither")

    def context(self) -> ssl.SSLContext:
        """A client context that verifies hosts against :attr:`ca` (TLS-1) and presents
        :attr:`cert` if given.

        Raises:
            InputError: a file cannot be read or is not a certificate / key.
        """
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if self.ca is not None:
            _load("the CA file", ctx.load_verify_locations, self.ca)
        if self.cert is not None:
            _load("the client certificate", ctx.load_cert_chain, self.cert, self.key)
        return ctx


ClientTLS = TLSConfig | ssl.SSLContext
"""What ``attach(tls=...)`` takes: settings, or a client context made by the caller."""


def client_context(tls: ClientTLS | None) -> ssl.SSLContext | None:
    """The client context for ``tls`` (None: plaintext).

    Raises:
        InputError: ``tls`` is neither a :class:`TLSConfig` nor an :class:`ssl.SSLContext`, a
            server-side context, or its files cannot be loaded.
    """
    if tls is None:
        return None
    if isinstance(tls, TLSConfig):
        return tls.context()
    if isinstance(tls, ssl.SSLContext):
        if tls.protocol == ssl.PROTOCOL_TLS_SERVER:
            raise InputError(
                "tls= takes a client context (ssl.PROTOCOL_TLS_CLIENT), not a server one"
            )
        return tls
    raise InputError(f"tls= takes meshtrio.TLSConfig or ssl.SSLContext, got {type(tls).__name__}")


@attrs.frozen
class ServerTLS:
    """A host's TLS settings (also handed to its procs, as paths, in their bootstrap payload):
    ``serve_host_agent(..., tls=meshtrio.ServerTLS(cert=..., key=...))`` is what
    ``meshtrio host --tls-cert ... --tls-key ... [--tls-ca ...]`` runs.

    Attributes:
        cert: a PEM file of the host's certificate (chain): it must name every address clients
            use to reach the host (a DNS name or IP in its subjectAltName).
        key: the private key of ``cert``.
        ca: a PEM file of the CA whose certificates clients must present (mutual TLS, TLS-2);
            None: clients present none.
    """

    cert: str
    key: str
    ca: str | None = None

    @property
    def mutual(self) -> bool:
        """True when clients must present a certificate signed by :attr:`ca` (TLS-2)."""
        return self.ca is not None

    def server_context(self) -> ssl.SSLContext:
        """The context a host (or one of its procs) serves with (TLS-2).

        Raises:
            InputError: a file cannot be read, or the key does not match the certificate.
        """
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.num_tickets = 0  # clients never resume a session: send no tickets
        _load("the host certificate and key", ctx.load_cert_chain, self.cert, self.key)
        if self.ca is not None:
            _load("the client CA file", ctx.load_verify_locations, self.ca)
            # Optional at the TLS layer: a proc connecting back presents none (it has its
            # scoped credential); the opening handshake refuses a client without one (TLS-2).
            ctx.verify_mode = ssl.CERT_OPTIONAL
        return ctx

    def host_link_context(self) -> ssl.SSLContext:
        """The context a proc connects back to its host with: it trusts exactly the host's
        certificate file (pinned; no name check: the host may listen on a wildcard), TLS-1."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # the leaf itself is the anchor
        # The leaf alone: trusting the whole chain file would trust its intermediate CA, and
        # so (with no name check) every certificate that CA ever signed.
        try:
            ctx.load_verify_locations(cadata=_first_certificate(self.cert))
        except (ssl.SSLError, ValueError) as exc:
            raise InputError(
                f"TLS: cannot load the host certificate ({self.cert}): {exc}"
            ) from None
        return ctx

    def peer_context(self) -> ssl.SSLContext:
        """The context a proc calls other procs' actors with (TLS-7): it checks names, and
        trusts as anchors the system's default CAs, every certificate in its host's
        certificate file (the host's own and the CAs of its chain) and :attr:`ca`; it presents
        the host's certificate when the host requires mutual TLS (so procs of hosts that
        share a CA can call each other)."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        _load("the host certificate", ctx.load_verify_locations, self.cert)
        if self.ca is not None:
            _load("the client CA file", ctx.load_verify_locations, self.ca)
            _load("the host certificate and key", ctx.load_cert_chain, self.cert, self.key)
        return ctx
