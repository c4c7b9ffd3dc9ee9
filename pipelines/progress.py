"""Progress of a local run while it works: input items done of total, documents read, rate.

Workers of the local runners (in-process or multi-processing) add to per-process counts that
they write, at most once a second, to a small JSON file in a folder named by an environment
variable the launcher sets; the launcher sums the files and prints one line. Beam's own metrics
reach the launcher only when the run ends, and remote runners have their own consoles, so
without the variable (Dataflow, tests of a DoFn) every call here does nothing.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TextIO

ENV = "LLAMA_CORPUS_PROGRESS"
_INTERVAL = 1.0  # seconds between a worker's writes, and between the display's reads


class _Counts:
    """This process's counts, written to `<folder>/<pid>.json`."""

    def __init__(self, folder: str):
        self.folder, self.pid = folder, os.getpid()
        self.path = Path(folder) / f"{self.pid}.json"
        self.values = {"read": 0, "done": 0, "total": 0}
        self.lock = threading.Lock()
        self.written = 0.0

    def add(self, read: int, done: int, total: int, force: bool) -> None:
        with self.lock:
            self.values["read"] += read
            self.values["done"] += done
            self.values["total"] += total
            now = time.monotonic()
            if not (force or now - self.written >= _INTERVAL):
                return
            self.written = now
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.values))
            os.replace(tmp, self.path)


_counts: _Counts | None = None


def add(read: int = 0, done: int = 0, total: int = 0) -> None:
    """Documents read, input items finished, input items found (beyond the launcher's total)."""
    global _counts
    folder = os.environ.get(ENV)
    if not folder:
        return
    if _counts is None or _counts.folder != folder or _counts.pid != os.getpid():
        _counts = _Counts(folder)
    _counts.add(read, done, total, force=bool(done or total))


class Display:
    """Sums the workers' files every second and prints `name: items, documents, rate, time`."""

    def __init__(self, name: str, unit: str, total: int, stream: TextIO | None = None):
        self.name, self.unit, self.total = name, unit, total
        self.stream = stream or sys.stderr
        self.folder: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._last_print = 0.0

    def __enter__(self) -> Display:
        self.folder = tempfile.mkdtemp(prefix="llama-corpus-progress-")
        os.environ[ENV] = self.folder
        self._started = self._last_print = time.monotonic()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        os.environ.pop(ENV, None)
        global _counts
        _counts = None
        if self.folder:
            for path in Path(self.folder).iterdir():
                path.unlink()
            os.rmdir(self.folder)

    def totals(self) -> dict[str, int]:
        found = {"read": 0, "done": 0, "total": 0}
        for path in Path(self.folder or ".").glob("*.json"):
            try:
                values = json.loads(path.read_text())
            except (OSError, ValueError):  # being replaced right now: next time
                continue
            for key in found:
                found[key] += int(values.get(key, 0))
        return found

    def line(self) -> str:
        counts = self.totals()
        elapsed = time.monotonic() - self._started
        rate = counts["read"] / elapsed if elapsed > 0 else 0.0
        total = self.total + counts["total"]
        minutes, seconds = divmod(int(elapsed), 60)
        return (
            f"{self.name}: {counts['done']:,}/{total:,} {self.unit}, "
            f"{counts['read']:,} documents read, {rate:,.0f} documents/s, "
            f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}"
        )

    def _loop(self) -> None:
        tty = self.stream.isatty()
        while not self._stop.wait(_INTERVAL):
            now = time.monotonic()
            if tty:
                self.stream.write("\r" + self.line() + "\x1b[K")
            elif now - self._last_print >= 10 * _INTERVAL:  # a log file: a line every 10 s
                self.stream.write(self.line() + "\n")
            else:
                continue
            self._last_print = now
            self.stream.flush()
        self.stream.write(("\r" if tty else "") + self.line() + ("\x1b[K\n" if tty else "\n"))
        self.stream.flush()
