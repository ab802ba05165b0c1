"""Settings read from the environment."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ConfigError",
    "Settings",
    "data_dir",
    "default_database_url",
    "is_loopback_host",
    "is_postgres_url",
    "sqlite_path_from_url",
]


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {value}")
    return value


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    value = _float(env, name, default)
    if value <= 0:
        raise ConfigError(f"{name} must be greater than 0, got {value:g}")
    return value


def _opt(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value if value else None


def _regions(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get("RELAYWARDEN_ALIYUN_REGIONS") or ""
    regions = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if raw.strip() and not regions:
        raise ConfigError(f"RELAYWARDEN_ALIYUN_REGIONS must be a comma list, got {raw!r}")
    return regions


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where relaywarden keeps its files, whatever the working directory.

    ``RELAYWARDEN_DATA_DIR``, else ``$XDG_DATA_HOME/relaywarden``, else
    ``~/.local/share/relaywarden``.
    """
    env = os.environ if env is None else env
    if env.get("RELAYWARDEN_DATA_DIR"):
        return Path(env["RELAYWARDEN_DATA_DIR"]).expanduser().absolute()
    xdg = env.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return (base / "relaywarden").absolute()


def default_database_url(env: Mapping[str, str] | None = None) -> str:
    """``sqlite:///`` + the data directory's ``relaywarden.db`` (an absolute path)."""
    return f"sqlite:///{data_dir(env) / 'relaywarden.db'}"


def is_loopback_host(host: str) -> bool:
    """True for hosts only reachable from this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_postgres_url(url: str) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) database URL."""
    return url.startswith(("postgresql://", "postgres://"))


def sqlite_path_from_url(url: str) -> str:
    """The file path of a ``sqlite:///path`` URL (``sqlite:////abs`` for absolute paths)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ConfigError(
            "RELAYWARDEN_DATABASE_URL must look like sqlite:///path or "
            f"postgresql://user@host:port/db, got {url.split('://')[0]}://…"
        )
    path = url[len(prefix) :]
    if not path:
        raise ConfigError("RELAYWARDEN_DATABASE_URL has an empty path")
    return path


_LOG_LEVELS = ("debug", "info", "warning", "error")


def _check_oss_endpoint(endpoint: str | None) -> None:
    """An OSS endpoint must be a bare ``http(s)://host[:port]`` (buckets are added to it)."""
    if endpoint is None:
        return
    scheme, _, rest = endpoint.partition("://")
    if scheme not in ("http", "https") or not rest or "/" in rest.rstrip("/") or "?" in rest:
        raise ConfigError(
            "RELAYWARDEN_OSS_ENDPOINT must look like https://oss-cn-shanghai.aliyuncs.com "
            "or http://127.0.0.1:PORT (no path)"
        )


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of the service; ``from_env`` is the only constructor the CLI uses."""

    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str = field(default_factory=default_database_url)
    public_url: str | None = None
    callback_token: str | None = None
    admin_token: str | None = None
    aliyun_access_key_id: str | None = None
    aliyun_access_key_secret: str | None = None
    aliyun_live_endpoint: str = "https://live.aliyuncs.com"
    aliyun_region: str = "cn-shanghai"
    aliyun_qps: int = 10
    tencent_secret_id: str | None = None
    tencent_secret_key: str | None = None
    trtc_endpoint: str = "https://trtc.tencentcloudapi.com"
    trtc_region: str = "ap-singapore"
    trtc_qps: int = 20
    trtc_callback_key: str | None = None
    css_callback_key: str | None = None
    rules_file: str | None = None
    log_format: str = "json"
    log_level: str = "info"
    """``RELAYWARDEN_LOG_LEVEL``: debug shows probe and scrape requests too."""
    max_body_bytes: int = 1024 * 1024
    job_lease_seconds: int = 120
    job_backoff_seconds: float = 2.0
    job_max_attempts: int = 8
    job_concurrency: int = 4
    aliyun_regions: tuple[str, ...] = ()
    """Regions probed for a task of unknown region; empty means ``(aliyun_region,)``."""
    reconcile_interval_seconds: float = 60.0
    retention_days: float = 30.0
    retention_interval_seconds: float = 3600.0
    ingest_id_wait_seconds: float = 120.0
    oss_endpoint: str | None = None
    oss_region: str | None = None
    oss_qps: int = 10
    artc_qps: int = 10
    whip_qps: int = 40
    max_connections: int = 1000
    header_timeout_seconds: float = 10.0
    max_header_bytes: int = 32 * 1024
    provider_deadline_seconds: float = 30.0
    adopt_max_relays: int = 1000
    adopt_per_minute: int = 60
    forward_url: str | None = None
    """Where every accepted callback is forwarded (``RELAYWARDEN_FORWARD_URL``); None: off."""
    forward_secret: str | None = None
    forward_max_attempts: int = 10
    forward_backoff_seconds: float = 1.0
    forward_timeout_seconds: float = 10.0
    #: ``serve --new-token``: make a callback token even though the store has history.
    new_token: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the ``RELAYWARDEN_*`` variables; raise ConfigError naming a bad one."""
        env = os.environ if env is None else env
        log_format = env.get("RELAYWARDEN_LOG_FORMAT", "json") or "json"
        if log_format not in ("json", "console"):
            raise ConfigError(f"RELAYWARDEN_LOG_FORMAT must be json or console, got {log_format!r}")
        log_level = (env.get("RELAYWARDEN_LOG_LEVEL") or "info").lower()
        if log_level not in _LOG_LEVELS:
            raise ConfigError(
                f"RELAYWARDEN_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, got {log_level!r}"
            )
        settings = cls(
            log_level=log_level,
            host=env.get("RELAYWARDEN_HOST") or "127.0.0.1",
            port=_int(env, "RELAYWARDEN_PORT", 8080, minimum=0),
            database_url=env.get("RELAYWARDEN_DATABASE_URL") or default_database_url(env),
            public_url=_opt(env, "RELAYWARDEN_PUBLIC_URL"),
            callback_token=_opt(env, "RELAYWARDEN_CALLBACK_TOKEN"),
            admin_token=_opt(env, "RELAYWARDEN_ADMIN_TOKEN"),
            aliyun_access_key_id=_opt(env, "RELAYWARDEN_ALIYUN_ACCESS_KEY_ID"),
            aliyun_access_key_secret=_opt(env, "RELAYWARDEN_ALIYUN_ACCESS_KEY_SECRET"),
            aliyun_live_endpoint=env.get("RELAYWARDEN_ALIYUN_LIVE_ENDPOINT")
            or "https://live.aliyuncs.com",
            aliyun_region=env.get("RELAYWARDEN_ALIYUN_REGION") or "cn-shanghai",
            aliyun_qps=_int(env, "RELAYWARDEN_ALIYUN_QPS", 10),
            tencent_secret_id=_opt(env, "RELAYWARDEN_TENCENT_SECRET_ID"),
            tencent_secret_key=_opt(env, "RELAYWARDEN_TENCENT_SECRET_KEY"),
            trtc_endpoint=env.get("RELAYWARDEN_TRTC_ENDPOINT")
            or "https://trtc.tencentcloudapi.com",
            trtc_region=env.get("RELAYWARDEN_TRTC_REGION") or "ap-singapore",
            trtc_qps=_int(env, "RELAYWARDEN_TRTC_QPS", 20),
            trtc_callback_key=_opt(env, "RELAYWARDEN_TRTC_CALLBACK_KEY"),
            css_callback_key=_opt(env, "RELAYWARDEN_CSS_CALLBACK_KEY"),
            rules_file=_opt(env, "RELAYWARDEN_RULES_FILE"),
            log_format=log_format,
            job_lease_seconds=_int(env, "RELAYWARDEN_JOB_LEASE_SECONDS", 120),
            job_backoff_seconds=_float(env, "RELAYWARDEN_JOB_BACKOFF_SECONDS", 2.0),
            job_max_attempts=_int(env, "RELAYWARDEN_JOB_MAX_ATTEMPTS", 8),
            job_concurrency=_int(env, "RELAYWARDEN_JOB_CONCURRENCY", 4),
            aliyun_regions=_regions(env),
            reconcile_interval_seconds=_float(env, "RELAYWARDEN_RECONCILE_INTERVAL_SECONDS", 60.0),
            retention_days=_float(env, "RELAYWARDEN_RETENTION_DAYS", 30.0),
            retention_interval_seconds=_float(
                env, "RELAYWARDEN_RETENTION_INTERVAL_SECONDS", 3600.0
            ),
            ingest_id_wait_seconds=_float(env, "RELAYWARDEN_INGEST_ID_WAIT_SECONDS", 120.0),
            oss_endpoint=_opt(env, "RELAYWARDEN_OSS_ENDPOINT"),
            oss_region=_opt(env, "RELAYWARDEN_OSS_REGION"),
            oss_qps=_int(env, "RELAYWARDEN_OSS_QPS", 10),
            artc_qps=_int(env, "RELAYWARDEN_ARTC_QPS", 10),
            whip_qps=_int(env, "RELAYWARDEN_WHIP_QPS", 40),
            max_connections=_int(env, "RELAYWARDEN_MAX_CONNECTIONS", 1000),
            header_timeout_seconds=_positive(env, "RELAYWARDEN_HEADER_TIMEOUT_SECONDS", 10.0),
            max_header_bytes=_int(env, "RELAYWARDEN_MAX_HEADER_BYTES", 32 * 1024, minimum=1024),
            adopt_max_relays=_int(env, "RELAYWARDEN_ADOPT_MAX_RELAYS", 1000, minimum=0),
            adopt_per_minute=_int(env, "RELAYWARDEN_ADOPT_PER_MINUTE", 60, minimum=0),
            provider_deadline_seconds=_positive(
                env,
                "RELAYWARDEN_PROVIDER_DEADLINE_SECONDS",
                min(30.0, _int(env, "RELAYWARDEN_JOB_LEASE_SECONDS", 120) / 4),
            ),
            forward_url=_opt(env, "RELAYWARDEN_FORWARD_URL"),
            forward_secret=_opt(env, "RELAYWARDEN_FORWARD_SECRET"),
            forward_max_attempts=_int(env, "RELAYWARDEN_FORWARD_MAX_ATTEMPTS", 10),
            forward_backoff_seconds=_positive(env, "RELAYWARDEN_FORWARD_BACKOFF_SECONDS", 1.0),
            forward_timeout_seconds=_positive(env, "RELAYWARDEN_FORWARD_TIMEOUT_SECONDS", 10.0),
        )
        if not is_postgres_url(settings.database_url):
            sqlite_path_from_url(settings.database_url)
        settings.check_forwarding()
        _check_oss_endpoint(settings.oss_endpoint)
        settings.check_provider_deadline()
        return settings

    def check_provider_deadline(self) -> None:
        """A provider call (two exchanges at most) must end well inside a job's lease."""
        if self.provider_deadline_seconds * 4 > self.job_lease_seconds:
            raise ConfigError(
                "RELAYWARDEN_PROVIDER_DEADLINE_SECONDS must be at most a quarter of "
                f"RELAYWARDEN_JOB_LEASE_SECONDS ({self.job_lease_seconds}s), got "
                f"{self.provider_deadline_seconds:g}s"
            )

    def check_forwarding(self) -> None:
        """A forward URL must be http(s) and come with the secret its signature uses."""
        if self.forward_url is None:
            return
        scheme, _, rest = self.forward_url.partition("://")
        if scheme not in ("http", "https") or not rest:
            raise ConfigError(
                "RELAYWARDEN_FORWARD_URL must look like https://consumer.example.com/callbacks"
            )
        if not self.forward_secret or len(self.forward_secret) < 16:
            raise ConfigError(
                "RELAYWARDEN_FORWARD_SECRET (at least 16 characters) must be set with "
                "RELAYWARDEN_FORWARD_URL: the consumer checks our signature with it"
            )

    def check_exposure(self) -> None:
        """Refuse an API without admin token on a non-loopback listener."""
        if self.admin_token is None and not is_loopback_host(self.host):
            raise ConfigError(
                f"RELAYWARDEN_ADMIN_TOKEN must be set when listening on {self.host}: "
                "the /api routes would otherwise be open to the network"
            )

    @property
    def regions(self) -> tuple[str, ...]:
        """The Alibaba regions probed for a task (``RELAYWARDEN_ALIYUN_REGIONS``)."""
        return self.aliyun_regions or (self.aliyun_region,)

    @property
    def oss_default_region(self) -> str:
        """The bucket region OSS calls sign for unless a relay names one."""
        return self.oss_region or self.aliyun_region

    @property
    def base_url(self) -> str:
        """The URL providers reach us at (RELAYWARDEN_PUBLIC_URL, else http://host:port)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"
