"""Durable ingest throughput against a bare endpoint, and the paced acknowledgement p99.

Both servers run side by side; wrk drives each with the same load in the same run, after an
unmeasured warm-up of the same load (which also lets relaywarden adopt the task ids the load
cycles through, so the measured window holds state changes only).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from load import WrkResult, run_wrk
from pyspy import record, top_frames
from report import Figure, Report
from servers import Server, bare_endpoint, relaywarden

__all__ = ["run_throughput"]

#: The issue's paced load: 16 connections with 16 ms think time, about 1k callbacks/s.
PACED_CONNECTIONS = 16
PACED_DELAY_MS = 16


def _measure(
    server: Server, args: argparse.Namespace, connections: int, delay: int = 0
) -> WrkResult:
    if args.warmup > 0:
        run_wrk(
            server.callback_url,
            connections=connections,
            duration=args.warmup,
            delay_ms=delay,
            tasks=args.tasks,
        )
    return run_wrk(
        server.callback_url,
        connections=connections,
        duration=args.duration,
        delay_ms=delay,
        tasks=args.tasks,
    )


def _print(name: str, result: WrkResult) -> None:
    print(
        f"  {name:<24} {result.requests:>8} requests  {result.rate:>8.0f} req/s  "
        f"p50 {result.p50 * 1000:6.2f} ms  p99 {result.p99 * 1000:6.2f} ms  "
        f"errors {result.errors}  non-2xx {result.non_2xx}",
        flush=True,
    )


def _check(report: Report, name: str, result: WrkResult) -> None:
    if result.requests == 0:
        report.problems.append(f"{name}: no request completed")
    if result.errors or result.non_2xx:
        report.problems.append(f"{name}: {result.errors} errors, {result.non_2xx} non-2xx answers")


def _profile(server: Server, args: argparse.Namespace, report: Report) -> None:
    """One more run of the throughput load with py-spy attached (figures not used)."""
    out = Path(args.profile)
    sampler = record(server.pid, args.duration, out, gil=args.profile_gil)
    time.sleep(0.5)  # let py-spy attach before the load starts
    run_wrk(
        server.callback_url, connections=args.connections, duration=args.duration, tasks=args.tasks
    )
    _, errors = sampler.communicate(timeout=args.duration + 60)
    if sampler.returncode != 0:
        report.problems.append(f"py-spy failed: {errors.decode(errors='replace').strip()}")
        return
    top = top_frames(out)
    report.details["profile"] = {"raw_stacks": str(out), "gil_only": args.profile_gil, **top}
    mode = "GIL holder only" if args.profile_gil else "every active thread"
    print(f"  profile of relaywarden under the throughput load, {mode} ({out}):")
    for kind in ("self", "inclusive"):
        what = "relaywarden functions, inclusive" if kind == "inclusive" else "self"
        print(f"    top by samples ({what}):")
        for function, share in top[kind][:15]:
            print(f"      {share:5.1f} %  {function}")


def run_throughput(
    report: Report, workdir: Path, args: argparse.Namespace, *, paced: bool, compare: bool
) -> None:
    """Run the bare-vs-relaywarden comparison (``compare``) and/or the paced p99 (``paced``)."""
    with relaywarden(workdir, "rw-throughput") as rw:
        if compare:
            print(
                f"throughput: {args.connections} connections, {args.warmup:g} s warm-up + "
                f"{args.duration:g} s measured per server",
                flush=True,
            )
            with bare_endpoint(workdir) as bare:
                bare_result = _measure(bare, args, args.connections)
                _print(bare.name, bare_result)
            before = rw.accepted()
            rw_result = _measure(rw, args, args.connections)
            _print("relaywarden serve", rw_result)
            _check(report, "bare endpoint", bare_result)
            _check(report, "relaywarden", rw_result)
            accepted, duplicates = rw.accepted() - before, rw.duplicates()
            if duplicates or accepted < rw_result.requests:
                report.problems.append(
                    f"relaywarden accepted {accepted} new events for {rw_result.requests} "
                    f"measured requests ({duplicates} duplicates): the load was not distinct"
                )
            ratio = rw_result.rate / bare_result.rate if bare_result.rate else float("nan")
            report.details["throughput"] = {
                "connections": args.connections,
                "bare": bare_result.as_dict(),
                "relaywarden": rw_result.as_dict(),
                "relaywarden_accepted": accepted,
            }
            scenario = "throughput"
            report.add(
                Figure.info(scenario, "bare endpoint rate", bare_result.rate, "req/s"),
                Figure.info(scenario, "relaywarden rate", rw_result.rate, "req/s"),
                Figure.at_least(scenario, "relaywarden / bare", ratio, "x", 0.5, "goal 0.8 x"),
                Figure.info(scenario, "relaywarden p50", rw_result.p50 * 1000, "ms"),
                Figure.info(scenario, "relaywarden p99", rw_result.p99 * 1000, "ms"),
                Figure.info(scenario, "bare endpoint p99", bare_result.p99 * 1000, "ms"),
            )
        if paced:
            print(
                f"paced: {PACED_CONNECTIONS} connections, {PACED_DELAY_MS} ms think time",
                flush=True,
            )
            result = _measure(rw, args, PACED_CONNECTIONS, PACED_DELAY_MS)
            _print("relaywarden serve", result)
            _check(report, "relaywarden paced", result)
            report.details["paced"] = {
                "connections": PACED_CONNECTIONS,
                "think_time_ms": PACED_DELAY_MS,
                "relaywarden": result.as_dict(),
            }
            report.add(
                Figure.info("paced", "rate", result.rate, "req/s", "~1k/s"),
                Figure.info("paced", "p50 acknowledgement", result.p50 * 1000, "ms"),
                Figure.at_most("paced", "p99 acknowledgement", result.p99 * 1000, "ms", 5),
            )
        if args.profile:
            _profile(rw, args, report)
