"""Local stand-ins for the providers' APIs, served on loopback sockets in tests.

- :mod:`tests.fakes.aliyun_live`: Alibaba Cloud Live pull-to-push OpenAPI (ACS3 signed).
- :mod:`tests.fakes.trtc`: Tencent TRTC stream-ingest API (TC3 signed).
- :mod:`tests.fakes.oss`: OSS LiveChannel operations (OSS4-HMAC-SHA256 signed, checked by oss2).
- :mod:`tests.fakes.artc`: the Live OpenAPI's ARTC operations (cloud transcode, WHIP).

All verify signatures with the official SDKs' functions, keep state, enforce the providers'
per-account QPS, answer in the providers' formats, take injected faults and record every
call; the Alibaba and TRTC fakes send the providers' callbacks through a
:class:`CallbackChannel` that can lose them.
"""

from tests.fakes.aliyun_live import FakeAliyunLive, PullToPushTask
from tests.fakes.common import CallbackChannel, CallRecord, Delivery, ErrorFault
from tests.fakes.trtc import FakeTrtc, IngestTask

__all__ = [
    "CallRecord",
    "CallbackChannel",
    "Delivery",
    "ErrorFault",
    "FakeAliyunLive",
    "FakeTrtc",
    "IngestTask",
    "PullToPushTask",
]
