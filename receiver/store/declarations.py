"""Declaring relays by name, idempotently: create, update or leave unchanged.

The name is unique among live (not ``deleted``) relays; a partial unique index keeps it so.
Relays adopted from callbacks take a free name (``insert_relay`` suffixes a taken one).
"""

from __future__ import annotations

from receiver.domain.relay import PullToPushSpec, Relay, RelaySpec
from receiver.domain.states import RelayOrigin
from receiver.store.base import Conflict, DeclareOutcome
from receiver.store.dialect import Db
from receiver.store.relays import get_relay, ingests_of, relay_by_name, tasks_of, update_relay
from receiver.store.transitions import declare_relay

__all__ = ["put_relay"]


def _conflict(conn: Db, relay: Relay, spec: RelaySpec) -> str | None:
    """Why ``spec`` cannot describe the existing ``relay``, or None."""
    if (spec.adopt is not None) != (relay.origin is not RelayOrigin.DECLARED):
        return (
            f"relay {relay.name!r} was {relay.origin.value}; a declaration cannot switch between "
            "creating a task and adopting one (delete the relay and declare it again)"
        )
    if spec.adopt is not None:
        tasks = {link.task_id for link in tasks_of(conn, relay.id)}
        if relay.current_task_id:
            tasks.add(relay.current_task_id)
        # A relay whose adopt job has not run yet has no task: any target is still open.
        if tasks and spec.adopt.TaskId not in tasks:
            return f"relay {relay.name!r} adopted another task; delete it to adopt this one"
    # The OSS channel and ARTC transcode are set up by the relay's create job; storing new
    # ones afterwards would claim what no job does.
    for part in ("destination", "artc", "artc_transcode"):
        if getattr(spec, part) != getattr(relay, part):
            return (
                f"relay {relay.name!r} has another {part}; it is set up when the relay is "
                "created (delete the relay and declare it again)"
            )
    ingest = spec.trtc_ingest
    if ingest is not None and ingest.TaskId is not None:
        linked = {(i.sdk_app_id, i.task_id) for i in ingests_of(conn, relay.id)}
        if (ingest.SdkAppId, ingest.TaskId) not in linked:
            return f"relay {relay.name!r} links another TRTC ingest; delete it to link this one"
    return None


def _wanted(relay: Relay, spec: RelaySpec) -> dict[str, object]:
    """The stored fields the declaration changes (empty when it matches the relay)."""
    changes: dict[str, object] = {}
    if spec.pull_to_push is not None and spec.pull_to_push != _declared_part(relay, spec):
        changes["pull_to_push"] = relay.pull_to_push.merged(spec.pull_to_push)
    ingest = spec.trtc_ingest
    if ingest is not None and ingest.TaskId is None and ingest != relay.trtc_ingest:
        changes["trtc_ingest"] = ingest
    if spec.recreate != relay.recreate:
        changes["recreate"] = spec.recreate
    return changes


def _declared_part(relay: Relay, spec: RelaySpec) -> PullToPushSpec:
    """The relay's stored parameters restricted to the keys the declaration gives.

    Adoption and DescribeLivePullToPush may add keys the operator never declared; those
    do not make a repeated declaration an update.
    """
    assert spec.pull_to_push is not None
    given = [
        f for f in PullToPushSpec.__struct_fields__ if getattr(spec.pull_to_push, f) is not None
    ]
    return PullToPushSpec(**{f: getattr(relay.pull_to_push, f) for f in given})


def put_relay(conn: Db, relay_id: str, spec: RelaySpec) -> tuple[Relay, DeclareOutcome]:
    """Create the relay named ``spec.name``, update it to ``spec``, or leave it unchanged."""
    existing = relay_by_name(conn, spec.name.strip())
    if existing is None:
        return declare_relay(conn, relay_id, spec), DeclareOutcome.CREATED
    problem = _conflict(conn, existing, spec)
    if problem is not None:
        raise Conflict(problem)
    changes = _wanted(existing, spec)
    if not changes:
        return existing, DeclareOutcome.UNCHANGED
    update_relay(conn, existing.id, **changes)
    updated = get_relay(conn, existing.id)
    assert updated is not None
    return updated, DeclareOutcome.UPDATED
