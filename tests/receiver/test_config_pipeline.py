"""Settings of the OSS LiveChannel and ARTC clients."""

from __future__ import annotations

import pytest

from receiver.config import ConfigError, Settings


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.oss_endpoint is None and settings.oss_region is None
    assert (settings.oss_qps, settings.artc_qps, settings.whip_qps) == (10, 10, 40)
    assert settings.oss_default_region == settings.aliyun_region == "cn-shanghai"


def test_values_from_env() -> None:
    settings = Settings.from_env(
        {
            "RELAYWARDEN_OSS_ENDPOINT": "http://127.0.0.1:9000",
            "RELAYWARDEN_OSS_REGION": "cn-beijing",
            "RELAYWARDEN_OSS_QPS": "5",
            "RELAYWARDEN_ARTC_QPS": "3",
            "RELAYWARDEN_WHIP_QPS": "20",
        }
    )
    assert settings.oss_endpoint == "http://127.0.0.1:9000"
    assert settings.oss_region == settings.oss_default_region == "cn-beijing"
    assert (settings.oss_qps, settings.artc_qps, settings.whip_qps) == (5, 3, 20)


@pytest.mark.parametrize(
    "endpoint",
    ["oss-cn-shanghai.aliyuncs.com", "ftp://x", "https://x/bucket", "https://x?a=1", "https://"],
)
def test_bad_oss_endpoint_is_refused(endpoint: str) -> None:
    with pytest.raises(ConfigError, match="RELAYWARDEN_OSS_ENDPOINT"):
        Settings.from_env({"RELAYWARDEN_OSS_ENDPOINT": endpoint})


def test_bad_budget_is_refused() -> None:
    with pytest.raises(ConfigError, match="RELAYWARDEN_WHIP_QPS"):
        Settings.from_env({"RELAYWARDEN_WHIP_QPS": "0"})
