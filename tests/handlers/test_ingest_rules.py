"""The TRTC half of the planner: pure decisions on 701/702 events."""

from __future__ import annotations

from handlers.ingest_rules import plan_ingest
from handlers.planner import RulePlanner
from handlers.rules import BUILTIN_RULES
from receiver.domain.plan import IngestUpdate, PlanInput, TaskChange
from receiver.domain.records import IngestLink
from receiver.domain.relay import PullToPushSpec, RecreatePolicy, Relay, TrtcIngestSpec
from receiver.domain.states import (
    EventKind,
    IngestState,
    JobAction,
    Provider,
    RelayOrigin,
    RelayState,
    Source,
    Status,
)
from receiver.events import Event

NOW = 1_800_000_000_000
SPEC = TrtcIngestSpec(SdkAppId=1400000000, RoomId="r", RoomIdType=0, UserId="u", UserSig="s")


def relay(state: RelayState = RelayState.ACTIVE, restarts: list[int] | None = None) -> Relay:
    return Relay(
        id="relay-1",
        name="r",
        state=state,
        origin=RelayOrigin.DECLARED,
        region="cn-shanghai",
        pull_to_push=PullToPushSpec(),
        trtc_ingest=SPEC,
        recreate=RecreatePolicy(max_attempts=2, within_seconds=3600, base_delay_seconds=5),
        ingest_restarts=restarts or [],
    )


def link(**changes: object) -> IngestLink:
    values: dict[str, object] = {
        "id": 7,
        "relay_id": "relay-1",
        "sdk_app_id": 1400000000,
        "task_id": "ingest-1",
        "state": IngestState.RUNNING,
        "owned": True,
    }
    values.update(changes)
    return IngestLink(**values)  # type: ignore[arg-type]


def given(
    kind: EventKind,
    status: Status,
    *,
    ingest: IngestLink | None = None,
    claimable: IngestLink | None = None,
    owner: Relay | None = None,
) -> PlanInput:
    event = Event(
        source=Source.TRTC,
        provider=Provider.TRTC,
        task_id="ingest-1",
        kind=kind,
        status=status,
        reason="",
        event_time_ms=NOW,
        provider_status="x",
        raw=b"{}",
    )
    change = TaskChange(event, 1, None, None, True)
    return PlanInput(
        change=change,
        link=None,
        relay=owner,
        linked=owner is not None,
        has_ingests=True,
        now_ms=NOW,
        ingest=ingest,
        claimable=claimable,
    )


def test_unowned_701_names_the_awaiting_start() -> None:
    awaiting = link(task_id=None, state=IngestState.AWAITING_ID)
    start = EventKind.INGEST_START
    plan = plan_ingest(given(start, Status.RUNNING, claimable=awaiting, owner=relay()))
    assert plan.ingests == (
        IngestUpdate(7, task_id="ingest-1", state=IngestState.RUNNING, failures=0),
    )
    assert plan.jobs == ()


def test_named_after_the_relay_ended_is_stopped() -> None:
    awaiting = link(task_id=None, state=IngestState.AWAITING_ID)
    ended = relay(RelayState.ENDED)
    plan = plan_ingest(
        given(EventKind.INGEST_START, Status.RUNNING, claimable=awaiting, owner=ended)
    )
    assert [j.action for j in plan.jobs] == [JobAction.STOP_INGEST]
    assert plan.ingests[0].task_id == "ingest-1"


def test_unowned_701_without_an_awaiting_start_changes_nothing() -> None:
    assert plan_ingest(given(EventKind.INGEST_START, Status.RUNNING)).jobs == ()


def test_702_of_a_running_ingest_restarts_with_backoff_and_counts() -> None:
    plan = plan_ingest(given(EventKind.INGEST_STOP, Status.STOPPED, ingest=link(), owner=relay()))
    [job] = plan.jobs
    assert (job.action, job.delay_seconds) == (JobAction.START_INGEST, 0.0)
    assert plan.ingest_restart and plan.ingests[0].state is IngestState.STOPPED
    again = plan_ingest(
        given(EventKind.INGEST_STOP, Status.STOPPED, ingest=link(), owner=relay(restarts=[NOW - 1]))
    )
    assert again.jobs[0].delay_seconds == 5.0


def test_702_over_budget_gives_up_and_702_of_a_stopped_ingest_is_ours() -> None:
    spent = relay(restarts=[NOW - 2, NOW - 1])
    plan = plan_ingest(given(EventKind.INGEST_STOP, Status.STOPPED, ingest=link(), owner=spent))
    assert plan.jobs == () and not plan.ingest_restart
    assert (plan.ingests[0].reason or "").startswith("gave up restarting the ingest after 2")
    ours = link(state=IngestState.STOPPED)
    assert (
        plan_ingest(
            given(EventKind.INGEST_STOP, Status.STOPPED, ingest=ours, owner=relay())
        ).ingests
        == ()
    )


def test_third_start_failure_in_a_row_restarts() -> None:
    for failures, restarts in ((0, False), (1, False), (2, True)):
        plan = plan_ingest(
            given(
                EventKind.INGEST_START, Status.FAILED, ingest=link(failures=failures), owner=relay()
            )
        )
        assert bool(plan.jobs) is restarts, failures
        if restarts:
            assert plan.jobs[0].action is JobAction.RESTART_INGEST
            assert plan.jobs[0].payload["link"] == 7
            assert plan.ingests[0].failures == 0
        else:
            assert plan.ingests[0].failures == failures + 1


def test_rule_planner_hands_trtc_events_to_the_ingest_rules() -> None:
    planner = RulePlanner(BUILTIN_RULES, default_region="cn-shanghai")
    plan = planner(given(EventKind.INGEST_STOP, Status.STOPPED, ingest=link(), owner=relay()))
    assert [j.action for j in plan.jobs] == [JobAction.START_INGEST]
