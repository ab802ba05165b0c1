"""Settings from the environment, the exposure check and the CLI's refusal to start."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from receiver.cli import main
from receiver.config import (
    ConfigError,
    Settings,
    data_dir,
    default_database_url,
    is_loopback_host,
    sqlite_path_from_url,
)
from tests.receiver.helpers import RELAYWARDEN, serve_env
from tests.support.servers import free_port


def test_defaults() -> None:
    settings = Settings.from_env({"RELAYWARDEN_DATA_DIR": "/srv/rw"})
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.database_url == "sqlite:////srv/rw/relaywarden.db"
    assert settings.callback_token is None and settings.admin_token is None
    assert settings.trtc_callback_key is None
    assert settings.aliyun_region == "cn-shanghai" and settings.aliyun_qps == 10
    assert settings.trtc_region == "ap-singapore" and settings.trtc_qps == 20
    assert settings.log_format == "json"
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.base_url == "http://127.0.0.1:8080"


def test_data_dir_default_is_independent_of_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert data_dir({"XDG_DATA_HOME": "/xdg"}) == Path("/xdg/relaywarden")
    home = Path.home() / ".local" / "share" / "relaywarden"
    assert data_dir({}) == home
    assert default_database_url({}) == f"sqlite:///{home}/relaywarden.db"
    # a relative RELAYWARDEN_DATA_DIR is made absolute once, where the process starts
    assert data_dir({"RELAYWARDEN_DATA_DIR": "rel"}) == tmp_path / "rel"
    explicit = {"RELAYWARDEN_DATA_DIR": "/a", "RELAYWARDEN_DATABASE_URL": "sqlite:////b/x.db"}
    assert Settings.from_env(explicit).database_url == "sqlite:////b/x.db"


def test_tests_never_use_the_real_home(isolated_data_dir: Path) -> None:
    assert data_dir() == isolated_data_dir
    assert not str(Settings().database_url).startswith(f"sqlite:///{Path.home()}/.local")


def test_values_from_env() -> None:
    settings = Settings.from_env(
        {
            "RELAYWARDEN_HOST": "::1",
            "RELAYWARDEN_PORT": "9000",
            "RELAYWARDEN_DATABASE_URL": "sqlite:////var/lib/rw.db",
            "RELAYWARDEN_CALLBACK_TOKEN": "cb",
            "RELAYWARDEN_ADMIN_TOKEN": "adm",
            "RELAYWARDEN_TRTC_CALLBACK_KEY": "k",
            "RELAYWARDEN_ALIYUN_QPS": "7",
            "RELAYWARDEN_LOG_FORMAT": "console",
            "RELAYWARDEN_ADMIN_TOKEN_UNRELATED": "x",
        }
    )
    assert settings.port == 9000
    assert settings.base_url == "http://[::1]:9000"
    assert sqlite_path_from_url(settings.database_url) == "/var/lib/rw.db"
    assert (settings.callback_token, settings.admin_token) == ("cb", "adm")
    assert settings.trtc_callback_key == "k" and settings.aliyun_qps == 7
    assert settings.log_format == "console"


def test_empty_values_mean_unset() -> None:
    settings = Settings.from_env({"RELAYWARDEN_ADMIN_TOKEN": "", "RELAYWARDEN_PORT": " "})
    assert settings.admin_token is None
    assert settings.port == 8080


def test_public_url_overrides_base_url() -> None:
    settings = Settings(public_url="https://rw.example.com/")
    assert settings.base_url == "https://rw.example.com"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"RELAYWARDEN_PORT": "http"}, "RELAYWARDEN_PORT"),
        ({"RELAYWARDEN_ALIYUN_QPS": "0"}, "RELAYWARDEN_ALIYUN_QPS"),
        ({"RELAYWARDEN_LOG_FORMAT": "xml"}, "RELAYWARDEN_LOG_FORMAT"),
        ({"RELAYWARDEN_DATABASE_URL": "mysql://x"}, "RELAYWARDEN_DATABASE_URL"),
        ({"RELAYWARDEN_DATABASE_URL": "sqlite:///"}, "RELAYWARDEN_DATABASE_URL"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_check_exposure_refuses_a_public_listener_without_admin_token() -> None:
    with pytest.raises(ConfigError, match="RELAYWARDEN_ADMIN_TOKEN"):
        Settings(host="0.0.0.0").check_exposure()
    Settings(host="0.0.0.0", admin_token="adm").check_exposure()
    Settings(host="127.0.0.1").check_exposure()
    Settings(host="localhost").check_exposure()


def test_cli_main_refuses_before_serving(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name in ("RELAYWARDEN_ADMIN_TOKEN", "RELAYWARDEN_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RELAYWARDEN_DATABASE_URL", f"sqlite:///{tmp_path}/x.db")
    served: list[Settings] = []

    def fake_serve(settings: Settings) -> int:
        served.append(settings)
        return 0

    monkeypatch.setattr("receiver.cli.serve", fake_serve)
    # Logging set-up is global to the process: keep the test runner's.
    monkeypatch.setattr("receiver.cli.configure_logging", lambda log_format, level=None: None)
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert served == []
    assert (
        "RELAYWARDEN_ADMIN_TOKEN must be set when listening on 0.0.0.0" in capsys.readouterr().err
    )
    # --host/--port override the environment; loopback needs no admin token.
    assert main(["serve", "--host", "127.0.0.1", "--port", "9999"]) == 0
    assert (served[0].host, served[0].port) == ("127.0.0.1", 9999)


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--host", "0.0.0.0"], {}), ([], {"RELAYWARDEN_HOST": "0.0.0.0"})],
)
def test_serve_on_a_public_address_without_admin_token_exits_non_zero(
    tmp_path: Path, args: list[str], env: dict[str, str]
) -> None:
    db = tmp_path / "x.db"
    result = subprocess.run(
        [str(RELAYWARDEN), "serve", *args],
        env=serve_env(db, free_port(), **env),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "RELAYWARDEN_ADMIN_TOKEN must be set when listening on 0.0.0.0" in result.stderr
    assert not db.exists()  # refused before touching anything


def test_serve_with_a_bad_setting_exits_with_its_name(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(RELAYWARDEN), "serve"],
        env=serve_env(tmp_path / "x.db", free_port(), RELAYWARDEN_ALIYUN_QPS="lots"),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "RELAYWARDEN_ALIYUN_QPS must be an integer" in result.stderr


def test_connection_and_deadline_limits_from_env() -> None:
    defaults = Settings.from_env({})
    assert (defaults.max_connections, defaults.header_timeout_seconds) == (1000, 10.0)
    assert (defaults.max_header_bytes, defaults.provider_deadline_seconds) == (32768, 30.0)
    settings = Settings.from_env(
        {
            "RELAYWARDEN_MAX_CONNECTIONS": "64",
            "RELAYWARDEN_HEADER_TIMEOUT_SECONDS": "2.5",
            "RELAYWARDEN_MAX_HEADER_BYTES": "8192",
            "RELAYWARDEN_PROVIDER_DEADLINE_SECONDS": "5",
        }
    )
    assert (settings.max_connections, settings.header_timeout_seconds) == (64, 2.5)
    assert (settings.max_header_bytes, settings.provider_deadline_seconds) == (8192, 5.0)
    # Without its own setting, the deadline follows a short lease down to a quarter of it.
    short = Settings.from_env({"RELAYWARDEN_JOB_LEASE_SECONDS": "8"})
    assert short.provider_deadline_seconds == 2.0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RELAYWARDEN_MAX_CONNECTIONS": "0"}, "RELAYWARDEN_MAX_CONNECTIONS must be at least 1"),
        ({"RELAYWARDEN_HEADER_TIMEOUT_SECONDS": "0"}, "must be greater than 0"),
        ({"RELAYWARDEN_MAX_HEADER_BYTES": "100"}, "RELAYWARDEN_MAX_HEADER_BYTES must be at least"),
        ({"RELAYWARDEN_PROVIDER_DEADLINE_SECONDS": "x"}, "must be a number"),
        (
            {"RELAYWARDEN_JOB_LEASE_SECONDS": "60", "RELAYWARDEN_PROVIDER_DEADLINE_SECONDS": "20"},
            "at most a quarter of RELAYWARDEN_JOB_LEASE_SECONDS",
        ),
    ],
)
def test_bad_limits_name_their_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_database_url_selects_sqlite_or_postgresql() -> None:
    from receiver.store.postgres.store import PgStore
    from receiver.store.select import build_store, describe_database
    from receiver.store.sqlite import SqliteStore

    url = "postgresql://rw:s3cret@db.internal:6543/relays"
    settings = Settings.from_env({"RELAYWARDEN_DATABASE_URL": url})
    assert settings.database_url == url
    assert isinstance(build_store(url), PgStore)
    assert isinstance(build_store("sqlite:///x.db"), SqliteStore)
    # Logs and messages name the database without its password.
    assert describe_database(url) == "postgresql://rw@db.internal:6543/relays"
    with pytest.raises(ConfigError, match=r"sqlite:///path or postgresql://"):
        Settings.from_env({"RELAYWARDEN_DATABASE_URL": "mysql://rw@db/relays"})
