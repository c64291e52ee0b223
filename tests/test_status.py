"""Tests for meshtrio._status: Status order, predicates, text form, and ProcState."""

from __future__ import annotations

import itertools
import math
import pickle

import cattrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from id_strategies import statuses

from meshtrio import ProcState, Status
from meshtrio._status import StatusKind
from meshtrio.errors import InputError

CONVERTER = cattrs.Converter()

CHAIN = [
    Status.NOT_EXIST,
    Status.INITIALIZING,
    Status.RUNNING,
    Status.STOPPING,
    Status.STOPPED,
    Status.failed("boom"),
    Status.timeout(20.001),
    Status.UNKNOWN,
]


def test_order_follows_the_lifecycle() -> None:
    """NotExist < Initializing < Running < Stopping < Stopped < Failed < Timeout < Unknown."""
    for lo, hi in itertools.pairwise(CHAIN):
        assert lo < hi
        assert hi > lo
        assert lo <= hi
        assert not hi <= lo
    assert sorted([CHAIN[i] for i in (7, 0, 5, 2, 6, 1, 4, 3)]) == CHAIN


def test_payload_breaks_ties_within_a_kind() -> None:
    """Failed orders by message and Timeout by duration, after every lower kind."""
    assert Status.failed("a") < Status.failed("b")
    assert Status.failed("") < Status.failed("a")
    assert Status.timeout(1) < Status.timeout(2) < Status.UNKNOWN
    assert Status.failed("zzz") < Status.timeout(0)


@given(statuses(), statuses())
def test_order_is_total_and_consistent_with_equality(a: Status, b: Status) -> None:
    """Exactly one of a < b, a == b, a > b holds, and equal statuses hash equal."""
    assert [a < b, a == b, a > b].count(True) == 1
    assert (a <= b) == (a < b or a == b)
    assert (a >= b) == (a > b or a == b)
    if a == b:
        assert hash(a) == hash(b)


@given(statuses(), statuses(), statuses())
def test_order_is_transitive(a: Status, b: Status, c: Status) -> None:
    """Sorting three statuses gives a non-decreasing sequence."""
    x, y, z = sorted([a, b, c])
    assert x <= y <= z
    assert x <= z


# kind -> (terminating, terminated, failure, healthy, not_exist, running)
PREDICATES = {
    StatusKind.NOT_EXIST: (False, False, False, False, True, False),
    StatusKind.INITIALIZING: (False, False, False, True, False, False),
    StatusKind.RUNNING: (False, False, False, True, False, True),
    StatusKind.STOPPING: (True, False, False, False, False, False),
    StatusKind.STOPPED: (True, True, False, False, False, False),
    StatusKind.FAILED: (True, True, True, False, False, False),
    StatusKind.TIMEOUT: (True, True, True, False, False, False),
    StatusKind.UNKNOWN: (False, False, False, False, False, False),
}


@pytest.mark.parametrize("status", CHAIN, ids=str)
def test_predicates_table(status: Status) -> None:
    """Each predicate holds exactly for the kinds listed in spec 5.2 (Unknown: none of them)."""
    got = (
        status.is_terminating,
        status.is_terminated,
        status.is_failure,
        status.is_healthy,
        status.is_not_exist,
        status.is_running,
    )
    assert got == PREDICATES[status.kind]
    assert status.is_unknown is (status.kind is StatusKind.UNKNOWN)


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (Status.NOT_EXIST, "NotExist"),
        (Status.INITIALIZING, "Initializing"),
        (Status.RUNNING, "Running"),
        (Status.STOPPING, "Stopping"),
        (Status.STOPPED, "Stopped"),
        (Status.UNKNOWN, "Unknown"),
        (Status.failed("exit 3 (x)"), "Failed(exit 3 (x))"),
        (Status.failed(""), "Failed()"),
        (Status.timeout(20.001), "Timeout(20.001s)"),
        (Status.timeout(20), "Timeout(20s)"),
        (Status.timeout(0.5), "Timeout(0.5s)"),
        (Status.timeout(0), "Timeout(0s)"),
        (Status.timeout(1.23456), "Timeout(1.235s)"),
        (Status.killed(9), "Failed(Killed(sig=9))"),
        (Status.killed(11, core_dumped=True), "Failed(Killed(sig=11, core))"),
    ],
)
def test_display_and_parse(status: Status, text: str) -> None:
    """str() gives the documented text and parse() gives the status back."""
    assert str(status) == text
    assert Status.parse(text) == status


@given(statuses())
def test_text_round_trip(status: Status) -> None:
    """parse(str(s)) == s for every status (durations are kept to milliseconds)."""
    assert Status.parse(str(status)) == status


def test_timeout_duration_is_rounded_to_milliseconds() -> None:
    """Timeout durations are stored rounded to 3 decimals, as floats."""
    assert Status.timeout(1.0004).duration == 1.0
    assert Status.timeout(3).duration == 3.0
    assert isinstance(Status.timeout(3).duration, float)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "running",
        "Failed(x",
        "Timeout(20)",
        "Timeout(-1s)",
        "Timeout(1e3s)",
        "Timeout(nans)",
        "Timeout(" + "9" * 400 + "s)",
        " Running",
    ],
)
def test_parse_rejects_bad_text(text: str) -> None:
    """Text that is not a status raises InputError."""
    with pytest.raises(InputError, match="not a status"):
        Status.parse(text)


@given(
    st.text(max_size=30)
    | st.builds(lambda s: f"Timeout({s}s)", st.text("0123456789.e-", max_size=8))
)
def test_parse_any_text_only_raises_inputerror(text: str) -> None:
    """Arbitrary text parses to a status that round-trips, or raises InputError."""
    try:
        status = Status.parse(text)
    except InputError:
        return
    assert Status.parse(str(status)) == status


@pytest.mark.parametrize(
    "build",
    [
        lambda: Status(StatusKind.FAILED),
        lambda: Status(StatusKind.RUNNING, message="x"),
        lambda: Status(StatusKind.RUNNING, duration=1.0),
        lambda: Status.timeout(-1),
        lambda: Status.timeout(math.nan),
        lambda: Status.timeout(math.inf),
        lambda: Status.timeout(True),
        lambda: Status(99),  # type: ignore[arg-type]
    ],
)
def test_constructor_validates(build: object) -> None:
    """Payloads on the wrong kind, missing payloads and bad durations raise InputError."""
    with pytest.raises(InputError):
        build()  # type: ignore[operator]


@given(statuses())
def test_status_pickle_and_cattrs_round_trip(status: Status) -> None:
    """Statuses survive pickling and a plain cattrs converter."""
    conv = CONVERTER
    assert pickle.loads(pickle.dumps(status)) == status
    assert conv.structure(conv.unstructure(status), Status) == status


def _state(**overrides: object) -> ProcState:
    fields: dict[str, object] = {
        "status": Status.failed("exit 1"),
        "proc_id": "trainer-0-z4LnW7ohEmL",
        "create_rank": 0,
        "host_rank": 2,
        "host": "tcp:10.0.0.2:26600",
        "pid": 4242,
        "started_at": 1.0,
        "updated_at": 2.0,
        "exit_code": 1,
        "stderr_tail": ["Traceback (most recent call last):", "SECRET-PAYLOAD"],
    }
    fields.update(overrides)
    return ProcState(**fields)  # type: ignore[arg-type]


def test_proc_state_str_is_short_and_omits_stderr() -> None:
    """str(ProcState) names proc, ranks, host, status and pid/exit, never the stderr tail."""
    text = str(_state())
    assert text == (
        "trainer-0-z4LnW7ohEmL (rank 0 on host 2 tcp:10.0.0.2:26600): Failed(exit 1) "
        "pid=4242 exit=1"
    )
    assert "SECRET" not in text
    assert "pid" not in str(_state(pid=None, exit_code=None))


def test_proc_state_round_trips_through_cattrs_and_pickle() -> None:
    """A ProcState (stderr tail stored as a tuple) survives cattrs and pickling."""
    state = _state(signal=9)
    assert state.stderr_tail == ("Traceback (most recent call last):", "SECRET-PAYLOAD")
    conv = CONVERTER
    assert conv.structure(conv.unstructure(state), ProcState) == state
    assert pickle.loads(pickle.dumps(state)) == state


def test_timeout_with_an_int_too_big_for_a_float_is_input_error() -> None:
    """Status.timeout(10**400) is an InputError (not an OverflowError from float conversion)."""
    with pytest.raises(InputError, match="finite"):
        Status.timeout(10**400)
