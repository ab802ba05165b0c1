"""The store's part in a relay's destination and ARTC follow-ups, on every backend: the
declared sections kept, fenced notes of the channel and transcode, payload notes, and the
wind-down jobs a failure enqueues in its own transaction."""

from __future__ import annotations

import msgspec
import pytest

from receiver.domain.destinations import (
    ArtcOutputSpec,
    ArtcSpec,
    ArtcTranscodeSpec,
    DestinationSpec,
    OssLiveChannelSpec,
)
from receiver.domain.relay import RelaySpec
from receiver.domain.states import ChannelState, JobAction, JobState, RelayState, TranscodeState
from receiver.store.base import LeaseLost, RunResult
from receiver.store.select import AnyStore
from tests.receiver.test_store_lifecycle import SPEC
from tests.receiver.test_store_sqlite import store

__all__ = ["store"]  # the fixture, on every backend

pytestmark = pytest.mark.anyio


def recorded() -> RelaySpec:
    assert SPEC.pull_to_push is not None
    return RelaySpec(
        name="rec",
        pull_to_push=msgspec.structs.replace(SPEC.pull_to_push, DstUrl=None),
        destination=DestinationSpec(OssLiveChannelSpec(Bucket="rec-bucket", ChannelName="c")),
        artc=ArtcSpec(AppId="app", ChannelId="chan"),
        artc_transcode=ArtcTranscodeSpec(
            UserId="anchor", OutputParams=[ArtcOutputSpec("out", "token", "lsd")]
        ),
    )


async def test_a_failed_relay_releases_its_transcode_and_channel(store: AnyStore) -> None:
    """Job death fails the relay and, in the same transaction, plans the wind-down jobs."""
    await store.declare_relay("r9", recorded())
    [job] = await store.claim_due_jobs(limit=1, lease_ms=60_000)
    await store.finish_job(job, RunResult(JobState.DEAD, "NoSuchBucket"))
    relay = await store.get_relay("r9")
    assert relay is not None and relay.state is RelayState.FAILED
    assert relay.destination == recorded().destination and relay.artc == recorded().artc
    assert relay.artc_transcode == recorded().artc_transcode
    pending = await store.list_jobs(state=JobState.PENDING, limit=10, cursor=None)
    assert sorted(j.action for j in pending) == ["disable_channel", "stop_transcode"]
    assert {j.relay_id for j in pending} == {"r9"}


async def test_channel_transcode_and_payload_notes_are_fenced(store: AnyStore) -> None:
    await store.declare_relay("r8", recorded())
    [job] = await store.claim_due_jobs(limit=1, lease_ms=60_000)
    assert job.action == JobAction.CREATE_TASK
    await store.note_in_job(job, "url_expires", 1_900_000_000)
    await store.mark_create_sent(job)
    await store.record_channel(job, "r8", ChannelState.ENABLED, "http://b/c/p.m3u8")
    await store.record_transcode(job, "r8", TranscodeState.STARTING, None)
    await store.record_transcode(job, "r8", TranscodeState.RUNNING, "tc-1")
    await store.record_channel(job, "r8", ChannelState.DISABLED)
    await store.record_transcode(job, "r8", TranscodeState.STOPPED, None)
    relay = await store.get_relay("r8")
    assert relay is not None
    assert (relay.channel_state, relay.channel_play_url) == (
        ChannelState.DISABLED,
        "http://b/c/p.m3u8",
    )
    assert (relay.transcode_state, relay.transcode_task_id) == (TranscodeState.STOPPED, "tc-1")
    stored = await store.get_job(job.id)
    assert stored is not None
    assert stored.payload["url_expires"] == 1_900_000_000 and stored.payload["create_sent"] == 1

    # A run that lost its lease writes nothing.
    await store.finish_job(job, RunResult(JobState.PENDING, "again", due_at_ms=0))
    [again] = await store.claim_due_jobs(limit=1, lease_ms=60_000)
    with pytest.raises(LeaseLost):
        await store.record_transcode(job, "r8", TranscodeState.RUNNING, "tc-2")
    assert again.payload["url_expires"] == 1_900_000_000
