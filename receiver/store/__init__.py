"""Durable storage of events, task state, relays, jobs and quarantined callbacks.

``receiver.store.base.Store`` is the interface (with its errors and the claimed job);
``receiver.store.sqlite.SqliteStore`` implements it. Every SQL statement of relaywarden
lives in this package.
"""
