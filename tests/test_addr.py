"""Tests for meshtrio._addr: channel address parsing, display and views."""

from __future__ import annotations

import ipaddress
import pathlib
import pickle
import re

import cattrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from id_strategies import abstract_unix_addrs, channel_addrs, tcp_addrs

from meshtrio import ChannelAddr
from meshtrio.errors import AddrParseError

CONVERTER = cattrs.Converter()


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("tcp:127.0.0.1:1234", {"transport": "tcp", "host": "127.0.0.1", "port": 1234}),
        ("tcp:[::1]:1234", {"transport": "tcp", "host": "::1", "port": 1234}),
        ("tcp:0.0.0.0:0", {"transport": "tcp", "host": "0.0.0.0", "port": 0}),
        ("tcp:[fe80::1%eth0]:80", {"host": "fe80::1%eth0", "port": 80}),
        ("tcp:[::ffff:102:304]:5", {"host": "::ffff:102:304", "port": 5}),
        ("unix:/tmp/x.sock", {"transport": "unix", "path": "/tmp/x.sock", "abstract": False}),
        ("unix:@x", {"transport": "unix", "path": "x", "abstract": True}),
        ("unix:", {"transport": "unix", "path": "", "abstract": False}),
        ("unix:rel/x!y:z.sock", {"path": "rel/x!y:z.sock"}),
        ("unix:/a@b", {"path": "/a@b", "abstract": False}),
        ("local:5", {"transport": "local", "index": 5}),
        ("local:18446744073709551615", {"index": 2**64 - 1}),
    ],
)
def test_parse_examples_and_exact_display(text: str, fields: dict[str, object]) -> None:
    """Canonical address text parses into the expected fields and prints back unchanged."""
    addr = ChannelAddr.parse(text)
    for name, value in fields.items():
        assert getattr(addr, name) == value
    assert str(addr) == text


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("127.0.0.1", "no channel type specified"),
        ("", "no channel type specified"),
        ("tls:host:5", "unknown channel type 'tls'"),
        ("TCP:1.2.3.4:5", "unknown channel type 'TCP'"),
        ("alias:dial_to=a;bind_to=b", "unknown channel type 'alias'"),
        ("tcp:::1:5", "must be in brackets"),
        ("tcp:localhost:5", "not an IP address"),
        ("tcp:1.2.3.4", "want 'tcp:IP:PORT'"),
        ("tcp:1.2.3.4:", "not a number"),
        ("tcp:1.2.3.4:65536", "port 65536 is outside 0..65535"),
        ("tcp:1.2.3.4:-1", "not a number"),
        ("tcp:1.2.3.4:+1", "not a number"),
        ("tcp:1.2.3.4:\uff11", "not a number"),
        ("tcp:1.2.3.4:" + "9" * 5000, "not a number"),
        ("tcp:[1.2.3.4]:5", "only IPv6 goes in brackets"),
        ("tcp:[::1:5", "want 'tcp:[IPv6]:PORT'"),
        ("tcp:[::1]", "want 'tcp:[IPv6]:PORT'"),
        ("tcp:01.2.3.4:5", "not an IP address"),
        ("unix:@", "cannot be empty"),
        ("unix:/a\0b", "NUL"),
        ("local:", "want 'local:N'"),
        ("local:-1", "want 'local:N'"),
        ("local:18446744073709551616", "want 'local:N'"),
        ("local:" + "1" * 5000, "want 'local:N'"),
    ],
)
def test_parse_errors_name_the_problem(text: str, fragment: str) -> None:
    """Bad address text raises AddrParseError whose message names what was wrong."""
    with pytest.raises(AddrParseError, match=re.escape(fragment)):
        ChannelAddr.parse(text)


def test_parse_rejects_non_str() -> None:
    """Parsing a non-str is an AddrParseError."""
    with pytest.raises(AddrParseError):
        ChannelAddr.parse(b"tcp:1.2.3.4:5")  # type: ignore[arg-type]


@given(channel_addrs())
def test_text_round_trip(addr: ChannelAddr) -> None:
    """parse(str(a)) == a, and the text is stable, for every address."""
    text = str(addr)
    back = ChannelAddr.parse(text)
    assert back == addr
    assert hash(back) == hash(addr)
    assert str(back) == text


_PREFIXED = st.builds(
    lambda p, r: p + r,
    st.sampled_from(["tcp:", "tcp:[", "unix:", "unix:@", "local:", "tls:", "", ":"]),
    st.text(max_size=30) | st.from_regex(r"[0-9a-f:.\[\]%]{0,20}:[0-9+-]{0,7}", fullmatch=True),
)


@given(st.text(max_size=40) | _PREFIXED)
def test_parse_any_text_only_raises_addrparseerror(text: str) -> None:
    """Arbitrary text parses or raises AddrParseError, and a parsed address is canonical."""
    try:
        addr = ChannelAddr.parse(text)
    except AddrParseError:
        return
    assert ChannelAddr.parse(str(addr)) == addr


def test_parse_normalises_ip_text() -> None:
    """Non-canonical IPv6 text and zero-padded ports parse to the canonical form."""
    assert str(ChannelAddr.parse("tcp:[0:0::1]:01234")) == "tcp:[::1]:1234"
    assert str(ChannelAddr.parse("tcp:[::FFFF:7F00:1]:1")) == "tcp:[::ffff:7f00:1]:1"


def test_tcp_constructor_accepts_ip_objects_and_brackets() -> None:
    """tcp() takes IP text, bracketed v6 text or ipaddress objects, giving the same address."""
    a = ChannelAddr.tcp("::1", 5)
    assert a == ChannelAddr.tcp("[::1]", 5) == ChannelAddr.tcp(ipaddress.ip_address("::1"), 5)


@pytest.mark.parametrize(
    ("host", "port"), [("example.com", 1), ("1.2.3.4", -1), ("1.2.3.4", 65536), ("::1", True)]
)
def test_tcp_constructor_validates(host: str, port: int) -> None:
    """tcp() refuses host names and out-of-range or non-int ports with AddrParseError."""
    with pytest.raises(AddrParseError):
        ChannelAddr.tcp(host, port)


def test_unix_constructors() -> None:
    """unix() takes str or PathLike and refuses '@'-prefixed paths; unix_abstract() needs a name."""
    assert ChannelAddr.unix(pathlib.Path("/tmp/s")) == ChannelAddr.parse("unix:/tmp/s")
    assert ChannelAddr.unix() == ChannelAddr.parse("unix:")
    with pytest.raises(AddrParseError, match="abstract"):
        ChannelAddr.unix("@x")
    assert str(ChannelAddr.unix("./@x")) == "unix:./@x"
    with pytest.raises(AddrParseError):
        ChannelAddr.unix_abstract("")
    with pytest.raises(AddrParseError):
        ChannelAddr.unix(5)  # type: ignore[arg-type]


@pytest.mark.parametrize("index", [-1, 2**64, True, "3"])
def test_local_constructor_validates(index: object) -> None:
    """local() requires an int in the u64 range."""
    with pytest.raises(AddrParseError):
        ChannelAddr.local(index)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fields",
    [
        {"transport": "tcp", "host": "1.2.3.4"},
        {"transport": "tcp", "host": "1.2.3.4", "port": 1, "path": "/x"},
        {"transport": "local", "index": 1, "abstract": True},
        {"transport": "unix", "path": "x", "abstract": 1},
        {"transport": "quic", "host": "1.2.3.4", "port": 1},
    ],
)
def test_direct_construction_checks_consistency(fields: dict[str, object]) -> None:
    """Building a ChannelAddr from inconsistent fields raises AddrParseError."""
    with pytest.raises(AddrParseError):
        ChannelAddr(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "is_any", "is_loopback"),
    [
        ("tcp:127.0.0.1:0", True, True),
        ("tcp:127.0.0.1:80", False, True),
        ("tcp:[::1]:80", False, True),
        ("tcp:[::ffff:127.0.0.1]:80", False, True),
        ("tcp:10.0.0.1:80", False, False),
        ("tcp:0.0.0.0:0", True, False),
        ("tcp:[::]:5", False, False),
        ("unix:", True, True),
        ("unix:/x", False, True),
        ("unix:@x", False, True),
        ("local:0", True, True),
        ("local:3", False, True),
    ],
)
def test_is_any_and_is_loopback(text: str, is_any: bool, is_loopback: bool) -> None:
    """is_any marks pick-on-bind addresses; is_loopback marks machine-local ones."""
    addr = ChannelAddr.parse(text)
    assert addr.is_any is is_any
    assert addr.is_loopback is is_loopback


def test_sockaddr() -> None:
    """sockaddr gives (host, port) for tcp, the path for unix, NUL-prefixed for abstract."""
    assert ChannelAddr.parse("tcp:[::1]:5").sockaddr == ("::1", 5)
    assert ChannelAddr.parse("unix:/tmp/s").sockaddr == "/tmp/s"
    assert ChannelAddr.parse("unix:@name").sockaddr == "\0name"
    for text in ("unix:", "local:1"):
        with pytest.raises(AddrParseError, match="no socket address"):
            _ = ChannelAddr.parse(text).sockaddr


@given(tcp_addrs() | abstract_unix_addrs())
def test_pickle_and_cattrs_round_trip(addr: ChannelAddr) -> None:
    """Addresses survive pickling and a plain cattrs converter."""
    conv = CONVERTER
    assert pickle.loads(pickle.dumps(addr)) == addr
    assert conv.structure(conv.unstructure(addr), ChannelAddr) == addr
