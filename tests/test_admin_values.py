"""The admin's values: the host set (SA-3, Hypothesis-checked), and what ``serve_admin``
refuses or merges before anything is served (SA-1, SA-2, SA-6 / CH-1), and node references.

These need no hosts: meshes are stood in for by :class:`~meshtrio.HostMeshRef` values (they
have the ``addrs`` the aggregation reads) or by a tiny fake with no hosts.
"""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from id_strategies import channel_addrs

from meshtrio import ChannelAddr, HostMeshRef, InputError
from meshtrio._admin import aggregate_hosts, serve_admin
from meshtrio._admin_refs import parse_ref
from meshtrio._host_set import HostSet
from meshtrio._ids import HostMeshId
from meshtrio.errors import AdminRefError

hosts_lists = st.lists(st.integers(0, 20), max_size=30)


def ref_of(*ports: int) -> HostMeshRef:
    return HostMeshRef.from_hosts(
        HostMeshId.singleton("m"), [ChannelAddr.tcp("127.0.0.1", p) for p in ports]
    )


@attrs.frozen
class NoHosts:
    addrs: tuple[ChannelAddr, ...] = ()


def test_sa1_empty_mesh_set_rejected() -> None:
    """SA-1: no meshes at all is an InputError naming SA-1."""
    with pytest.raises(InputError, match=r"SA-1"):
        aggregate_hosts([])


async def test_sa1_serve_admin_refuses_before_serving() -> None:
    """SA-1 holds for serve_admin itself: it raises before any server starts."""
    with pytest.raises(InputError, match=r"SA-1"):
        async with serve_admin([]):
            pytest.fail("an admin over no meshes was served")


def test_sa2_empty_hosts_rejected() -> None:
    """SA-2: a mesh with no hosts is refused, naming its index."""
    with pytest.raises(InputError, match=r"mesh at index 1 has no hosts \(SA-2\)"):
        aggregate_hosts([ref_of(1), NoHosts(), ref_of(2)])


def test_sa3_aggregate_hosts_dedup() -> None:
    """SA-3: the meshes' hosts in first-seen order, each once."""
    hosts = aggregate_hosts([ref_of(3, 1), ref_of(1, 2, 3), ref_of(4)])
    assert [a.port for a in hosts] == [3, 1, 2, 4], "SA-3: first-seen order, no duplicates"


def test_sa4_one_mesh_is_a_list_of_one() -> None:
    """SA-4: the hosts of one mesh are those of a list holding it."""
    assert list(aggregate_hosts([ref_of(5, 6)])) == list(ref_of(5, 6).addrs)


def test_sa6_ch1_client_host_dedup() -> None:
    """SA-6 / CH-1: the client's own hosts come after the meshes', once each, whether or not
    a mesh already holds them."""
    hosts = aggregate_hosts([ref_of(1, 2)], client_hosts=[ref_of(2, 9), ref_of(9, 8)])
    assert [a.port for a in hosts] == [1, 2, 9, 8], "CH-1: merged after, de-duplicated"
    alone = aggregate_hosts([ref_of(1)], client_hosts=[ref_of(7)])
    assert [a.port for a in alone] == [1, 7], "CH-1: a client host no mesh holds is added last"


def test_sa3_host_set_insert_idempotent() -> None:
    """SA-3: inserting a held host returns the very same set."""
    s = HostSet.of([1, 2])
    assert s.insert(2) is s
    assert s.insert(3).insert(3) == HostSet.of([1, 2, 3])


@given(hosts_lists, st.integers(0, 20))
def test_sa3_insert_idempotent_property(hosts: list[int], host: int) -> None:
    """SA-3: insert(x) twice equals insert(x) once, for any set and host."""
    s = HostSet.of(hosts)
    assert s.insert(host).insert(host) == s.insert(host)
    assert host in s.insert(host)


@given(hosts_lists)
def test_sa3_first_seen_order_property(hosts: list[int]) -> None:
    """SA-3: the order is the order of first occurrence, and nothing appears twice."""
    s = HostSet.of(hosts)
    expected: list[int] = []
    for h in hosts:
        if h not in expected:
            expected.append(h)
    assert list(s) == expected
    assert len(set(s)) == len(s)


@given(hosts_lists, hosts_lists, hosts_lists)
def test_sa3_union_associative_property(a: list[int], b: list[int], c: list[int]) -> None:
    """SA-3: (a | b) | c == a | (b | c), and union is insertion one by one."""
    x, y, z = HostSet.of(a), HostSet.of(b), HostSet.of(c)
    assert (x | y) | z == x | (y | z)
    folded = x
    for h in y:
        folded = folded.insert(h)
    assert folded == x | y


@given(st.lists(channel_addrs(), max_size=8))
def test_sa3_addresses_dedup_by_value(addrs: list[ChannelAddr]) -> None:
    """SA-3 over channel addresses: an address parsed back from its text is the same host."""
    s = HostSet.of(addrs)
    assert HostSet.of([ChannelAddr.parse(str(a)) for a in addrs]) == s


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("root", "root"),
        ("mesh:hosts-1111111111z", "mesh"),
        ("host:tcp:127.0.0.1:80", "host"),
        ("proc:w-0-1111111111z", "proc"),
        ("actors:a.0123", "actors"),
        ("actor:a.0123/4", "actor"),
    ],
)
def test_node_refs_parse(text: str, kind: str) -> None:
    """Each reference form parses to its kind."""
    assert parse_ref(text)[0] == kind


@pytest.mark.parametrize(
    "text", ["", "nonsense", "proc:", "host:not an address", "actor:a.0123", "actor:/3", "x:y"]
)
def test_node_refs_malformed(text: str) -> None:
    """A malformed reference is an AdminRefError (an InputError: HTTP 400)."""
    with pytest.raises(AdminRefError) as info:
        parse_ref(text)
    assert isinstance(info.value, InputError)


def test_page_assets_ship_in_the_package_and_fetch_nothing_elsewhere() -> None:
    """The page's HTML, CSS and JS are package data (so a wheel carries them) and load
    nothing from another origin (no CDN)."""
    import importlib.resources
    import re

    from meshtrio._admin_http import STATIC

    root = importlib.resources.files("meshtrio").joinpath("_admin_static")
    for name in STATIC:
        text = root.joinpath(name).read_text(encoding="utf-8")
        assert text.strip(), name
        assert not re.search(r"(src|href)=\"(https?:)?//", text), f"{name} loads from elsewhere"
        assert "@import" not in text


async def test_serve_admin_refuses_refs_bad_listen_and_a_taken_port() -> None:
    """Only live meshes are served (the admin reads over their connections); a malformed or
    taken ``listen`` is an InputError, raised plainly (no ExceptionGroup), and nothing is
    served."""
    import trio

    from meshtrio import open_host_mesh_in_process

    with pytest.raises(InputError, match=r"live HostMesh"):
        async with serve_admin([ref_of(1)]):
            pytest.fail("served a ref")
    with trio.fail_after(20):
        async with open_host_mesh_in_process(1) as hosts:
            for bad in ("nonsense", "127.0.0.1:99999", "127.0.0.1:"):
                with pytest.raises(InputError, match=r"listen"):
                    async with serve_admin(hosts, listen=bad):
                        pytest.fail("served on a bad address")
            async with serve_admin(hosts) as first:
                taken = first.url.rsplit(":", 1)[1]
                with pytest.raises(InputError, match=r"cannot listen on 127\.0\.0\.1:\d+"):
                    async with serve_admin(hosts, listen=f"127.0.0.1:{taken}"):
                        pytest.fail("bound a taken port")


async def test_the_blocks_own_exception_leaves_unwrapped() -> None:
    """An exception from the body of ``serve_admin`` leaves it as raised (no group)."""
    import trio

    from meshtrio import open_host_mesh_in_process

    with trio.fail_after(20):
        async with open_host_mesh_in_process(1) as hosts:
            with pytest.raises(KeyError, match="mine"):
                async with serve_admin(hosts):
                    raise KeyError("mine")


async def test_the_admin_prints_its_own_token_once_and_never_a_given_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An admin that made its own token prints where it serves once (stderr); one given a
    token prints nothing (its owner has it)."""
    import trio

    from meshtrio import open_host_mesh_in_process

    with trio.fail_after(20):
        async with open_host_mesh_in_process(1) as hosts:
            async with serve_admin(hosts) as admin:
                err = capsys.readouterr().err
                assert err.count(f"{admin.url}/#token={admin.token}") == 1
            given = "a-token-of-my-own-0123456789"
            async with serve_admin(hosts, token=given) as admin:
                assert admin.token == given
                assert capsys.readouterr().err == ""
