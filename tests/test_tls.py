"""TLS between clients, host agents and procs (TLS-1..7, PR-3, PR-5), on loopback.

Certificates are made by ``trustme`` in a temporary directory. Host agents run as tasks of the
test (``serve_host_agent(tls=...)``) or as ``python -m meshtrio host --tls-cert ...``
processes; their procs are OS processes (they connect back over TLS and serve their actors
over TLS). Every test is bounded with ``trio.fail_after``; those that start processes check
that none is left behind.
"""

from __future__ import annotations

import datetime
import functools
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import pytest
import trio
import trio.testing
import trustme
from hosts import host_env, read_first_line, reap

import meshtrio
from meshtrio import (
    Actor,
    AuthRejectedError,
    ChannelAddr,
    ConfigPushError,
    InputError,
    TLSConfig,
    TLSHandshakeError,
    TLSRequiredError,
    TLSVerifyError,
    endpoint,
    serve_host_agent,
)
from meshtrio._pool import ConnectionPool
from meshtrio._tls import ServerTLS, client_context
from meshtrio.testing import no_leaked_processes

pytestmark = pytest.mark.processes

TOKEN = "tls-test-token"
LIMIT = 60
"""Seconds a test here may take at most (real clock)."""


@attrs.frozen
class Pki:
    """Files of one test's certificates."""

    ca: str
    host: str  # certificate chain and key of the hosts (127.0.0.1 and localhost)
    client: str  # a client certificate (and key) signed by ``ca``
    other_ca: str  # a CA that signed nothing here
    other_client: str  # a client certificate signed by ``other_ca``
    expired: str  # an expired host certificate signed by ``ca``
    wrong_name: str  # a host certificate for 10.9.9.9 only, signed by ``ca``


def _write(blob: trustme.Blob, path: Path) -> str:
    blob.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca, other = trustme.CA(), trustme.CA()
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    return Pki(
        ca=_write(ca.cert_pem, d / "ca.pem"),
        host=_write(
            ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem, d / "host.pem"
        ),
        client=_write(ca.issue_cert("client").private_key_and_cert_chain_pem, d / "client.pem"),
        other_ca=_write(other.cert_pem, d / "other-ca.pem"),
        other_client=_write(
            other.issue_cert("client").private_key_and_cert_chain_pem, d / "other-client.pem"
        ),
        expired=_write(
            ca.issue_cert("127.0.0.1", not_after=past).private_key_and_cert_chain_pem,
            d / "expired.pem",
        ),
        wrong_name=_write(
            ca.issue_cert("10.9.9.9").private_key_and_cert_chain_pem, d / "wrong-name.pem"
        ),
    )


def server(pki: Pki, *, mutual: bool = False, cert: str | None = None) -> ServerTLS:
    path = cert or pki.host
    return ServerTLS(cert=path, key=path, ca=pki.ca if mutual else None)


def client(pki: Pki, *, mutual: bool = False) -> TLSConfig:
    if mutual:
        return TLSConfig(ca=pki.ca, cert=pki.client, key=pki.client)
    return TLSConfig(ca=pki.ca)


@asynccontextmanager
async def host_task(
    tls: ServerTLS | None, listen: str = "tcp:127.0.0.1:0"
) -> AsyncIterator[ChannelAddr]:
    """A host agent task of this run (procs as OS processes), ended with the block."""
    async with trio.open_nursery() as nursery:
        bound: ChannelAddr = await nursery.start(
            functools.partial(serve_host_agent, listen, token=TOKEN, tls=tls)
        )
        yield bound
        nursery.cancel_scope.cancel()


async def connect_once(addr: ChannelAddr, tls: ssl.SSLContext | None, token: str = TOKEN) -> None:
    """Open one client connection to ``addr`` (raises what the pool raises, unwrapped)."""
    try:
        async with trio.open_nursery() as nursery:
            pool = ConnectionPool(nursery, token, tls=tls)
            try:
                await pool.peer(addr, timeout=5)
            finally:
                await pool.aclose()
    except BaseExceptionGroup as group:
        (leaf,) = group.exceptions
        raise leaf from leaf.__cause__


class Echo(Actor):
    """A trivial actor (travels by value: this module is no installed distribution)."""

    @endpoint
    def plus(self, x: int) -> int:
        return x + meshtrio.context().rank

    @endpoint
    async def relay(self, other: meshtrio.ActorMesh[Echo], x: int) -> list[int]:
        """Call another actor mesh from inside a proc (proc to proc, over TLS too)."""
        return (await other.plus.call(x)).values()


# -- the round trip ------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["plaintext", "tls", "mutual"])
async def test_tls1_attach_spawn_call_shutdown(pki: Pki, mode: str) -> None:
    """The same attach / spawn / actor call / proc-to-proc call / stop / shutdown works in
    plaintext, over TLS and over mutual TLS; over TLS the procs' actor addresses are reached
    over wss too (a plaintext client could not even connect, see the tests below)."""
    secure, mutual = mode != "plaintext", mode == "mutual"
    with no_leaked_processes(), trio.fail_after(LIMIT):
        async with host_task(server(pki, mutual=mutual) if secure else None) as addr:
            tls = client(pki, mutual=mutual) if secure else None
            async with meshtrio.attach([addr], token=TOKEN, tls=tls) as mesh:
                procs = await mesh.spawn("p", {"gpus": 2})
                echo = await procs.spawn("echo", Echo)
                assert (await echo.plus.call(10)).values() == [10, 11]
                callers = await procs.spawn("callers", Echo)
                got = await callers.slice(hosts=0, gpus=0).relay.call_one(echo, 5)
                assert got == [5, 6]
                await procs.stop()
                report = await mesh.shutdown()
                assert not report.failures, report


@pytest.mark.parametrize("mode", ["tls", "mutual"])
async def test_tls1_states_info_stacks_and_stop(pki: Pki, mode: str) -> None:
    """Host and proc requests besides spawn work over TLS too: states (a keepalive), info,
    stacks (each proc answers itself over its TLS endpoint), stop; nothing is left."""
    mutual = mode == "mutual"
    with no_leaked_processes(), trio.fail_after(LIMIT):
        async with host_task(server(pki, mutual=mutual)) as addr:
            tls = client(pki, mutual=mutual)
            async with meshtrio.attach([addr], token=TOKEN, tls=tls) as mesh:
                procs = await mesh.spawn("p", {"gpus": 2})
                states = (await procs.states(keepalive=True)).values()
                assert [s.status.is_running for s in states] == [True, True]
                (info,) = (await mesh.info()).values()
                assert info.proc_count == 2
                stacks = (await procs.stacks()).values()
                assert [s.source for s in stacks] == ["proc", "proc"], stacks
                stopped = (await procs.stop()).values()
                assert all(s.status.is_terminating for s in stopped), stopped
                await mesh.shutdown()


async def test_pr3_wildcard_host_procs_reached_at_the_hosts_address(pki: Pki) -> None:
    """A host on the wildcard: its procs listen on the wildcard too and the client reaches
    them at the address it reached the host at (not a loopback address of the host's
    choosing), over TLS, the certificate naming that address."""
    with no_leaked_processes(), trio.fail_after(LIMIT):
        async with host_task(server(pki), "tcp:0.0.0.0:0") as bound:
            addr = ChannelAddr.tcp("127.0.0.1", bound.port or 0)
            async with meshtrio.attach([addr], token=TOKEN, tls=client(pki)) as mesh:
                procs = await mesh.spawn("p", {"gpus": 1})
                (proc,) = procs.procs
                assert proc.address is not None
                assert proc.address.host == "127.0.0.1", proc.address
                assert proc.address.port != bound.port
                echo = await procs.spawn("echo", Echo)
                assert (await echo.plus.call(1)).values() == [1]
                await mesh.shutdown()


def test_pr3_reached_via() -> None:
    """Only a wildcard tcp address is rewritten, to the host's IP with its own port."""
    host = ChannelAddr.parse("tcp:10.1.2.3:700")
    assert ChannelAddr.parse("tcp:0.0.0.0:9").reached_via(host) == ChannelAddr.parse(
        "tcp:10.1.2.3:9"
    )
    assert ChannelAddr.parse("tcp:[::]:9").reached_via(host) == ChannelAddr.parse("tcp:10.1.2.3:9")
    same = ChannelAddr.parse("tcp:127.0.0.1:9")
    assert same.reached_via(host) is same
    unix = ChannelAddr.parse("unix:@x")
    assert unix.reached_via(host) is unix


# -- typed errors ------------------------------------------------------------------------------
async def test_tls5_wrong_ca_is_a_verify_error(pki: Pki) -> None:
    """A client that trusts another CA: TLSVerifyError naming the verifier's reason and the
    fix (pass the CA that signed the host's certificate)."""
    with trio.fail_after(LIMIT):
        async with host_task(server(pki)) as addr:
            wrong = TLSConfig(ca=pki.other_ca).context()
            with pytest.raises(TLSVerifyError) as info:
                await connect_once(addr, wrong)
            assert "unable to get local issuer certificate" in info.value.reason
            assert "TLSConfig(ca=" in str(info.value)
            assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)


async def test_tls5_expired_certificate_is_a_verify_error(pki: Pki) -> None:
    """A host whose certificate expired: TLSVerifyError saying so (and to renew it)."""
    with trio.fail_after(LIMIT):
        async with host_task(server(pki, cert=pki.expired)) as addr:
            with pytest.raises(TLSVerifyError) as info:
                await connect_once(addr, client(pki).context())
            assert "expired" in info.value.reason
            assert "renewed certificate" in str(info.value)


async def test_tls1_certificate_must_name_the_address(pki: Pki) -> None:
    """A certificate for another address: TLSVerifyError (the name is checked, TLS-1)."""
    with trio.fail_after(LIMIT):
        async with host_task(server(pki, cert=pki.wrong_name)) as addr:
            with pytest.raises(TLSVerifyError) as info:
                await connect_once(addr, client(pki).context())
            assert "subjectAltName" in str(info.value)


async def test_tls5_plaintext_client_of_a_tls_host(pki: Pki) -> None:
    """A plaintext client of a TLS host: TLSRequiredError at once (the host answers it in
    HTTP), saying to attach with tls=; through attach, the host's failure is kind ``tls``."""
    with trio.fail_after(LIMIT):
        async with host_task(server(pki)) as addr:
            with pytest.raises(TLSRequiredError) as info:
                await connect_once(addr, None)
            assert "tls=meshtrio.TLSConfig" in str(info.value)
            with pytest.raises(ConfigPushError) as pushed:
                async with meshtrio.attach([addr], token=TOKEN):
                    pass
            assert [f.kind for f in pushed.value.failures] == ["tls"]
            assert "TLS required" in pushed.value.failures[0].cause


async def test_tls5_tls_client_of_a_plaintext_host(pki: Pki) -> None:
    """A TLS client of a plaintext host: TLSHandshakeError at once, naming both fixes."""
    with trio.fail_after(LIMIT):
        async with host_task(None) as addr:
            with pytest.raises(TLSHandshakeError) as info:
                await connect_once(addr, client(pki).context())
            assert "--tls-cert" in str(info.value)
            assert "without tls=" in str(info.value)


async def test_tls2_mutual_needs_a_client_certificate(pki: Pki) -> None:
    """A host with a client CA: a client without a certificate is refused (saying to pass
    one), one with a certificate of another CA fails the TLS handshake; both
    TLSHandshakeError. The right one is served."""
    with trio.fail_after(LIMIT):
        async with host_task(server(pki, mutual=True)) as addr:
            with pytest.raises(TLSHandshakeError) as none:
                await connect_once(addr, client(pki).context())
            assert "client certificate required" in str(none.value)
            assert "cert=" in str(none.value)
            stranger = TLSConfig(ca=pki.ca, cert=pki.other_client, key=pki.other_client)
            with pytest.raises(TLSHandshakeError) as other:
                await connect_once(addr, stranger.context())
            assert "client certificate" in str(other.value) or "TLS certificate" in str(
                other.value
            ), other.value
            await connect_once(addr, client(pki, mutual=True).context())


async def test_tls3_token_still_authenticates(pki: Pki) -> None:
    """Over TLS, a wrong token is still refused (AuthRejectedError, not a TLS error)."""
    with trio.fail_after(LIMIT):
        async with host_task(server(pki)) as addr:
            with pytest.raises(AuthRejectedError):
                await connect_once(addr, client(pki).context(), token="wrong-token")


def test_tls_settings_are_checked(pki: Pki, tmp_path: Path) -> None:
    """Bad TLS settings are InputErrors before anything connects."""
    with pytest.raises(InputError, match="both cert= and key="):
        TLSConfig(ca=pki.ca, cert=pki.client)
    with pytest.raises(InputError, match="cannot load the CA file"):
        TLSConfig(ca=str(tmp_path / "missing.pem")).context()
    with pytest.raises(InputError, match="cannot load the host certificate"):
        ServerTLS(cert=pki.ca, key=pki.ca).server_context()  # a CA cert without its key
    with pytest.raises(InputError, match="client context"):
        client_context(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    with pytest.raises(InputError, match="tls= takes"):
        client_context("ca.pem")  # type: ignore[arg-type]
    ctx = ssl.create_default_context(cafile=pki.ca)
    assert client_context(ctx) is ctx


async def test_tls_config_keys_turn_tls_on(pki: Pki) -> None:
    """``tls_ca`` (MESHTRIO_TLS_CA) makes attach use TLS without tls=."""
    with no_leaked_processes(), trio.fail_after(LIMIT):
        async with host_task(server(pki)) as addr:
            with meshtrio.config.configured(tls_ca=pki.ca):
                async with meshtrio.attach([addr], token=TOKEN) as mesh:
                    await mesh.shutdown()


# -- the command line ----------------------------------------------------------------------------
def run_host(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m meshtrio host ARGS`` that is expected to refuse to start."""
    return subprocess.run(
        [sys.executable, "-m", "meshtrio", "host", *args],
        env=host_env(TOKEN),
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_cli_plaintext_beyond_loopback_needs_insecure(pki: Pki) -> None:
    """A non-loopback plaintext bind is refused without --insecure (exit 2, saying what to
    pass); half a certificate, or unreadable files, are refused too."""
    done = run_host("--listen", "tcp:0.0.0.0:0")
    assert done.returncode == 2, done
    assert "--insecure" in done.stderr, done.stderr
    assert "--tls-cert" in done.stderr, done.stderr
    done = run_host("--listen", "tcp:127.0.0.1:0", "--tls-cert", pki.host)
    assert done.returncode == 2, done
    assert "go together" in done.stderr, done.stderr
    done = run_host("--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.pem")
    assert done.returncode == 2, done
    assert "cannot load" in done.stderr, done.stderr


@pytest.fixture
def hand_started_tls_host(pki: Pki) -> list[str]:
    return [
        sys.executable,
        "-m",
        "meshtrio",
        "host",
        "--listen",
        "tcp:0.0.0.0:0",
        "--tls-cert",
        pki.host,
        "--tls-key",
        pki.host,
        "--tls-ca",
        pki.ca,
    ]


async def test_cli_host_with_certificate(pki: Pki, hand_started_tls_host: list[str]) -> None:
    """``meshtrio host --listen tcp:0.0.0.0:P --tls-cert --tls-key --tls-ca`` starts without
    --insecure and without a warning, serves mutual TLS, runs procs and actors over TLS, and
    exits 0 when shut down."""
    with no_leaked_processes(), trio.fail_after(LIMIT):
        proc = await trio.lowlevel.open_process(
            hand_started_tls_host,
            env=host_env(TOKEN),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            assert proc.stderr is not None
            bound = ChannelAddr.parse(await read_first_line(proc.stdout))
            addr = ChannelAddr.tcp("127.0.0.1", bound.port or 0)
            tls = client(pki, mutual=True)
            async with meshtrio.attach([addr], token=TOKEN, tls=tls) as mesh:
                procs = await mesh.spawn("p", {"gpus": 1})
                echo = await procs.spawn("echo", Echo)
                assert (await echo.plus.call(2)).values() == [2]
                (state,) = (await procs.states()).values()
                proc_pid = state.pid
                # `meshtrio stacks` reaches the host and its proc (at the host's address,
                # PR-3) over mutual TLS, with the settings from the environment.
                env = {
                    **host_env(TOKEN),
                    "MESHTRIO_TLS_CA": pki.ca,
                    "MESHTRIO_TLS_CERT": pki.client,
                    "MESHTRIO_TLS_KEY": pki.client,
                }
                done = await trio.run_process(
                    [sys.executable, "-m", "meshtrio", "stacks", str(mesh.ref)],
                    env=env,
                    capture_stdout=True,
                    capture_stderr=True,
                )
                out = done.stdout.decode()
                assert done.returncode == 0, done.stderr.decode()
                assert f"=== proc mesh {procs.id}" in out, out
                assert f"pid {proc_pid}: proc\n" in out, out  # the proc itself answered
                await mesh.shutdown()
            assert await proc.wait() == 0
            err = (await proc.stderr.receive_some(65536)).decode()
            assert "WARNING" not in err, err
        finally:
            with trio.CancelScope(shield=True):
                await reap(proc)


# -- the TLS stream ---------------------------------------------------------------------------
async def test_tls4_a_cancelled_write_is_sent_whole(pki: Pki) -> None:
    """A write cancelled while the socket is full still goes out whole (its records were
    made): the reader decrypts it all, and the next write too (the record stream is intact)."""
    from meshtrio._transport.frame_stream import FrameStream
    from meshtrio._transport.tls_streams import TlsStream

    with trio.fail_after(LIMIT):
        a, b = trio.socket.socketpair()
        writer = TlsStream(
            FrameStream(trio.SocketStream(a)),
            client(pki).context(),
            server_side=False,
            server_hostname="127.0.0.1",
        )
        reader = TlsStream(
            FrameStream(trio.SocketStream(b)), server(pki).server_context(), server_side=True
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader.do_handshake)
            await writer.do_handshake()
        big = bytes(range(256)) * 16384  # 4 MiB: more than the socket buffers hold
        got = bytearray()
        scope = trio.CancelScope()

        async def write() -> None:
            with scope:
                await writer.send_all(big)  # blocks: nobody reads yet
            await writer.send_all(b"after")

        async def read_all() -> None:
            while len(got) < len(big) + 5:
                got.extend(await reader.receive_some())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(write)
            await trio.testing.wait_all_tasks_blocked()  # the write waits for room
            scope.cancel()
            await trio.testing.wait_all_tasks_blocked()  # ... and goes on waiting (TLS-4)
            nursery.start_soon(read_all)
        assert scope.cancelled_caught, "the cancellation is delivered once the data is out"
        assert bytes(got) == big + b"after"
        await writer.aclose()
        await reader.aclose()


def _memory_handshake(client: ssl.SSLContext, server: ssl.SSLContext) -> None:
    """A TLS handshake between two contexts over memory BIOs (raises the client's error)."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    c = client.wrap_bio(c_in, c_out, server_hostname="127.0.0.1")
    s = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        done = 0
        for side in (c, s):
            try:
                side.do_handshake()
                done += 1
            except ssl.SSLWantReadError:
                pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if done == 2:
            return


def test_tls1_a_proc_trusts_exactly_its_hosts_certificate_not_its_issuer(
    tmp_path: Path,
) -> None:
    """TLS-1: a proc's link to its host pins the host's own certificate. When the host's
    --tls-cert is a chain (leaf and intermediate CA), a server showing another certificate
    from that intermediate (any name: the pinned link checks none) is refused."""
    root = trustme.CA()
    intermediate = root.create_child_ca()
    host = _write(
        intermediate.issue_cert("127.0.0.1").private_key_and_cert_chain_pem, tmp_path / "host.pem"
    )
    with open(host) as f:
        assert f.read().count("BEGIN CERTIFICATE") == 2  # leaf and intermediate
    impostor = intermediate.issue_cert("impostor.example")
    link = ServerTLS(cert=host, key=host).host_link_context()
    genuine = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    genuine.load_cert_chain(host)
    _memory_handshake(link, genuine)  # the host itself is trusted
    fake = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    impostor.configure_cert(fake)
    with pytest.raises(ssl.SSLCertVerificationError):
        _memory_handshake(link, fake)


async def test_tls6_a_clean_close_is_not_a_truncation(pki: Pki) -> None:
    """TLS-6: closing a TLS stream sends ``close_notify``: the peer reads a clean end of
    stream (b""), not a broken (truncated) connection."""
    from meshtrio._transport.frame_stream import FrameStream
    from meshtrio._transport.tls_streams import TlsStream

    with trio.fail_after(LIMIT):
        a, b = trio.socket.socketpair()
        closer = TlsStream(
            FrameStream(trio.SocketStream(a)),
            client(pki).context(),
            server_side=False,
            server_hostname="127.0.0.1",
        )
        peer = TlsStream(
            FrameStream(trio.SocketStream(b)), server(pki).server_context(), server_side=True
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(peer.do_handshake)
            await closer.do_handshake()
        await closer.send_all(b"last words")
        await closer.aclose()
        got = b""
        while chunk := await peer.receive_some():
            got += chunk
        assert got == b"last words"
        assert peer.failure is None
        await peer.aclose()


def test_tls7_a_proc_verifies_other_procs_by_name_against_its_documented_anchors(
    tmp_path: Path,
) -> None:
    """TLS-7: a proc calling another proc accepts a certificate for the address it calls
    issued by its host chain's CA or by the configured ``ca``, and refuses one from that same
    CA naming another address, and one from a CA it was never given."""
    root = trustme.CA()
    intermediate = root.create_child_ca()
    host = _write(
        intermediate.issue_cert("127.0.0.1").private_key_and_cert_chain_pem, tmp_path / "host.pem"
    )
    client_ca = trustme.CA()
    ca_file = _write(client_ca.cert_pem, tmp_path / "ca.pem")
    peer = ServerTLS(cert=host, key=host, ca=ca_file).peer_context()

    def serving(ca: trustme.CA, name: str) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(name).configure_cert(ctx)
        return ctx

    _memory_handshake(peer, serving(intermediate, "127.0.0.1"))  # a sibling host's proc
    _memory_handshake(peer, serving(client_ca, "127.0.0.1"))  # the configured CA
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        _memory_handshake(peer, serving(intermediate, "other.example"))
    with pytest.raises(ssl.SSLCertVerificationError):
        _memory_handshake(peer, serving(trustme.CA(), "127.0.0.1"))
