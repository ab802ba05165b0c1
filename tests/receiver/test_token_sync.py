"""The token sync: a replica takes up a callback token rotated elsewhere, on both backends."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from receiver.config import Settings
from receiver.redaction import mask_text
from receiver.runtime import Runtime
from receiver.store.postgres.store import PgStore
from receiver.store.select import AnyStore
from receiver.token_sync import TokenSync
from tests.receiver.test_store_sqlite import store

pytestmark = pytest.mark.anyio

__all__ = ["store"]  # the fixture: both backends


async def _runtime(store: AnyStore, tmp_path: Path) -> Runtime:
    runtime = Runtime(settings=Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}"), store=store)
    runtime.set_tokens(await store.callback_tokens(None, may_create=True))
    return runtime


async def test_reload_takes_a_rotated_token_and_keeps_the_relay_key(
    store: AnyStore, tmp_path: Path
) -> None:
    runtime = await _runtime(store, tmp_path)
    sync = TokenSync(runtime)
    first = runtime.callback_token
    assert not await sync.reload()  # nothing changed

    rotated = await store.rotate_callback_token()  # as another replica (or the CLI) does
    assert await sync.reload()
    assert runtime.callback_token == rotated.callback != first
    assert runtime.relay_token_key == first  # per-relay CallbackUrls keep working
    assert runtime.token_created  # the banner state of this start is left alone
    assert rotated.callback not in mask_text(f"now using {rotated.callback}")  # registered


async def test_a_rotation_in_one_replica_reaches_the_others_runtime(
    pg_url: str, tmp_path: Path
) -> None:
    one, other = PgStore(pg_url), PgStore(pg_url)
    await one.start()
    await other.start()
    try:
        runtime = await _runtime(other, tmp_path)
        sync = TokenSync(runtime)
        await sync.start()
        rotated = await one.rotate_callback_token()
        for _ in range(100):
            if runtime.callback_token == rotated.callback:
                break
            await asyncio.sleep(0.02)
        assert runtime.callback_token == rotated.callback
        assert sync.running
        await sync.stop()
        assert not sync.running
    finally:
        await other.stop()
        await one.stop()
