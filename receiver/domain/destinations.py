"""Where a relay's stream goes besides a plain ``DstUrl``, and what follows it.

``destination.oss_live_channel`` records the relay into an OSS bucket: relaywarden creates the
LiveChannel and signs its RTMP publish URL afresh for every task it creates, so the stored
declaration never holds a signed URL. ``artc`` names the ARTC channel the stream lands in
(the WHIP backup route mints ingest URLs for it) and ``artc_transcode`` the cloud transcoding
run while the relay's task runs. Field names are the providers' own.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec

__all__ = [
    "DEFAULT_URL_EXPIRES_SECONDS",
    "ArtcOutputSpec",
    "ArtcSpec",
    "ArtcTranscodeSpec",
    "DestinationSpec",
    "OssLiveChannelSpec",
    "follow_up_problem",
]

#: How long a signed publish URL stays valid at least (it also always covers the EndTime).
DEFAULT_URL_EXPIRES_SECONDS = 86_400
_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
_ARTC_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

Fragment = Annotated[int, msgspec.Meta(ge=1, le=100)]
MaxIdle = Annotated[int, msgspec.Meta(ge=10, le=14_400)]
UrlLifetime = Annotated[int, msgspec.Meta(ge=60, le=7 * 86_400)]

TranscodeTemplateName = Literal["alimcopy", "lld", "lsd", "lhd", "lud"]


class OssLiveChannelSpec(
    msgspec.Struct, forbid_unknown_fields=True, frozen=True, omit_defaults=True
):
    """An OSS LiveChannel the relay pushes into (HLS recorded in the bucket)."""

    Bucket: str
    ChannelName: str
    Region: str | None = None
    FragDuration: Fragment | None = None
    FragCount: Fragment | None = None
    PlaylistName: str | None = None
    UrlExpiresSeconds: UrlLifetime = DEFAULT_URL_EXPIRES_SECONDS
    DisableOnEnd: bool = True


class DestinationSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True, omit_defaults=True):
    """A destination relaywarden resolves into the task's ``DstUrl`` at each (re-)creation."""

    oss_live_channel: OssLiveChannelSpec | None = None


class ArtcSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The ARTC channel the relay's stream lands in."""

    AppId: str
    ChannelId: str


class ArtcOutputSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One transcoded output; ``UserToken`` is a secret and is masked in every view."""

    UserId: str
    UserToken: str
    TranscodeTemplate: TranscodeTemplateName


class ArtcTranscodeSpec(
    msgspec.Struct, forbid_unknown_fields=True, frozen=True, omit_defaults=True
):
    """StartRtcCloudTranscode parameters: transcode ``UserId``'s stream into ``OutputParams``."""

    UserId: str
    OutputParams: list[ArtcOutputSpec]
    MaxIdleTime: MaxIdle | None = None

    def redacted(self) -> ArtcTranscodeSpec:
        """The parameters safe to show: every ``UserToken`` masked."""
        outputs = [msgspec.structs.replace(o, UserToken="***") for o in self.OutputParams]
        return msgspec.structs.replace(self, OutputParams=outputs)


def _channel_problem(channel: OssLiveChannelSpec) -> str | None:
    where = "destination.oss_live_channel"
    if not _BUCKET.fullmatch(channel.Bucket):
        return f"{where}.Bucket must be 3-63 lower-case letters, digits or '-'"
    name = channel.ChannelName
    if not name or "/" in name or len(name.encode()) > 1023 or any(ord(c) < 0x20 for c in name):
        return f"{where}.ChannelName must be 1-1023 bytes without '/' or control characters"
    frags = (channel.FragDuration, channel.FragCount)
    if (frags[0] is None) != (frags[1] is None):
        return f"{where}: give FragDuration and FragCount together or neither"
    playlist = channel.PlaylistName
    if playlist is not None and (
        not playlist.endswith(".m3u8") or "/" in playlist or not 6 <= len(playlist.encode()) <= 128
    ):
        return f"{where}.PlaylistName must be 6-128 bytes ending .m3u8, without '/'"
    return None


def _transcode_problem(transcode: ArtcTranscodeSpec) -> str | None:
    where = "artc_transcode"
    if not _ARTC_ID.fullmatch(transcode.UserId):
        return f"{where}.UserId must be 1-64 letters, digits, '_' or '-'"
    if not transcode.OutputParams:
        return f"{where}.OutputParams needs at least one output"
    names = [o.UserId for o in transcode.OutputParams]
    if not all(_ARTC_ID.fullmatch(n) for n in names):
        return f"{where}.OutputParams[].UserId must be 1-64 letters, digits, '_' or '-'"
    if len(set(names)) != len(names) or transcode.UserId in names:
        return f"{where}: output UserIds must differ from each other and from UserId"
    if not all(o.UserToken for o in transcode.OutputParams):
        return f"{where}.OutputParams[].UserToken must not be empty"
    return None


def follow_up_problem(
    destination: DestinationSpec | None,
    artc: ArtcSpec | None,
    transcode: ArtcTranscodeSpec | None,
) -> str | None:
    """A message saying what is wrong with a relay's destination and ARTC sections, or None."""
    if destination is not None:
        if destination.oss_live_channel is None:
            return "destination needs oss_live_channel"
        problem = _channel_problem(destination.oss_live_channel)
        if problem is not None:
            return problem
    if artc is not None and not (
        _ARTC_ID.fullmatch(artc.AppId) and _ARTC_ID.fullmatch(artc.ChannelId)
    ):
        return "artc.AppId and artc.ChannelId must be 1-64 letters, digits, '_' or '-'"
    if transcode is not None:
        if artc is None:
            return "artc_transcode needs artc (the AppId and ChannelId to transcode in)"
        return _transcode_problem(transcode)
    return None
