"""Sampling profile of a server under load with py-spy (installed separately, not a dep).

``py-spy record --format raw`` writes collapsed stacks (``frame;frame;... count``); this
module ranks functions by the samples they were the innermost frame for (self, any code)
and relaywarden's own functions by the samples they were on the stack for (inclusive).
Threads parked in ``threading`` waits (idle worker threads, which py-spy does not always
recognise as idle) are left out.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

__all__ = ["find_py_spy", "record", "top_frames"]


def find_py_spy() -> str | None:
    """py-spy from the venv of this interpreter, else from PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(pid: int, seconds: float, out: Path, *, gil: bool) -> subprocess.Popen[bytes]:
    """Start sampling ``pid`` for ``seconds`` (all threads, 100 Hz) into ``out``.

    With ``gil`` only samples of the thread holding the GIL count (Python CPU time);
    otherwise every active thread's, including time in SQLite and system calls.
    """
    py_spy = find_py_spy()
    if py_spy is None:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    command = [py_spy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))]
    command += ["--rate", "100", "--format", "raw", "--output", str(out)]
    if gil:
        command.append("--gil")
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


_IDLE = ("Condition.wait (threading.py)", "Event.wait (threading.py)")
_OWN = ("receiver/", "handlers/")
_ENTRY = "receiver/cli.py"  # the process's entry: on every stack


def _function(frame: str) -> str:
    # "name (path/to/module.py:123)": keep the function and file, drop the line number.
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/receiver/", "/handlers/", "/lib/python"):
        if marker in file:
            file = marker.strip("/") + "/" + file.split(marker, 1)[1]
            break
    return f"{name} ({file})"


def top_frames(raw: Path, limit: int = 20) -> dict[str, list[tuple[str, float]]]:
    """Top functions by inclusive and by self share of all samples, in percent."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(frame) for frame in stack.split(";")]
        if frames[-1].startswith(_IDLE):
            continue
        total += count
        own[frames[-1]] += count
        for function in set(frames):
            where = function.partition(" (")[2]
            if where.startswith(_OWN) and not where.startswith(_ENTRY):
                inclusive[function] += count
    if not total:
        return {"inclusive": [], "self": []}
    return {
        "inclusive": [(f, 100 * n / total) for f, n in inclusive.most_common(limit)],
        "self": [(f, 100 * n / total) for f, n in own.most_common(limit)],
    }
