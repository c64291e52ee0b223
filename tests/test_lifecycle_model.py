"""A model-based test of the lifecycle of an in-process host mesh whose procs are tasks.

Hypothesis draws a host count and a list of operations (spawn on the whole mesh or on a range
of hosts, with valid and invalid per-host extents; ``ProcMesh.stop``; ``ProcMesh.states``;
``HostMesh.stop`` on the mesh or a range; ``push_config`` with valid and invalid overrides;
``info``). Each example runs one Trio program: it opens ``in_process_mesh(n)``, applies the
operations in order while a small model tracks which proc meshes exist, which of their ranks
should be Running or Stopped, how many live procs each host holds and which config each host
was last given, and checks the mesh against the model after every step. It ends with
``HostMesh.shutdown()``.

Checks, each assertion message starting with the id of the invariant it checks:

* PM-1: an invalid spawn raises SpawnConfigurationError (a size that is not an int >= 0 may
  instead be rejected by Extent itself with ExtentError) and changes nothing on any host: the
  same ``proc_count`` and the same lifecycle events as before.
* PM-2: every rank the model says is Running reads Running, and no host holds fewer live
  procs than the model says.
* PM-4: the proc region is the hosts' extent followed by ``per_host``, dense from 0;
  ``create_rank = H * host_rank + slot``; each proc lives on the host of its dense host rank
  (also on a slice); proc ids derive from (proc mesh id, rank), and hosts report the same ids.
* HA-1: every rank the model says is Stopped (after ``ProcMesh.stop`` or ``HostMesh.stop``
  returned) reads Stopped, and no host holds more live procs than the model says.
* HM-1: after ``push_config`` each host it reached reports the pushed values (from the
  ClientOverride layer); a push replaces the previous one; an invalid push raises ConfigError
  and changes nothing.
* HM-5: shutdown drains every host before any host shuts down; a second call returns the
  first report.
* LM-1: when the mesh block is left, the Trio run has exactly the tasks it had before it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import attrs
import pytest
import trio
from hosts import assert_drains_before_shutdowns, task_count
from hypothesis import example, given
from hypothesis import strategies as st

from meshtrio import HostInfo, HostMesh, Label, ProcMesh, ProcState, ValueMesh, config
from meshtrio._ids import proc_id
from meshtrio._status import StatusKind
from meshtrio.errors import ConfigError, ExtentError, SpawnConfigurationError
from meshtrio.testing import in_process_mesh

EXAMPLE_TIMEOUT = 20.0
"""Real seconds one example's Trio run may take (a typical one takes tens of milliseconds)."""

MAX_HOSTS = 3
"""Hosts per example: 1 to this many."""

Sel = tuple[int, int, int]
"""A range of hosts ``(start, stop, step)``, always selecting at least one host."""

INVALID = object()
"""Marks a config value that ``push_config`` must reject."""

CONFIG_CHOICES: tuple[tuple[str, object, object], ...] = (
    # (key, value pushed, value hosts must report afterwards, or INVALID)
    ("mesh_tail_log_lines", 0, 0),
    ("mesh_tail_log_lines", 7, 7),
    ("mesh_tail_log_lines", "12", 12),
    ("mesh_tail_log_lines", -1, INVALID),
    ("mesh_spawn_concurrency", 3, 3),
    ("mesh_spawn_concurrency", 0, 1),  # clamped into 1..256
    ("mesh_spawn_concurrency", 1000, 256),
    ("proc_spawn_max_idle", 2, 2.0),
    ("proc_spawn_max_idle", "1m 30s", 90.0),
    ("proc_spawn_max_idle", "500ms", 0.5),
    ("proc_spawn_max_idle", "soon", INVALID),
    ("no_such_key", 1, INVALID),
)
"""Overrides ``push_config`` is given, with the value each host must then report."""

CONFIG_KEYS = tuple(sorted({k for k, _, _ in CONFIG_CHOICES if k != "no_such_key"}))
"""The keys HM-1 checks on every host after every step."""


# -- operations --------------------------------------------------------------------------------
@attrs.frozen
class Spawn:
    """``spawn(name, per_host)`` on the mesh (``hosts`` None) or on a range of its hosts."""

    name: str
    per_host: tuple[tuple[str, object], ...]
    hosts: Sel | None


@attrs.frozen
class StopProcs:
    """``ProcMesh.stop()`` on proc mesh ``which`` (modulo how many exist; none: no-op)."""

    which: int


@attrs.frozen
class States:
    """``ProcMesh.states(keepalive=...)`` on proc mesh ``which`` (modulo; none: no-op)."""

    which: int
    keepalive: float | None


@attrs.frozen
class StopHosts:
    """``HostMesh.stop()`` on the mesh or on a range of its hosts."""

    hosts: Sel | None


@attrs.frozen
class PushConfig:
    """``push_config(overrides)`` on the mesh or on a range of its hosts."""

    hosts: Sel | None
    overrides: tuple[tuple[str, object, object], ...]  # entries of CONFIG_CHOICES


@attrs.frozen
class Info:
    """``info()`` on the mesh or on a range of its hosts."""

    hosts: Sel | None


Op = Spawn | StopProcs | States | StopHosts | PushConfig | Info

NAMES = st.one_of(st.sampled_from(["w", "trainer", "", "My Mesh!", "x" * 80]), st.text(max_size=8))
SIZES = st.one_of(st.integers(0, 2), st.integers(0, 2), st.sampled_from([-1, 3, 1.5]))
PER_HOST = st.lists(
    st.tuples(st.sampled_from(["gpus", "nodes", "hosts"]), SIZES),
    max_size=2,
    unique_by=lambda pair: pair[0],
).map(tuple)


def selections(n: int) -> st.SearchStrategy[Sel | None]:
    """None (the whole mesh) or a non-empty range of ``n`` hosts."""
    ranges = st.integers(0, n - 1).flatmap(
        lambda start: st.tuples(st.just(start), st.integers(start + 1, n), st.integers(1, 2))
    )
    return st.one_of(st.none(), ranges)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[int, list[Op]]:
    """A host count and a list of operations on a mesh of that many hosts."""
    n = draw(st.integers(1, MAX_HOSTS))
    sel = selections(n)
    spawn = st.builds(Spawn, NAMES, PER_HOST, sel)
    op = st.one_of(
        spawn,
        spawn,
        st.builds(StopProcs, st.integers(0, 7)),
        st.builds(States, st.integers(0, 7), st.sampled_from([None, 3600.0])),
        st.builds(StopHosts, sel),
        st.builds(
            PushConfig,
            sel,
            st.lists(st.sampled_from(CONFIG_CHOICES), max_size=3, unique_by=lambda c: c[0]).map(
                tuple
            ),
        ),
        st.builds(Info, sel),
    )
    return n, draw(st.lists(op, max_size=10))


# -- the model ---------------------------------------------------------------------------------
@attrs.define
class ModelProcMesh:
    """What the model knows of one proc mesh: where its ranks live and which should run."""

    pm: ProcMesh
    hosts: tuple[int, ...]  # the mesh-wide host index of each of its dense host ranks
    per_host: int
    running: list[bool]

    def host_of(self, rank: int) -> int:
        """The mesh-wide host index of ``rank``."""
        return self.hosts[rank // self.per_host]


@attrs.define
class Model:
    """The expected state of the whole mesh."""

    n: int
    meshes: list[ModelProcMesh] = attrs.Factory(list)
    overrides: list[dict[str, object]] = attrs.field(init=False)  # per host, the last push

    def __attrs_post_init__(self) -> None:
        self.overrides = [{} for _ in range(self.n)]

    def live(self) -> list[int]:
        """Live procs per host."""
        counts = [0] * self.n
        for m in self.meshes:
            for rank, running in enumerate(m.running):
                counts[m.host_of(rank)] += running
        return counts

    def pick(self, which: int) -> ModelProcMesh | None:
        """Proc mesh ``which`` modulo how many exist (None if none does)."""
        return self.meshes[which % len(self.meshes)] if self.meshes else None

    def expected_config(self, host: int, key: str) -> tuple[object, str]:
        """What host ``host`` must report for ``key``: the pushed value, else the client's."""
        value, layer = config.get_with_source(key)
        if layer in (config.Layer.TEST_OVERRIDE, config.Layer.ENV, config.Layer.RUNTIME):
            return value, layer.value  # process-global layers win in-process hosts too
        return self.overrides[host].get(key, value), config.Layer.CLIENT_OVERRIDE.value


def indices(n: int, sel: Sel | None) -> list[int]:
    """The mesh-wide host indices a selection picks."""
    return list(range(n)) if sel is None else list(range(*sel))


def target(mesh: HostMesh, sel: Sel | None) -> HostMesh:
    """The mesh itself or the range a selection picks."""
    return mesh if sel is None else mesh.range("hosts", range(*sel))


# -- checks ------------------------------------------------------------------------------------
def check_counts(infos: Sequence[HostInfo], model: Model, hosts: Sequence[int]) -> None:
    """PM-2 / HA-1: each host holds exactly the live procs the model says."""
    live = model.live()
    for info, h in zip(infos, hosts, strict=True):
        want = live[h]
        if info.proc_count > want:
            raise AssertionError(
                f"HA-1: host {h} ({info.address}) holds {info.proc_count} live procs; the "
                f"model has {want} (procs outlived a stop that returned)"
            )
        assert info.proc_count == want, (
            f"PM-2: host {h} ({info.address}) holds {info.proc_count} live procs; the model "
            f"has {want} (procs ended that nothing stopped)"
        )


def check_config(infos: Sequence[HostInfo], model: Model) -> None:
    """HM-1: each host reports the values of the last push that reached it."""
    for h, info in enumerate(infos):
        for key in CONFIG_KEYS:
            got = tuple(info.config[key])
            want = model.expected_config(h, key)
            assert got == want, f"HM-1: host {h} ({info.address}) reports {key}={got}, not {want}"


def check_states(m: ModelProcMesh, states: ValueMesh[ProcState]) -> None:
    """PM-4 / PM-2 / HA-1: one state per rank, ids as derived, status as the model says."""
    values = list(states.values())
    assert len(values) == len(m.pm.procs), f"PM-4: {len(values)} states for {len(m.pm)} ranks"
    for rank, (st_, ref) in enumerate(zip(values, m.pm.procs, strict=True)):
        where = (st_.create_rank, st_.proc_id, st_.host_rank, st_.host)
        assert where == (rank, ref.proc_id, ref.host_rank, str(ref.host)), (
            f"PM-4: rank {rank} of {m.pm.id}: host reports {where}, client has {ref}"
        )
        kind = st_.status.kind
        if m.running[rank]:
            assert kind is StatusKind.RUNNING, (
                f"PM-2: rank {rank} of {m.pm.id} (host {m.host_of(rank)}) reads {st_.status}; "
                "it was spawned and never stopped"
            )
        else:
            assert kind is StatusKind.STOPPED, (
                f"HA-1: rank {rank} of {m.pm.id} (host {m.host_of(rank)}) reads {st_.status} "
                "after a stop returned"
            )


async def check_model(mesh: HostMesh, model: Model) -> None:
    """Every per-step check against the whole mesh."""
    infos = list((await mesh.info()).values())
    check_counts(infos, model, range(model.n))
    check_config(infos, model)
    for m in model.meshes:
        check_states(m, await m.pm.states())


def check_layout(
    pm: ProcMesh, part: HostMesh, per_host: Mapping[str, int], name: str, seen: set[str]
) -> None:
    """PM-4: region, rank layout and proc ids of a fresh proc mesh on ``part``."""
    h = math.prod(per_host.values())
    assert pm.region.labels == ("hosts", *per_host), f"PM-4: labels {pm.region}"
    assert pm.region.sizes == (len(part), *per_host.values()), f"PM-4: sizes {pm.region}"
    assert pm.region.offset == 0, f"PM-4: the proc region is not dense from 0: {pm.region}"
    assert len(pm.procs) == len(part) * h, f"PM-4: {len(pm.procs)} procs on {len(part)} x {h}"
    assert str(pm.id).rsplit("-", 1)[0] == Label.sanitize(name), f"PM-4: id {pm.id} for {name!r}"
    assert str(pm.id) not in seen, f"PM-4: proc mesh id {pm.id} reused"
    for rank, ref in enumerate(pm.procs):
        assert (ref.create_rank, ref.host_rank) == (rank, rank // h), f"PM-4: rank {rank}: {ref}"
        assert ref.host == part.addrs[ref.host_rank], f"PM-4: rank {rank} on {ref.host}"
        assert ref.proc_id == str(proc_id(pm.id, rank)), f"PM-4: rank {rank} id {ref.proc_id}"


def spawn_rejection(per_host: Mapping[str, object]) -> tuple[tuple[type[Exception], ...], str]:
    """The errors a spawn with ``per_host`` may raise and a text its message must hold, or
    ``((), "")`` when it is valid."""
    for label, size in per_host.items():
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            return (SpawnConfigurationError, ExtentError), repr(label)
    if "hosts" in per_host:
        return (SpawnConfigurationError,), "overlap"
    if 0 in per_host.values():
        return (SpawnConfigurationError,), "zero procs"
    return (), ""


# -- applying operations -----------------------------------------------------------------------
async def apply(op: Op, mesh: HostMesh, model: Model, seen: set[str]) -> None:
    """Run one operation on the mesh, check its direct result, and update the model."""
    match op:
        case Spawn():
            part = target(mesh, op.hosts)
            hosts = indices(model.n, op.hosts)
            assert part.addrs == tuple(mesh.addrs[i] for i in hosts), f"PM-4: slice {part}"
            per_host = dict(op.per_host)
            errors, text = spawn_rejection(per_host)
            if errors:
                before = list((await mesh.info()).values())
                with pytest.raises(errors) as info:
                    await part.spawn(op.name, per_host)  # type: ignore[arg-type]
                assert text in str(info.value), f"PM-1: {text!r} not in {info.value}"
                after = list((await mesh.info()).values())
                for h, (b, a) in enumerate(zip(before, after, strict=True)):
                    assert (a.proc_count, a.events) == (b.proc_count, b.events), (
                        f"PM-1: host {h} changed after a rejected spawn: proc_count "
                        f"{b.proc_count} -> {a.proc_count}, events {b.events[-3:]} -> "
                        f"{a.events[-3:]}"
                    )
                return
            sizes: dict[str, int] = {k: v for k, v in per_host.items() if isinstance(v, int)}
            pm = await part.spawn(op.name, sizes)
            check_layout(pm, part, sizes, op.name, seen)
            seen.add(str(pm.id))
            running = [True] * len(pm.procs)
            model.meshes.append(ModelProcMesh(pm, tuple(hosts), math.prod(sizes.values()), running))
        case StopProcs():
            m = model.pick(op.which)
            if m is None:
                return
            stopped = await m.pm.stop(reason="model")
            m.running = [False] * len(m.running)
            check_states(m, stopped)
        case States():
            m = model.pick(op.which)
            if m is None:
                return
            check_states(m, await m.pm.states(keepalive=op.keepalive))
        case StopHosts():
            part = target(mesh, op.hosts)
            hosts = indices(model.n, op.hosts)
            live = model.live()
            report = await part.stop()
            assert [o.address for o in report.hosts] == [str(a) for a in part.addrs], (
                f"HA-1: stop reported on {[o.address for o in report.hosts]}"
            )
            for h, outcome in zip(hosts, report.hosts, strict=True):
                r = outcome.report
                assert r is not None, f"HA-1: host {h} gave no drain report"
                assert r.failed == 0, f"HA-1: host {h} failed to stop {r.failed} proc(s)"
                assert r.ok == r.attempted >= live[h], (
                    f"HA-1: host {h} drained {r.attempted} (ok {r.ok}) with {live[h]} live procs"
                )
            for m in model.meshes:
                for rank in range(len(m.running)):
                    if m.host_of(rank) in hosts:
                        m.running[rank] = False
        case PushConfig():
            part = target(mesh, op.hosts)
            overrides = {key: value for key, value, _ in op.overrides}
            if any(want is INVALID for _, _, want in op.overrides):
                with pytest.raises(ConfigError):
                    await part.push_config(overrides)
                return  # nothing was sent: check_model finds every host as before
            await part.push_config(overrides)
            for h in indices(model.n, op.hosts):
                model.overrides[h] = {key: want for key, _, want in op.overrides}
        case Info():
            part = target(mesh, op.hosts)
            infos = list((await part.info()).values())
            assert [i.address for i in infos] == [str(a) for a in part.addrs], (
                f"PM-4: info answered by {[i.address for i in infos]}"
            )
            check_counts(infos, model, indices(model.n, op.hosts))


async def run_scenario(n: int, ops: Sequence[Op]) -> None:
    """Open a mesh of ``n`` hosts, apply ``ops`` checking the model after each, shut down."""
    base = task_count()
    with trio.fail_after(EXAMPLE_TIMEOUT):
        async with in_process_mesh(n) as mesh:
            model = Model(n)
            seen: set[str] = set()
            await check_model(mesh, model)
            for step, op in enumerate(ops):
                try:
                    await apply(op, mesh, model, seen)
                    await check_model(mesh, model)
                except AssertionError as exc:
                    exc.add_note(f"at step {step}: {op!r}")
                    raise
            live = model.live()
            report = await mesh.shutdown()
            assert report.failures == (), f"HM-5: shutdown failed: {report.failures}"
            for h, outcome in enumerate(report.drain):
                r = outcome.report
                assert r is not None, f"HM-5: host {h} gave no drain report"
                assert r.failed == 0, f"HM-5: host {h} failed to drain {r.failed} proc(s)"
                assert r.ok == r.attempted >= live[h], (
                    f"HM-5: host {h} drained {r.attempted} (ok {r.ok}) with {live[h]} live procs"
                )
            assert_drains_before_shutdowns(report, hosts=n)
            assert await mesh.shutdown() is report, "HM-5: a second shutdown() did work again"
    assert task_count() == base, f"LM-1: {task_count() - base} task(s) outlived the mesh block"


EVERYTHING: list[Op] = [
    Spawn("all", (("gpus", 2),), None),
    Spawn("part", (("nodes", 1), ("gpus", 2)), (1, 3, 1)),
    Spawn("bad", (("hosts", 1),), None),
    Spawn("none", (("gpus", 0),), (0, 3, 2)),
    Spawn("neg", (("gpus", -1),), None),
    PushConfig((0, 2, 1), (CONFIG_CHOICES[1], CONFIG_CHOICES[5], CONFIG_CHOICES[8])),
    PushConfig(None, (CONFIG_CHOICES[3],)),
    StopHosts((2, 3, 1)),
    States(1, 3600.0),
    StopProcs(0),
    Info((0, 3, 2)),
    PushConfig((1, 2, 1), ()),
    Spawn("after", (), (2, 3, 1)),
]
"""One sequence that uses every operation, run on every test run."""


@example(scenario=(3, EVERYTHING))
@example(scenario=(1, [StopProcs(0), StopHosts(None), Spawn("late", (("gpus", 1),), None)]))
@given(scenario=scenarios())
def test_lifecycle_model_pm1_pm2_pm4_ha1_hm1_hm5_lm1(scenario: tuple[int, list[Op]]) -> None:
    """Random operation sequences keep the mesh in step with the model: PM-1, PM-2, PM-4, HA-1
    and HM-1 after every step, HM-5 at shutdown and LM-1 after the block."""
    n, ops = scenario
    trio.run(run_scenario, n, ops)
