"""PM-1: the up-front checks of a proc mesh spawn (in-process hosts, no OS process).

Every rejected spawn raises :class:`SpawnConfigurationError` and leaves every host untouched:
no proc was started (``proc_count == 0``) and no ``spawn`` lifecycle event was recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import trio

from meshtrio import BootstrapCommand, Extent, HostMesh, Point, open_host_mesh_in_process
from meshtrio.errors import InputError, SpawnConfigurationError
from meshtrio.testing import in_process_mesh


async def assert_nothing_spawned(mesh: HostMesh) -> None:
    """PM-1: no host of ``mesh`` owns a proc or recorded a ``spawn`` event."""
    for info in (await mesh.info()).values():
        assert info.proc_count == 0, f"PM-1: host {info.address} owns {info.proc_count} proc(s)"
        kinds = [e.kind for e in info.events]
        assert "spawn" not in kinds, f"PM-1: host {info.address} recorded a spawn: {kinds}"


def _raising(point: Point) -> BootstrapCommand:
    raise RuntimeError(f"no command for {point}")


def _not_a_command(point: Point) -> Any:
    return ["python", "-m", "meshtrio", "proc"]


BAD_SPAWNS: dict[str, tuple[dict[str, Any], str]] = {
    "overlapping_labels": ({"per_host": {"hosts": 2}}, "overlap"),
    "overlapping_labels_extent": ({"per_host": Extent(gpus=1, hosts=1)}, "overlap"),
    "proc_bind_too_short": ({"per_host": {"gpus": 2}, "proc_bind": [{"cpus": "0"}]}, "proc_bind"),
    "proc_bind_too_long": ({"per_host": {"gpus": 1}, "proc_bind": [{}, {}]}, "proc_bind"),
    "proc_bind_given_empty": ({"per_host": {"gpus": 1}, "proc_bind": []}, "proc_bind"),
    "zero_size_per_host_dim": ({"per_host": {"gpus": 0}}, "zero procs"),
    "zero_size_inner_dim": ({"per_host": Extent(nodes=2, gpus=0)}, "zero procs"),
    "callback_raises": ({"per_host": {"gpus": 2}, "per_rank_bootstrap": _raising}, "raised"),
    "callback_returns_list": (
        {"per_host": {"gpus": 2}, "per_rank_bootstrap": _not_a_command},
        "not a BootstrapCommand",
    ),
    "callback_returns_none": (
        {"per_host": {"gpus": 1}, "per_rank_bootstrap": lambda _p: None},
        "not a BootstrapCommand",
    ),
    "per_host_not_an_extent": ({"per_host": [2]}, "per_host"),
    "per_host_empty_label": ({"per_host": {"": 2}}, "non-empty label"),  # issue 8
    "per_host_empty_label_inner": ({"per_host": {"gpus": 2, "": 1}}, "non-empty label"),
    "proc_bind_unknown_key": (
        {"per_host": {"gpus": 1}, "proc_bind": [{"gpu": "0"}]},
        "unknown key(s) 'gpu'",
    ),
    "proc_bind_unknown_key_beside_known": (
        {"per_host": {"gpus": 2}, "proc_bind": [{"cpus": "0"}, {"cpus": "1", "numa": "0"}]},
        "unknown key(s) 'numa'",
    ),
    "proc_bind_empty_value": (
        {"per_host": {"gpus": 1}, "proc_bind": [{"cpus": ""}]},
        "proc_bind['cpus'] must be non-empty text",
    ),
    "proc_bind_blank_value": (
        {"per_host": {"gpus": 2}, "proc_bind": [{"cpus": "0"}, {"membind": "  "}]},
        "proc_bind['membind'] must be non-empty text",
    ),
    "proc_bind_value_not_text": (
        {"per_host": {"gpus": 1}, "proc_bind": [{"cpus": 0}]},
        "proc_bind['cpus'] must be non-empty text",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SPAWNS))
async def test_pm1_rejected_spawn_starts_nothing(case: str) -> None:
    """PM-1: each bad spawn is a SpawnConfigurationError naming the problem; nothing started."""
    kwargs, fragment = BAD_SPAWNS[case]
    with trio.fail_after(10):
        async with in_process_mesh(2) as mesh:
            with pytest.raises(SpawnConfigurationError) as info:
                await mesh.spawn("bad", **kwargs)
            assert fragment in str(info.value), f"PM-1: {case}: message {info.value}"
            await assert_nothing_spawned(mesh)


async def test_pm1_zero_procs_rejected() -> None:
    """PM-1: a 0-size per_host dimension is rejected; the message names hosts and per_host."""
    with trio.fail_after(10):
        async with in_process_mesh(2) as mesh:
            with pytest.raises(SpawnConfigurationError, match=r"zero procs: 2 host\(s\)"):
                await mesh.spawn("none", {"gpus": 0})
            await assert_nothing_spawned(mesh)


async def test_pm1_zero_host_mesh_rejected() -> None:
    """PM-1: spawning on a mesh of zero hosts is rejected up front, not left to time out."""
    with trio.fail_after(10):
        async with open_host_mesh_in_process(0, in_process_procs=True) as mesh:
            assert len(mesh) == 0, "PM-1: the mesh should have no hosts"
            with pytest.raises(SpawnConfigurationError, match=r"zero procs: 0 host\(s\)"):
                await mesh.spawn("none", {"gpus": 2})


async def test_pm1_overlapping_labels_name_both_sides() -> None:
    """PM-1: the overlap error names the overlapping per_host label and the host labels."""
    with trio.fail_after(10):
        async with in_process_mesh(1) as mesh:
            with pytest.raises(SpawnConfigurationError) as info:
                await mesh.spawn("w", {"gpus": 1, "hosts": 1})
            assert "'hosts'" in str(info.value), f"PM-1: message {info.value}"
            assert isinstance(info.value, ValueError), "PM-1: a spawn check is a ValueError"
            await assert_nothing_spawned(mesh)


async def test_pm1_proc_bind_length_message() -> None:
    """PM-1: a proc_bind of the wrong length says how many entries were given and needed."""
    with trio.fail_after(10):
        async with in_process_mesh(1) as mesh:
            with pytest.raises(SpawnConfigurationError, match=r"3 entries .* 2 ranks"):
                await mesh.spawn("w", {"gpus": 2}, proc_bind=[{}, {}, {}])
            await assert_nothing_spawned(mesh)


async def test_pm1_unknown_proc_bind_key_names_the_allowed_keys() -> None:
    """PM-1: an unknown proc_bind key is refused with the list of keys that are allowed."""
    with trio.fail_after(10):
        async with in_process_mesh(2) as mesh:
            with pytest.raises(SpawnConfigurationError) as info:
                await mesh.spawn("w", {"gpus": 1}, proc_bind=[{"gpu": "0"}])
            message = str(info.value)
            for key in ("cpus", "cpunodebind", "membind", "physcpubind"):
                assert key in message, f"PM-1: allowed key {key} not named: {message}"
            await assert_nothing_spawned(mesh)


async def test_pm1_callback_error_names_rank_and_cause() -> None:
    """PM-1: a raising per-rank callback's error names the rank, its point and the cause."""
    calls: list[int] = []

    def fail_at_three(point: Point) -> BootstrapCommand:
        calls.append(point.rank)
        if point.rank == 3:
            raise KeyError("no such image")
        return BootstrapCommand.default()

    with trio.fail_after(10):
        async with in_process_mesh(2) as mesh:
            with pytest.raises(SpawnConfigurationError) as info:
                await mesh.spawn("w", {"gpus": 2}, per_rank_bootstrap=fail_at_three)
            message = str(info.value)
            assert "rank 3" in message, f"PM-1: message {message}"
            assert "no such image" in message, f"PM-1: message {message}"
            assert isinstance(info.value.__cause__, KeyError), "PM-1: the cause is chained"
            assert calls == [0, 1, 2, 3], f"PM-1: callback calls {calls}"
            await assert_nothing_spawned(mesh)


async def test_pm1_callback_sees_every_point_in_rank_order() -> None:
    """PM-1/PM-4: the per-rank callback gets every point of host extent + per_host, in order
    (it rejects the last rank, so the whole vector is built and nothing is spawned)."""
    seen: list[tuple[int, dict[str, int]]] = []
    last = 3 * 2 - 1

    def record(point: Point) -> BootstrapCommand:
        seen.append((point.rank, dict(zip(point.extent.labels, point.coords, strict=True))))
        if point.rank == last:
            raise RuntimeError("stop here")
        return BootstrapCommand.default()

    with trio.fail_after(10):
        async with in_process_mesh(3) as mesh:
            with pytest.raises(SpawnConfigurationError):
                await mesh.spawn("w", {"gpus": 2}, per_rank_bootstrap=record)
            expected = [(h * 2 + g, {"hosts": h, "gpus": g}) for h in range(3) for g in range(2)]
            assert seen == expected, f"PM-1: callback points {seen}"
            await assert_nothing_spawned(mesh)


async def test_pm1_bad_per_host_sizes_are_input_errors() -> None:
    """PM-1: per_host sizes that are not sizes fail as InputError before anything is sent."""
    bad: list[Any] = [{"gpus": -1}, {"gpus": "two"}, {"gpus": 1.5}, {3: 1}]
    with trio.fail_after(10):
        async with in_process_mesh(1) as mesh:
            for per_host in bad:
                with pytest.raises(InputError):
                    await mesh.spawn("w", per_host)
            await assert_nothing_spawned(mesh)


async def test_pm1_mesh_still_spawns_after_rejections() -> None:
    """PM-1: a rejected spawn leaves the mesh usable: a good spawn afterwards succeeds."""
    rejections: list[Callable[[HostMesh], Any]] = [
        lambda m: m.spawn("w", {"hosts": 1}),
        lambda m: m.spawn("w", {"gpus": 0}),
        lambda m: m.spawn("w", {"gpus": 1}, per_rank_bootstrap=_raising),
    ]
    with trio.fail_after(10):
        async with in_process_mesh(2) as mesh:
            for reject in rejections:
                with pytest.raises(SpawnConfigurationError):
                    await reject(mesh)
            await assert_nothing_spawned(mesh)
            procs = await mesh.spawn("w", {"gpus": 1})
            statuses = [str(s.status) for s in (await procs.states()).values()]
            assert statuses == ["Running", "Running"], f"PM-1: after rejections: {statuses}"


async def test_pm1_proc_bind_entries_that_are_not_mappings_are_rejected() -> None:
    """PM-1: a proc_bind that is not a sequence of mappings is a SpawnConfigurationError."""
    bad: list[Any] = [["0-3"], [None], 5, "cpus=0", {"cpus": "0"}]
    with trio.fail_after(10):
        async with in_process_mesh(1) as mesh:
            for proc_bind in bad:
                with pytest.raises(SpawnConfigurationError, match="proc_bind"):
                    await mesh.spawn("w", {"gpus": 1}, proc_bind=proc_bind)
            await assert_nothing_spawned(mesh)
