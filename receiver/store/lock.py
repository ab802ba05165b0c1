"""One process owns a SQLite store: an exclusive lock held for the life of ``serve``.

Every write goes through one writer thread, and that is what makes group commit and the
ordering of acknowledgements sound; two processes on one file would each believe they
are that writer. ``serve`` therefore takes ``<database>.lock`` with ``flock`` and refuses
to start when another process holds it. The kernel drops the lock when the holder dies,
SIGKILL included, so a crashed process never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

__all__ = ["StoreLocked", "hold_store_lock"]


class StoreLocked(RuntimeError):
    """Another process serves this store."""


@contextlib.contextmanager
def hold_store_lock(database_path: str) -> Iterator[None]:
    """Hold the store's lock while the block runs; raise StoreLocked if it is taken."""
    lock_path = f"{database_path}.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            raise StoreLocked(
                f"{database_path} is already served by relaywarden (pid {holder}); one process "
                "owns a store: run replicas with their own RELAYWARDEN_DATABASE_URL"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
