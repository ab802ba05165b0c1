"""OSS LiveChannel documents: the validated channel configuration, its XML, and the XML
answers (``CreateLiveChannelResult``, ``LiveChannelStat``, ``Error``).

OSS answers are parsed with the standard library's expat parser; a document declaring a
DTD or entities is refused outright, since OSS never sends one and entity expansion is the
classic way to make an XML parser misbehave.
"""

from __future__ import annotations

import enum
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

__all__ = [
    "BUCKET_NAME",
    "LiveChannelStat",
    "LiveChannelStatus",
    "LiveChannelTarget",
    "LiveChannelUrls",
    "OssErrorBody",
    "XmlError",
    "parse_create_result",
    "parse_error",
    "parse_stat",
    "parse_xml",
    "validate_channel_name",
]

#: Bucket names: 3-63 lower-case letters, digits and hyphens, starting and ending alphanumeric.
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
_PLAYLIST_MIN, _PLAYLIST_MAX = 6, 128
_FRAG_MIN, _FRAG_MAX = 1, 100
_CHANNEL_MAX = 1023


class XmlError(ValueError):
    """An answer body that is not the expected, well-formed XML document."""


class LiveChannelStatus(enum.StrEnum):
    """A channel's stream state as ``GetLiveChannelStat`` reports it."""

    IDLE = "Idle"
    LIVE = "Live"
    DISABLED = "Disabled"


def validate_channel_name(name: str) -> str:
    """Return ``name`` when it can name a LiveChannel (non-empty, no ``/``, ≤1023 bytes)."""
    if not name or "/" in name or len(name.encode("utf-8")) > _CHANNEL_MAX:
        raise ValueError("channel name must be 1-1023 bytes without '/'")
    if any(ord(c) < 0x20 for c in name):
        raise ValueError("channel name must not contain control characters")
    return name


@dataclass(frozen=True, slots=True)
class LiveChannelTarget:
    """A channel's HLS configuration, validated on construction (ValueError when invalid).

    ``frag_duration`` and ``frag_count`` come together or not at all (each 1-100; OSS then
    uses 5 s and 3); ``playlist_name`` is 6-128 bytes ending ``.m3u8`` (default
    ``playlist.m3u8``).
    """

    frag_duration: int | None = None
    frag_count: int | None = None
    playlist_name: str | None = None
    description: str = ""
    enabled: bool = True

    def __post_init__(self) -> None:
        frags = (self.frag_duration, self.frag_count)
        if (frags[0] is None) != (frags[1] is None):
            raise ValueError("FragDuration and FragCount must be given together or not at all")
        for name, value in zip(("FragDuration", "FragCount"), frags, strict=True):
            if value is not None and (
                isinstance(value, bool) or not _FRAG_MIN <= value <= _FRAG_MAX
            ):
                raise ValueError(f"{name} must be an integer within {_FRAG_MIN}-{_FRAG_MAX}")
        if self.playlist_name is not None:
            size = len(self.playlist_name.encode("utf-8"))
            if not self.playlist_name.endswith(".m3u8") or not (
                _PLAYLIST_MIN <= size <= _PLAYLIST_MAX
            ):
                raise ValueError(
                    f"PlaylistName must be {_PLAYLIST_MIN}-{_PLAYLIST_MAX} bytes ending .m3u8"
                )
            if "/" in self.playlist_name:
                raise ValueError("PlaylistName must not contain '/'")
        if len(self.description.encode("utf-8")) > 128:
            raise ValueError("Description must be at most 128 bytes")

    def to_xml(self) -> bytes:
        """The ``LiveChannelConfiguration`` body (every value escaped by the XML writer)."""
        root = ET.Element("LiveChannelConfiguration")
        ET.SubElement(root, "Description").text = self.description
        ET.SubElement(root, "Status").text = "enabled" if self.enabled else "disabled"
        target = ET.SubElement(root, "Target")
        ET.SubElement(target, "Type").text = "HLS"
        if self.frag_duration is not None and self.frag_count is not None:
            ET.SubElement(target, "FragDuration").text = str(self.frag_duration)
            ET.SubElement(target, "FragCount").text = str(self.frag_count)
        if self.playlist_name:
            ET.SubElement(target, "PlaylistName").text = self.playlist_name
        document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        return document


@dataclass(frozen=True, slots=True)
class LiveChannelUrls:
    """What PutLiveChannel answers: the (unsigned) RTMP publish URL and the HLS play URL."""

    publish_url: str
    play_url: str


@dataclass(frozen=True, slots=True)
class LiveChannelStat:
    """``GetLiveChannelStat``: the status and, while live, the stream's details."""

    status: LiveChannelStatus
    connected_time: str | None = None
    remote_addr: str | None = None
    video: dict[str, str] = field(default_factory=dict)
    audio: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OssErrorBody:
    """The fields of an OSS ``<Error>`` document (``ec`` is OSS's detailed error number)."""

    code: str
    message: str
    request_id: str | None
    ec: str | None


def parse_xml(body: bytes, root_tag: str) -> ET.Element:
    """Parse ``body`` and check its root is ``root_tag`` (XmlError otherwise)."""
    head = body[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in body.lower():
        raise XmlError("XML with a DTD or entity declarations is refused")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise XmlError(f"malformed XML: {exc}") from None
    if root.tag != root_tag:
        raise XmlError(f"expected <{root_tag}>, got <{root.tag}>")
    return root


def _text(element: ET.Element, path: str) -> str | None:
    found = element.find(path)
    return found.text.strip() if found is not None and found.text else None


def parse_create_result(body: bytes) -> LiveChannelUrls:
    """The URLs of a ``CreateLiveChannelResult``."""
    root = parse_xml(body, "CreateLiveChannelResult")
    publish, play = _text(root, "PublishUrls/Url"), _text(root, "PlayUrls/Url")
    if not publish or not play:
        raise XmlError("CreateLiveChannelResult without PublishUrls/Url and PlayUrls/Url")
    return LiveChannelUrls(publish, play)


def parse_stat(body: bytes) -> LiveChannelStat:
    """A ``LiveChannelStat`` document (an unknown status is an XmlError)."""
    root = parse_xml(body, "LiveChannelStat")
    try:
        status = LiveChannelStatus(_text(root, "Status") or "")
    except ValueError:
        raise XmlError(f"unknown LiveChannel status {_text(root, 'Status')!r}") from None

    def section(name: str) -> dict[str, str]:
        node = root.find(name)
        if node is None:
            return {}
        return {child.tag: (child.text or "").strip() for child in node}

    return LiveChannelStat(
        status,
        connected_time=_text(root, "ConnectedTime"),
        remote_addr=_text(root, "RemoteAddr"),
        video=section("Video"),
        audio=section("Audio"),
    )


def parse_error(body: bytes) -> OssErrorBody:
    """The fields of an ``<Error>`` document."""
    root = parse_xml(body, "Error")
    return OssErrorBody(
        code=_text(root, "Code") or "",
        message=_text(root, "Message") or "",
        request_id=_text(root, "RequestId"),
        ec=_text(root, "EC"),
    )
