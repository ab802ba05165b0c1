"""compose.yaml wires relaywarden, Prometheus and Grafana to files that exist in the repository.

Docker is not needed: the file is parsed with PyYAML and every bind mount, config path and
service reference is followed back to the checkout.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def binds(service: dict[str, Any]) -> list[tuple[Path, PurePosixPath]]:
    """``(host path, container path)`` of the service's bind mounts (short syntax)."""
    result = []
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith((".", "/")):
            result.append(((ROOT / source).resolve(), PurePosixPath(target)))
    return result


def host_path(service: dict[str, Any], container_path: str | PurePosixPath) -> Path:
    """The checkout path that a path inside the container comes from (longest mount wins)."""
    path = PurePosixPath(container_path)
    best: tuple[Path, PurePosixPath] | None = None
    for source, target in binds(service):
        if (path == target or target in path.parents) and (
            best is None or len(target.parts) > len(best[1].parts)
        ):
            best = (source, target)
    assert best is not None, f"{container_path} is not inside any bind mount"
    return best[0].joinpath(*path.relative_to(best[1]).parts)


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    env = service.get("environment", {})
    if isinstance(env, dict):
        return {k: (None if v is None else str(v)) for k, v in env.items()}
    return {k: (v if sep else None) for k, sep, v in (e.partition("=") for e in env)}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_services_and_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"relaywarden", "prometheus", "grafana"} <= set(services)
    assert services["relaywarden"]["build"] in (".", {"context": "."})
    assert (ROOT / "Dockerfile").is_file()
    for name, service in services.items():
        if "image" in service and "build" not in service:
            # PostgreSQL numbers its releases major.minor (16.4 is one exact release).
            exact = r"postgres:\d+\.\d+" if name == "postgres" else r"[\w./-]+:v?\d+\.\d+\.\d+"
            assert re.fullmatch(exact, service["image"]), (
                f"{name}: pin an exact image version, not {service['image']!r}"
            )
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in compose.get("volumes", {}), f"{name}: undeclared volume {source}"


def test_every_bind_mount_exists(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for source, _ in binds(service):
            assert source.exists(), f"{name}: bind mount source {source} does not exist"
            assert ROOT in (source, *source.parents), f"{name}: {source} is outside the repo"


def test_secrets_are_placeholders(compose: dict[str, Any]) -> None:
    relaywarden = environment(compose["services"]["relaywarden"])
    admin = relaywarden["RELAYWARDEN_ADMIN_TOKEN"]
    assert admin is not None and re.fullmatch(r"\$\{RELAYWARDEN_ADMIN_TOKEN:\?[^}]+\}", admin), (
        "the image listens on 0.0.0.0: the admin token must be required"
    )
    for name, service in compose["services"].items():
        for key, value in environment(service).items():
            if re.search(r"TOKEN|SECRET|PASSWORD|_KEY(_|$)", key) and value is not None:
                assert re.fullmatch(r"\$\{\w+(:[?-][^}]*)?\}", value), f"{name}: {key}={value}"
    for key in ("RELAYWARDEN_CALLBACK_TOKEN", "RELAYWARDEN_TRTC_CALLBACK_KEY"):
        assert key in relaywarden, f"{key} should be passed through"


def test_prometheus_config_and_rules_resolve(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    flags = dict(arg.split("=", 1) for arg in prometheus["command"] if "=" in arg)
    config_in_container = PurePosixPath(flags["--config.file"])
    config_path = host_path(prometheus, config_in_container)
    assert config_path == ROOT / "grafana" / "prometheus" / "prometheus.yml"
    config = load_yaml(config_path)

    rule_files = [
        host_path(prometheus, posixpath.normpath(config_in_container.parent / f))
        for f in config["rule_files"]
    ]
    assert ROOT / "grafana" / "alerts" / "relaywarden.rules.yml" in rule_files
    assert all(path.is_file() for path in rule_files)
    # The same relative paths also resolve in a checkout (promtool check config relies on it).
    for entry in config["rule_files"]:
        assert (config_path.parent / entry).resolve().is_file()

    (scrape,) = [s for s in config["scrape_configs"] if s["job_name"].startswith("relaywarden")]
    targets = [t.split(":") for sc in scrape["static_configs"] for t in sc["targets"]]
    replicas = {n for n, s in compose["services"].items() if s.get("image") == "relaywarden:local"}
    assert {host for host, _ in targets} == replicas  # every replica, nothing else
    assert {port for _, port in targets} == {"8080"}
    assert "EXPOSE 8080" in (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_grafana_provisioning_resolves(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    provisioning = host_path(grafana, "/etc/grafana/provisioning")

    (datasource,) = load_yaml(provisioning / "datasources" / "prometheus.yaml")["datasources"]
    assert datasource["type"] == "prometheus"
    url = urlsplit(datasource["url"])
    assert url.hostname in compose["services"]
    assert url.port == 9090

    (provider,) = load_yaml(provisioning / "dashboards" / "relaywarden.yaml")["providers"]
    assert provider["type"] == "file"
    assert provider["folder"] == "relaywarden"
    dashboards = host_path(grafana, provider["options"]["path"])
    assert dashboards == ROOT / "grafana" / "dashboards"
    assert (dashboards / "relaywarden.json").is_file()

    home = environment(grafana).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        assert host_path(grafana, home).is_file()


def test_host_path_rejects_unmounted_paths(compose: dict[str, Any]) -> None:
    with pytest.raises(AssertionError, match="not inside any bind mount"):
        host_path(compose["services"]["grafana"], "/etc/grafana/grafana.ini")


def test_replicas_share_one_postgres_database(compose: dict[str, Any]) -> None:
    services = compose["services"]
    replicas = [s for s in services.values() if s.get("image") == "relaywarden:local"]
    assert len(replicas) == 2
    envs = [environment(s) for s in replicas]
    assert envs[0] == envs[1]  # one configuration: same database, token, budgets
    raw = str(envs[0]["RELAYWARDEN_DATABASE_URL"])
    required = "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
    assert required in raw  # the password comes from the shell, never from the file
    url = urlsplit(raw.replace(required, "interpolated"))
    assert url.scheme == "postgresql" and url.hostname == "postgres" and url.port == 5432
    database = url.path.lstrip("/")
    postgres = environment(services["postgres"])
    assert postgres["POSTGRES_DB"] == database and postgres["POSTGRES_USER"] == url.username
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    for replica in replicas:
        assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
    published = sorted(r["ports"][0].split(":")[0] for r in replicas)
    assert published == ["8080", "8081"]
