"""relaywarden benchmarks (``make bench``): every figure of the performance issue, with its target.

Scenarios (all by default, in this order; ``--only`` picks some):

- ``throughput``: wrk with N connections posting distinct 190-byte Alibaba callbacks to a
  bare Starlette endpoint and to ``relaywarden serve``, side by side in one run; req/s, p50,
  p99 and the ratio (target >= 0.5 x the bare endpoint).
- ``paced``: 16 connections with 16 ms think time (about 1k callbacks/s); p99 <= 5 ms.
- ``followup``: failure callbacks spaced under the QPS budget against the fake Alibaba Live
  API; from the 200 to the first provider call, p99 <= 50 ms.
- ``burst``: N simultaneous failures with ``RELAYWARDEN_ALIYUN_QPS=10``; calls, elapsed, share
  of the budget, most calls in any 1-second window (never more than 10).
- ``memory``: the server's RSS over a long run after warm-up; store bytes per callback.

    .venv/bin/python bench/run.py [--only throughput,paced] [--json out.json] [--smoke]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(1, str(HERE.parent))  # tests.fakes, for the provider scenarios

from load import BODY_BYTES, ensure_wrk  # noqa: E402
from memory import run_memory  # noqa: E402
from report import Report  # noqa: E402
from throughput import run_throughput  # noqa: E402

SCENARIOS = ("throughput", "paced", "followup", "burst", "memory")
#: Small settings that run every scenario in a few seconds (for the bench's own test).
SMOKE = {
    "duration": 1.0,
    "warmup": 1.0,
    "connections": 8,
    "followups": 5,
    "followup_spacing": 0.1,
    "burst": 10,
    "memory_warmup": 500,
    "memory_callbacks": 1500,
}


def _scenarios(text: str) -> list[str]:
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown or not chosen:
        names = ", ".join(unknown) or "(none)"
        raise argparse.ArgumentTypeError(f"unknown scenario(s) {names}; use {', '.join(SCENARIOS)}")
    return chosen


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(__doc__ or "").split("\n\n", 1)[1],
    )
    add = parser.add_argument
    add("--only", type=_scenarios, default=list(SCENARIOS), help="comma list of scenarios")
    add("--json", type=Path, help="also write figures and details to this file")
    add("--smoke", action="store_true", help="tiny settings: checks the bench runs (seconds)")
    add("--strict", action="store_true", help="exit 1 when a figure misses its target")
    add("--connections", type=int, default=32, help="wrk connections for throughput/memory")
    add("--duration", type=float, default=10.0, help="measured seconds of each wrk run")
    add("--warmup", type=float, default=3.0, help="unmeasured seconds before each wrk run")
    add("--tasks", type=int, default=256, help="distinct task ids the load cycles through")
    add("--followups", type=int, default=40, help="failure callbacks in the follow-up run")
    add("--followup-spacing", type=float, default=0.5, help="seconds between them")
    add("--burst", type=int, default=100, help="simultaneous failures (the issue used 1000)")
    add("--memory-warmup", type=int, default=20_000, help="callbacks before RSS is taken")
    add("--memory-callbacks", type=int, default=60_000, help="callbacks measured (issue: 300000)")
    add(
        "--profile",
        type=Path,
        help="also profile relaywarden under the throughput load with "
        "py-spy (installed separately) and write the raw stacks here",
    )
    add("--profile-gil", action="store_true", help="profile only the thread holding the GIL")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.smoke:
        for key, value in SMOKE.items():
            if getattr(args, key) == parser.get_default(key):
                setattr(args, key, value)
    if args.profile and "throughput" not in args.only:
        parser.error("--profile needs the throughput scenario")
    ensure_wrk()
    report = Report(options={k: v for k, v in vars(args).items() if k != "json"})
    report.details["body_bytes"] = BODY_BYTES
    report.details["load_average_at_start"] = report.machine()["load_average"]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="relaywarden-bench-") as tmp:
        workdir = Path(tmp)
        if "throughput" in args.only or "paced" in args.only:
            run_throughput(
                report,
                workdir,
                args,
                compare="throughput" in args.only,
                paced="paced" in args.only,
            )
        if "followup" in args.only or "burst" in args.only:
            from provider import run_burst, run_followup  # needs the test extras

            if "followup" in args.only:
                run_followup(report, workdir, args)
            if "burst" in args.only:
                run_burst(report, workdir, args)
        if "memory" in args.only:
            run_memory(report, workdir, args)
    machine = report.machine()
    load = f"load average {report.details['load_average_at_start']} → {machine['load_average']}"
    print(
        f"\nsummary ({machine['cpus']} CPUs, {machine['python']}, {machine['system']}; "
        f"{time.monotonic() - started:.0f} s; {load}):"
    )
    print(report.table())
    if args.json:
        report.write_json(args.json)
        print(f"figures written to {args.json}", flush=True)
    for problem in report.problems:
        print(f"INVALID: {problem}", file=sys.stderr)
    if report.problems:
        return 2
    if args.strict and any(f.passed is False for f in report.figures):
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
