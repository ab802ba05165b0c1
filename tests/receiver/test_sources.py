"""The callback source table: one row per source, and the app routes exactly those rows."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Route

from receiver.app import create_app
from receiver.config import Settings
from receiver.domain.states import Source
from receiver.metrics import CALLBACK_SOURCES as SOURCE_LABELS
from receiver.sources import CALLBACK_SOURCES, TokenAuth, TrtcSignAuth


def test_every_source_has_one_row_and_one_metric_label() -> None:
    assert [row.source for row in CALLBACK_SOURCES] == list(Source)
    assert tuple(Source) == SOURCE_LABELS
    assert len({row.path for row in CALLBACK_SOURCES}) == len(CALLBACK_SOURCES)


def test_the_app_routes_each_row_by_its_path_and_scheme(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'sources.db'}"))
    callback_paths = {
        route.path: route.methods
        for route in app.routes
        if isinstance(route, Route) and route.path.startswith("/callbacks/")
    }
    assert callback_paths == {row.path: {"POST"} for row in CALLBACK_SOURCES}
    schemes = {row.source: type(row.auth) for row in CALLBACK_SOURCES}
    assert schemes == {
        Source.ALIYUN_PULL_TO_PUSH: TokenAuth,
        Source.TRTC: TrtcSignAuth,
        Source.TENCENT_PULL_TO_PUSH: TokenAuth,
    }
