"""Tests for meshtrio._host_ref: HostRef and HostMeshRef."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from id_strategies import bootstrap_commands
from strategies import GRAMMAR_ALPHABET, apply_op, host_mesh_refs, ops, regions

from meshtrio import (
    BootstrapCommand,
    ChannelAddr,
    Extent,
    HostMeshId,
    HostMeshRef,
    HostRef,
    Label,
    Region,
)
from meshtrio.errors import (
    AddrParseError,
    CardinalityError,
    HostMeshRefParseError,
    IdParseError,
    InputError,
    RegionParseError,
)

TEST = HostMeshId.singleton("test")


def test_upstream_range_example() -> None:
    """The upstream example: ranging replica 1 keeps hosts 3 and 4 and prints as upstream."""
    ref = HostMeshRef.parse("test:local:1,local:2,local:3,local:4@replica=2/2,host=2/1")
    assert len(ref) == 4
    assert ref.region.sizes == (2, 2)
    sliced = ref.range("replica", 1)
    assert str(sliced) == "test:local:3,local:4@2+replica=1/2,host=2/1"
    assert sliced.id == ref.id


def test_upstream_round_trip_example() -> None:
    """A 2x2 mesh of four tcp:127.0.0.1:123 hosts survives print then parse."""
    addr = ChannelAddr.parse("tcp:127.0.0.1:123")
    ref = HostMeshRef(TEST, Extent(replica=2, host=2).region(), [addr] * 4)
    back = HostMeshRef.parse(str(ref))
    assert back.id == ref.id
    assert back.region == ref.region
    assert back.addrs == (addr,) * 4
    assert back == ref


def test_host_ref_text() -> None:
    """A HostRef prints as its channel address."""
    assert str(HostRef.parse("unix:@x")) == "unix:@x"
    with pytest.raises(InputError):
        HostRef("local:1")  # type: ignore[arg-type]


def test_from_hosts_uses_hosts_label() -> None:
    """from_hosts builds a hosts=N/1 region from addresses or address text."""
    ref = HostMeshRef.from_hosts(TEST, ["local:1", ChannelAddr.local(2)])
    assert str(ref) == "test:local:1,local:2@hosts=2/1"
    empty = HostMeshRef.from_hosts(TEST, [])
    assert str(empty) == "test:@hosts=0/1"
    assert HostMeshRef.parse("test:@hosts=0/1") == empty
    assert HostMeshRef.parse("test:   @hosts=0/1") == empty
    with pytest.raises(AddrParseError):
        HostMeshRef.from_hosts(TEST, ["nope"])


def test_unity_region_and_at_signs_in_hosts() -> None:
    """A unity region prints nothing after '@'; hosts may contain '@' themselves."""
    ref = HostMeshRef(TEST, Region.parse(""), [ChannelAddr.parse("unix:@a@b")])
    assert str(ref) == "test:unix:@a@b@"
    assert HostMeshRef.parse(str(ref)) == ref


def test_quoted_region_labels_may_contain_at_signs() -> None:
    """An '@' inside a quoted region label does not split the text there."""
    region = Extent.from_pairs([('a@"b', 2)]).region()
    ref = HostMeshRef(TEST, region, ["unix:@x", "local:2"])
    assert str(ref) == 'test:unix:@x,local:2@"a@\\"b"=2/1'
    assert HostMeshRef.parse(str(ref)) == ref


def test_cardinality_is_checked() -> None:
    """The host count must equal the region's rank count."""
    with pytest.raises(CardinalityError, match="2 ranks but 1 hosts"):
        HostMeshRef(TEST, Extent(hosts=2).region(), ["local:1"])
    with pytest.raises(InputError):
        HostMeshRef("test", Extent(hosts=1).region(), ["local:1"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "part", "cause"),
    [
        ("test", "':'", None),
        ("test:local:1", "'@'", None),
        ("Bad:local:1@", "host mesh id", IdParseError),
        ("test:local:1,nope@hosts=2/1", "host #1", AddrParseError),
        ("test:local:1@hosts=2/", "region", RegionParseError),
        ("test:local:1@hosts=2/1", "2 ranks but 1 hosts", CardinalityError),
        ("test:local:1,@hosts=2/1", "host #1", AddrParseError),
    ],
)
def test_parse_errors_name_the_part(text: str, part: str, cause: type | None) -> None:
    """Each parse failure is a HostMeshRefParseError naming the part, with its cause chained."""
    with pytest.raises(HostMeshRefParseError, match=part) as info:
        HostMeshRef.parse(text)
    if cause is not None:
        assert isinstance(info.value.__cause__, cause)


def test_sliced_requires_subset_and_keeps_id_and_bootstrap() -> None:
    """sliced() rejects non-subsets and keeps the id and bootstrap command."""
    cmd = BootstrapCommand("/bin/true")
    ref = HostMeshRef.from_hosts(TEST, [f"local:{i}" for i in range(1, 5)]).with_bootstrap(cmd)
    assert ref.bootstrap_command == cmd
    sub = ref.sliced(Region.parse("1+hosts=2/2"))
    assert [str(h) for h in sub.hosts] == ["local:2", "local:4"]
    assert sub.id == TEST
    assert sub.bootstrap_command == cmd
    with pytest.raises(InputError, match="not a subset"):
        ref.sliced(Region.parse("3+hosts=2/1"))
    with pytest.raises(InputError):
        ref.sliced("hosts=1/1")  # type: ignore[arg-type]


def test_bootstrap_command_is_not_in_text_but_in_equality() -> None:
    """The bootstrap command is not printed, so a parsed ref has none; equality sees it."""
    ref = HostMeshRef.from_hosts(TEST, ["local:1"])
    with_cmd = ref.with_bootstrap(BootstrapCommand("/bin/true"))
    assert str(with_cmd) == str(ref)
    assert HostMeshRef.parse(str(with_cmd)).bootstrap_command is None
    assert with_cmd != ref
    assert with_cmd.with_bootstrap(None) == ref
    assert hash(with_cmd.with_bootstrap(None)) == hash(ref)


@given(host_mesh_refs())
def test_host_mesh_ref_round_trip(ref: HostMeshRef) -> None:
    """str() then parse() gives back an equal ref with the same text."""
    text = str(ref)
    back = HostMeshRef.parse(text)
    assert back == ref
    assert str(back) == text


@given(host_mesh_refs(), bootstrap_commands())
def test_bootstrap_survives_slicing(ref: HostMeshRef, cmd: BootstrapCommand) -> None:
    """Slicing keeps the bootstrap command and the id."""
    ref = ref.with_bootstrap(cmd)
    sub = ref.sliced(ref.region)
    assert sub == ref
    assert sub.bootstrap_command == cmd


@given(st.data(), regions())
def test_slicing_picks_hosts_by_base_rank(data: st.DataObject, region: Region) -> None:
    """Slicing a ref picks the same hosts as slicing its region (host i serves base rank b_i)."""
    ref = HostMeshRef(TEST, region, [ChannelAddr.local(b + 1) for b in region.base_ranks()])
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(ops(ref.region))
        try:
            expected_region = apply_op(ref.region, op)
        except (LookupError, ValueError) as err:
            with pytest.raises(type(err)):
                if op[0] == "range":
                    ref.range(op[1], op[2])
                else:
                    ref.sliced(ref.region.at(op[1], op[2]))
            continue
        ref = ref.range(op[1], op[2]) if op[0] == "range" else ref.sliced(expected_region)
        assert ref.region == expected_region
        assert [a.index for a in ref.addrs] == [b + 1 for b in expected_region.base_ranks()]
        assert ref.id == TEST


def _check_only_parse_error(text: str) -> None:
    try:
        ref = HostMeshRef.parse(text)
    except HostMeshRefParseError:
        return
    assert HostMeshRef.parse(str(ref)) == ref


@given(st.text())
def test_arbitrary_text_raises_only_parse_error(text: str) -> None:
    """Any text either parses (and round-trips) or raises HostMeshRefParseError."""
    _check_only_parse_error(text)


@given(st.text(GRAMMAR_ALPHABET, max_size=40))
def test_grammar_alphabet_text_raises_only_parse_error(text: str) -> None:
    """Text over the grammar's alphabet either parses or raises HostMeshRefParseError."""
    _check_only_parse_error(text)


@given(host_mesh_refs(), st.data())
def test_mutated_ref_text_raises_only_parse_error(ref: HostMeshRef, data: st.DataObject) -> None:
    """Valid ref text with one character changed parses or raises HostMeshRefParseError."""
    text = str(ref)
    i = data.draw(st.integers(0, len(text) - 1))
    c = data.draw(st.sampled_from(GRAMMAR_ALPHABET))
    _check_only_parse_error(text[:i] + c + text[i + 1 :])


def test_a_quote_in_a_unix_address_does_not_hide_the_region() -> None:
    """Found by Hypothesis: an abstract unix address holding a double quote (``unix:@"``) next
    to a quoted region label made the parser split at the address's ``@``; the ref now
    round-trips (the first split whose parts parse is taken)."""
    ref = HostMeshRef(
        HostMeshId.singleton(Label("a")),
        Region(('"',), 0, (1,), (1,)),
        (HostRef(ChannelAddr.unix_abstract('"')),),
    )
    assert HostMeshRef.parse(str(ref)) == ref
