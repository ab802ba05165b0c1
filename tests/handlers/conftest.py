"""Fixtures of the provider-layer tests: the anyio backend and fake providers on sockets.

Each fake is served once per session (starting and stopping uvicorn costs ~0.2 s) and
reset before every test that uses it, so tests stay independent.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes import FakeAliyunLive, FakeTrtc
from tests.fakes.artc import FakeArtc
from tests.fakes.oss import FakeOss


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def _served_aliyun() -> Iterator[FakeAliyunLive]:
    fake = FakeAliyunLive()
    with fake.serve():
        yield fake


@pytest.fixture(scope="session")
def _served_trtc() -> Iterator[FakeTrtc]:
    fake = FakeTrtc()
    with fake.serve():
        yield fake


@pytest.fixture
def aliyun_fake(_served_aliyun: FakeAliyunLive) -> FakeAliyunLive:
    """A fresh fake Alibaba Live OpenAPI on 127.0.0.1 (``aliyun_fake.base_url``)."""
    _served_aliyun.reset()
    return _served_aliyun


@pytest.fixture
def trtc_fake(_served_trtc: FakeTrtc) -> FakeTrtc:
    """A fresh fake TRTC API on 127.0.0.1 (``trtc_fake.base_url``)."""
    _served_trtc.reset()
    return _served_trtc


@pytest.fixture(scope="session")
def _served_oss() -> Iterator[FakeOss]:
    fake = FakeOss()
    with fake.serve():
        yield fake


@pytest.fixture(scope="session")
def _served_artc() -> Iterator[FakeArtc]:
    fake = FakeArtc()
    with fake.serve():
        yield fake


@pytest.fixture
def oss_fake(_served_oss: FakeOss) -> FakeOss:
    """A fresh fake OSS (LiveChannel subset, path-style) on 127.0.0.1."""
    _served_oss.reset()
    return _served_oss


@pytest.fixture
def artc_fake(_served_artc: FakeArtc) -> FakeArtc:
    """A fresh fake of the Live OpenAPI's ARTC operations on 127.0.0.1."""
    _served_artc.reset()
    return _served_artc
