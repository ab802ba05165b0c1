"""WAL checkpoints off the commit path (SQLite).

By default SQLite checkpoints inside the commit that takes the WAL past 1,000 pages: that
commit copies every page the WAL holds into the database file and fsyncs the file, and all
callbacks of its group wait for it (the paced p99's tail). Here the writer's connection
checkpoints only past :data:`SAFETY_PAGES`, and a thread with its own connection runs a
``PASSIVE`` checkpoint whenever the writer committed since the last one, at most every
``interval`` seconds. A passive checkpoint blocks neither the writer nor readers: it copies
what was committed when it started. When the writer's own checkpoint does come due, it finds
almost every page copied already and has little left to do; and when the background thread
catches up with the writer (load eases), the writer starts the WAL over.

Durability is unchanged: a commit is durable once its WAL frames are fsynced
(``synchronous=FULL``); a checkpoint only moves committed pages into the database file.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable

import structlog

__all__ = ["SAFETY_PAGES", "Checkpointer"]

log = structlog.get_logger("relaywarden.store")

#: The writer connection's ``wal_autocheckpoint`` (pages of 4 KiB): a safety net for when the
#: background thread falls behind or is gone, and the bound on the WAL's size under load.
SAFETY_PAGES = 4000
_LOG_EVERY_SECONDS = 60.0


class Checkpointer:
    """A thread that checkpoints the WAL in the background while commits happen.

    ``commits`` returns a number that grows with every commit (the writer's batch count):
    the thread checkpoints only when it moved, so an idle store does no I/O.
    """

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        commits: Callable[[], int],
        *,
        interval: float = 0.1,
    ) -> None:
        self._connect = connect
        self._commits = commits
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Checkpoints run, and the last one's (WAL pages, pages copied) as SQLite reports them.
        self.checkpoints = 0
        self.last: tuple[int, int] = (0, 0)
        self._logged: tuple[str, float] = ("", 0.0)  # the last failure logged, and when

    def start(self) -> None:
        """Start the thread (its connection is opened on it)."""
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="relaywarden-sqlite-checkpoint", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close its connection (the writer's close checkpoints last)."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=30)
        self._thread = None

    def _run(self) -> None:
        try:
            conn = self._connect()
        except sqlite3.Error as exc:  # the writer's safety net still checkpoints
            log.warning("store_checkpoint_failed", error=str(exc), stopped=True)
            return
        seen = -1
        try:
            while not self._stop.wait(self.interval):
                commits = self._commits()
                if commits == seen:
                    continue
                seen = commits
                self.checkpoint(conn)
        finally:
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        """One passive checkpoint on ``conn``; errors are logged, the next try comes soon."""
        try:
            row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            # A full disk fails every try: one line per error per minute, not ten a second.
            now = time.monotonic()
            if str(exc) != self._logged[0] or now - self._logged[1] >= _LOG_EVERY_SECONDS:
                log.warning("store_checkpoint_failed", error=str(exc))
                self._logged = (str(exc), now)
            return
        self.checkpoints += 1
        self.last = (int(row[1]), int(row[2]))  # row[0] is the "busy" flag
