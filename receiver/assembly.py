"""Composition root: the full app of ``relaywarden serve``, both halves wired together.

The only module of ``receiver`` that knows ``handlers``: it hands the rules to the store
(as the planner run inside each callback transaction) and starts the job runner.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from urllib.parse import urlsplit

from starlette.applications import Starlette

from handlers.actions import ACTIONS
from handlers.aliyun_client import AliyunLiveClient
from handlers.artc_client import ArtcClient
from handlers.orphans import OrphanFinder
from handlers.oss_client import OssClient
from handlers.planner import RulePlanner
from handlers.ratelimit import PriorityLimiter, RateLimiter, SharedRateLimiter, WindowRateLimiter
from handlers.reconciler import Reconciler
from handlers.relay_providers import ClientRelayProviders
from handlers.rules import load_rules
from handlers.runner import JobRunner
from handlers.trtc_client import TrtcClient
from receiver.app import create_app
from receiver.config import Settings, is_loopback_host
from receiver.forwarder import Forwarder
from receiver.redaction import register_secrets
from receiver.relays_api import relay_callback_url
from receiver.retention import Retention
from receiver.runtime import BackgroundService, Runtime
from receiver.store.postgres.store import PgStore
from receiver.token_api import HIDDEN_TOKEN, callback_urls

__all__ = [
    "account_limiters",
    "banner_text",
    "build_app",
    "job_runner",
    "print_banner",
    "reconciler",
    "register_known_secrets",
]


def banner_text(runtime: Runtime) -> str:
    """What ``serve`` tells the operator at start: the CallbackUrl of every source.

    The callback token appears only when this start made it (the one time it is shown
    unasked); afterwards ``relaywarden token show`` prints it. A loopback public URL is
    flagged, since no provider can reach it.
    """
    settings = runtime.settings
    shown = runtime.token_created
    lines = ["relaywarden is ready.", "  Register these callback URLs with the providers:"]
    urls = callback_urls(runtime, with_token=shown)
    lines += [f"    {source:<22} {url}" for source, url in urls.items()]
    if shown:
        lines.append("  The callback token was made now and is shown only this once here.")
    else:
        lines.append(f"  {HIDDEN_TOKEN} stands for the token: `relaywarden token show` prints it.")
    if not settings.trtc_callback_key:
        lines.append("  TRTC callbacks are refused until RELAYWARDEN_TRTC_CALLBACK_KEY is set.")
    host = urlsplit(settings.base_url).hostname or ""
    if is_loopback_host(host):
        lines.append(
            f"  WARNING: the callback URLs point at {host}, which providers cannot reach: "
            "set RELAYWARDEN_PUBLIC_URL to the address they reach this service at."
        )
    return "\n".join(lines)


def print_banner(runtime: Runtime) -> None:
    """Print ``banner_text`` to stderr (the one place a token may be printed)."""
    print(banner_text(runtime), file=sys.stderr, flush=True)


def _slot_hold_seconds(settings: Settings) -> float:
    # How long a slot taken by a replica that died mid-call keeps counting: the longest a
    # provider call can be in flight (its deadline, twice when it is re-signed and resent).
    return 2 * settings.provider_deadline_seconds


def _account_bucket(provider: str, account: str | None) -> str:
    # One budget per provider account; the key id is hashed so the table holds no credential.
    digest = hashlib.sha256((account or "").encode()).hexdigest()[:16]
    return f"{provider}:{digest}"


def _shared(runtime: Runtime, name: str, account: str | None, qps: int) -> SharedRateLimiter:
    # One budget per provider account across all replicas (a slot log in PostgreSQL).
    store = runtime.store
    assert isinstance(store, PgStore)
    return SharedRateLimiter(
        store.rate_slots,
        _account_bucket(name, account),
        qps,
        hold=_slot_hold_seconds(runtime.settings),
    )


def account_limiters(runtime: Runtime) -> tuple[PriorityLimiter, PriorityLimiter]:
    """The (Alibaba, TRTC) QPS budgets, shared by the job runner and the reconciler.

    On PostgreSQL each is one budget per provider account across all replicas (a slot log
    in the database); on SQLite (one process) an in-process window.
    """
    settings = runtime.settings
    if isinstance(runtime.store, PgStore):
        return (
            _shared(runtime, "aliyun", settings.aliyun_access_key_id, settings.aliyun_qps),
            _shared(runtime, "trtc", settings.tencent_secret_id, settings.trtc_qps),
        )
    return WindowRateLimiter(settings.aliyun_qps), WindowRateLimiter(settings.trtc_qps)


def job_runner(
    runtime: Runtime, limiters: tuple[PriorityLimiter, PriorityLimiter] | None = None
) -> JobRunner:
    """The job runner with provider clients built from the settings.

    ``limiters`` (Alibaba, TRTC) are the accounts' QPS budgets, shared with the reconciler;
    by default the runner gets budgets of its own (``account_limiters``). On PostgreSQL the
    OSS, ARTC and WHIP budgets are shared by all replicas too, and enqueues in any replica
    wake the runner. The OSS and ARTC clients (and so their budgets) are shared with the
    relay routes (``runtime.providers``): the limits are per account, whoever calls.
    """
    settings = runtime.settings
    store = runtime.store
    aliyun, trtc = _clients(settings, *(limiters or account_limiters(runtime)))
    shared: dict[str, RateLimiter | None] = dict.fromkeys(("oss", "artc", "whip"))
    if isinstance(store, PgStore):
        account = settings.aliyun_access_key_id
        shared["oss"] = _shared(runtime, "oss", account, settings.oss_qps)
        shared["artc"] = _shared(runtime, "artc", account, settings.artc_qps)
        shared["whip"] = _shared(runtime, "whip", account, settings.whip_qps)
    oss = OssClient(
        settings.aliyun_access_key_id,
        settings.aliyun_access_key_secret,
        region=settings.oss_default_region,
        endpoint=settings.oss_endpoint,
        limiter=shared["oss"],
        qps=settings.oss_qps,
        deadline=settings.provider_deadline_seconds,
    )
    artc = ArtcClient(
        settings.aliyun_live_endpoint,
        settings.aliyun_access_key_id,
        settings.aliyun_access_key_secret,
        limiter=shared["artc"],
        qps=settings.artc_qps,
        whip_limiter=shared["whip"],
        whip_qps=settings.whip_qps,
        deadline=settings.provider_deadline_seconds,
    )
    runtime.providers = ClientRelayProviders(oss, artc)
    return JobRunner(
        runtime.store,
        ACTIONS,
        aliyun=aliyun,
        trtc=trtc,
        oss=oss,
        artc=artc,
        callback_url=lambda relay_id, region: relay_callback_url(runtime, relay_id, region),
        concurrency=settings.job_concurrency,
        lease_seconds=settings.job_lease_seconds,
        backoff_base=settings.job_backoff_seconds,
        max_attempts=settings.job_max_attempts,
        regions=settings.regions,
        ingest_id_wait_seconds=settings.ingest_id_wait_seconds,
        wakeup=store.jobs_enqueued,
    )


def register_known_secrets(settings: Settings) -> None:
    """Have every log line mask the configured secrets, in any encoding."""
    register_secrets(
        settings.callback_token,
        settings.admin_token,
        settings.aliyun_access_key_secret,
        settings.tencent_secret_key,
        settings.trtc_callback_key,
        settings.css_callback_key,
        settings.forward_secret,
    )


def reconciler(runtime: Runtime, limiters: tuple[PriorityLimiter, PriorityLimiter]) -> Reconciler:
    """The reconciler, its calls at low priority in the job runner's QPS budgets."""
    settings = runtime.settings
    aliyun, trtc = _clients(settings, *(limiter.low_priority() for limiter in limiters))
    finder = OrphanFinder(
        runtime.store,
        aliyun,
        runtime.orphans,
        regions=settings.regions,
        callback_prefix=f"{settings.base_url}/callbacks/aliyun/pull-to-push",
    )
    return Reconciler(
        runtime.store,
        aliyun=aliyun,
        trtc=trtc,
        interval_seconds=settings.reconcile_interval_seconds,
        orphans=finder,
    )


def _clients(
    settings: Settings, aliyun_limiter: RateLimiter, trtc_limiter: RateLimiter
) -> tuple[AliyunLiveClient, TrtcClient]:
    aliyun = AliyunLiveClient(
        settings.aliyun_live_endpoint,
        settings.aliyun_access_key_id,
        settings.aliyun_access_key_secret,
        limiter=aliyun_limiter,
        qps=settings.aliyun_qps,
        deadline=settings.provider_deadline_seconds,
    )
    trtc = TrtcClient(
        settings.trtc_endpoint,
        settings.tencent_secret_id,
        settings.tencent_secret_key,
        region=settings.trtc_region,
        limiter=trtc_limiter,
        qps=settings.trtc_qps,
        deadline=settings.provider_deadline_seconds,
    )
    return aliyun, trtc


def build_app(settings: Settings, *, banner: bool = True) -> Starlette:
    """The app with everything ``serve`` runs. Raises RulesFileError for a bad rules file."""
    register_known_secrets(settings)
    rules = load_rules(settings.rules_file)
    planner = RulePlanner(rules, default_region=settings.aliyun_region, regions=settings.regions)

    def services(runtime: Runtime) -> Sequence[BackgroundService]:
        # One QPS budget per provider account, shared by follow-ups and the reconciler.
        limiters = account_limiters(runtime)
        found: list[BackgroundService] = [job_runner(runtime, limiters)]
        if settings.forward_url is not None:
            found.append(
                Forwarder(
                    runtime.store,
                    settings,
                    wakeup=runtime.forwards_queued,
                    sole_worker=not isinstance(runtime.store, PgStore),
                )
            )
        if settings.reconcile_interval_seconds > 0:
            found.append(reconciler(runtime, limiters))
        if settings.retention_days > 0:
            found.append(
                Retention(
                    runtime.store,
                    days=settings.retention_days,
                    interval_seconds=settings.retention_interval_seconds,
                )
            )
        return found

    def ready(runtime: Runtime) -> None:
        # The callback token may have been generated and stored: known only now.
        register_secrets(runtime.callback_token)
        if banner:
            print_banner(runtime)

    return create_app(settings, planner=planner, services=services, on_ready=ready)
