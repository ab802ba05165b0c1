"""The self-healing settings, read from the environment under their documented names."""

from __future__ import annotations

import pytest

from receiver.config import ConfigError, Settings


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.regions == ("cn-shanghai",)
    assert settings.reconcile_interval_seconds == 60
    assert settings.retention_days == 30
    assert settings.ingest_id_wait_seconds == 120


def test_regions_default_to_the_single_region_and_take_a_comma_list() -> None:
    single = Settings.from_env({"RELAYWARDEN_ALIYUN_REGION": "cn-beijing"})
    assert single.regions == ("cn-beijing",)
    several = Settings.from_env(
        {"RELAYWARDEN_ALIYUN_REGIONS": " cn-shanghai, cn-beijing,,cn-shanghai ,ap-southeast-1"}
    )
    assert several.regions == ("cn-shanghai", "cn-beijing", "ap-southeast-1")
    with pytest.raises(ConfigError, match="RELAYWARDEN_ALIYUN_REGIONS"):
        Settings.from_env({"RELAYWARDEN_ALIYUN_REGIONS": " , "})


def test_reconcile_and_retention_can_be_disabled_but_not_negative() -> None:
    off = Settings.from_env(
        {"RELAYWARDEN_RECONCILE_INTERVAL_SECONDS": "0", "RELAYWARDEN_RETENTION_DAYS": "0"}
    )
    assert (off.reconcile_interval_seconds, off.retention_days) == (0, 0)
    for name in ("RELAYWARDEN_RECONCILE_INTERVAL_SECONDS", "RELAYWARDEN_RETENTION_DAYS"):
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({name: "-1"})
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({name: "soon"})
