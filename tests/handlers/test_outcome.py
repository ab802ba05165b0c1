"""Classification of provider answers, and what a ProviderError says."""

from __future__ import annotations

import pickle

import pytest

from handlers.aliyun_client import is_dst_url_conflict
from handlers.outcome import Outcome, ProviderError, classify_aliyun, classify_trtc, sanitize

OK, THROTTLED, RETRYABLE, REJECTED = (
    Outcome.OK,
    Outcome.THROTTLED,
    Outcome.RETRYABLE,
    Outcome.REJECTED,
)


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (200, None, OK),
        (204, None, OK),
        (400, "Throttling", THROTTLED),
        (400, "Throttling.User", THROTTLED),
        (503, "Throttling.Api", THROTTLED),
        (400, "Throttling.Concurrency", THROTTLED),
        (500, "InternalError", RETRYABLE),
        (503, "ServiceUnavailable", RETRYABLE),
        (500, "UnknownError", RETRYABLE),
        (400, "InternalError", RETRYABLE),  # judged by code, not status
        (400, "SignatureNonceUsed", RETRYABLE),  # re-sign
        (400, "InvalidTimeStamp.Expired", RETRYABLE),  # re-sign
        (400, "InvalidParameter", REJECTED),
        (400, "InvalidParameter.DstUrlExists", REJECTED),
        (400, "InvalidParam.CodeIllegalDuration", REJECTED),
        (400, "MissingRegion", REJECTED),
        (400, "MissingParameter", REJECTED),
        (400, "SignatureDoesNotMatch", REJECTED),
        (404, "InvalidAccessKeyId.NotFound", REJECTED),
        (403, "InvalidAccessKeyId.Inactive", REJECTED),
        (400, "CodeTaskNotExist", REJECTED),
        (500, "InvalidParameter", REJECTED),  # a known client error even with a 5xx
        (400, "SomethingNew", REJECTED),  # unknown 4xx code
        (403, "SomethingNew", REJECTED),
        (500, "SomethingNew", RETRYABLE),  # 5xx without a known code
        (502, None, RETRYABLE),
        (504, None, RETRYABLE),
        (429, None, THROTTLED),
        (400, None, REJECTED),
        (404, None, REJECTED),
        (302, None, REJECTED),
    ],
)
def test_classify_aliyun(status: int, code: str | None, expected: Outcome) -> None:
    assert classify_aliyun(status, code) is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (None, OK),
        ("", OK),
        ("RequestLimitExceeded", THROTTLED),
        ("RequestLimitExceeded.UinLimitExceeded", THROTTLED),
        ("RequestLimitExceeded.GlobalRegionUinLimitExceeded", THROTTLED),
        ("FailedOperation.RestrictedFrequency", THROTTLED),
        ("OperationDenied.FreqOverLimit", THROTTLED),
        ("InternalError", RETRYABLE),
        ("InternalError.DbError", RETRYABLE),
        ("ServiceUnavailable", RETRYABLE),
        ("ResourceUnavailable", RETRYABLE),
        ("ResourceInsufficient", RETRYABLE),
        ("ResourceInsufficient.Quota", RETRYABLE),
        ("AuthFailure.SignatureExpire", RETRYABLE),  # re-sign once (the client does it)
        ("AuthFailure.SignatureFailure", REJECTED),
        ("AuthFailure.SecretIdNotFound", REJECTED),
        ("AuthFailure", REJECTED),
        ("InvalidParameter", REJECTED),
        ("InvalidParameter.BodyParamsError", REJECTED),
        ("InvalidParameterValue.RoomId", REJECTED),
        ("MissingParameter", REJECTED),
        ("UnauthorizedOperation.SdkAppId", REJECTED),
        ("FailedOperation.TaskFinished", REJECTED),  # the action decides it counts as done
        ("FailedOperation.TaskExist", REJECTED),
        ("SomethingNew", REJECTED),
    ],
)
def test_classify_trtc(code: str | None, expected: Outcome) -> None:
    assert classify_trtc(code) is expected


def test_provider_error_is_one_readable_line() -> None:
    error = ProviderError(
        "aliyun",
        "CreateLivePullToPush",
        Outcome.REJECTED,
        "InvalidParameter",
        "Invalid DstUrl.\n  Check it.",
        request_id="ABC-1",
        http_status=400,
    )
    assert str(error) == (
        "aliyun CreateLivePullToPush rejected: InvalidParameter: Invalid DstUrl. Check it. "
        "(RequestId ABC-1)"
    )
    assert error.provider == "aliyun"
    assert error.api == "CreateLivePullToPush"
    assert error.outcome is Outcome.REJECTED
    assert error.retry_after is None
    assert "\n" not in repr(error)


def test_provider_error_survives_pickling() -> None:
    error = ProviderError("trtc", "StopStreamIngest", Outcome.THROTTLED, "X", "m", retry_after=2.0)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.provider, copy.api, copy.outcome, copy.code, copy.retry_after) == (
        "trtc",
        "StopStreamIngest",
        Outcome.THROTTLED,
        "X",
        2.0,
    )
    assert str(copy) == str(error)


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        (
            "Specified signature does not match. server string to sign is:ACS3-HMAC-SHA256\nab12",
            "ab12",
        ),
        ("bad CanonicalRequest: GET\n/\nAccessKeyId=x", "AccessKeyId=x"),
        ("CallbackUrl https://me.example/cb?token=s3cr3tT0ken&x=1 is invalid", "s3cr3tT0ken"),
        ('UserSig "eJw1jd0KgjAYhu9" is expired', "eJw1jd0KgjAYhu9"),
        ("UserSig=eJw1jd0KgjAYhu9 invalid", "eJw1jd0KgjAYhu9"),
        ("url?auth_key=1700000000-0-0-abcdef", "abcdef"),
        ("Signature: deadbeefcafe", "deadbeefcafe"),
    ],
)
def test_sanitize_removes_secrets_and_signatures(text: str, leaked: str) -> None:
    cleaned = sanitize(text)
    assert leaked not in cleaned
    error = ProviderError("aliyun", "A", Outcome.REJECTED, "C", text)
    assert leaked not in str(error)


def test_sanitize_masks_known_secrets_and_bounds_length() -> None:
    assert "hunter22" not in sanitize("the key hunter22 was wrong", ["hunter22"])
    assert len(sanitize("x" * 5000)) == 300
    # Environment variable names are fine to show (they tell the operator what to set).
    message = "set RELAYWARDEN_ALIYUN_ACCESS_KEY_SECRET"
    assert sanitize(message) == message


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("InvalidParameter.DstUrlExists", "", True),
        ("InvalidParameter", "DstUrl is already used by task x", True),
        ("InvalidDstUrl.Conflict", "conflict", True),
        ("InvalidParameter", "DstUrl must be an RTMP URL", False),
        ("CodeTaskNotExist", "Task does not exist.", False),
    ],
)
def test_dst_url_conflict_detection(code: str, message: str, expected: bool) -> None:
    error = ProviderError("aliyun", "CreateLivePullToPush", Outcome.REJECTED, code, message)
    assert is_dst_url_conflict(error) is expected
    retryable = ProviderError("aliyun", "CreateLivePullToPush", Outcome.RETRYABLE, code, message)
    assert not is_dst_url_conflict(retryable)
