"""What every benchmark records beside its figures: the machine, the memory peak, the JSON file."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path


def _cpu_model() -> str:
    """The processor's name (/proc/cpuinfo's model name; platform's guess elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or platform.machine()


def machine(**extra: object) -> dict:
    """Cores, processor and Python, plus whatever versions the benchmark depends on."""
    return {
        "cpus": os.cpu_count(),
        "processor": _cpu_model(),
        "python": platform.python_version(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        **extra,
    }


def max_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def write_result(path: str | Path, result: dict) -> None:
    """Write the figures as indented JSON and print them, so a run's log holds them too."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


def one_worker_run(module: str, args: list[str], output: Path) -> tuple[dict, float]:
    """`python -m <module> <args> --output <output>` on one in-process worker, as a user runs
    it: its report.json and the wall time, start-up included."""
    cmd = [sys.executable, "-m", module, *args, "--output", str(output), "--runner=FnApiRunner"]
    cmd += ["--direct_num_workers=1", "--direct_running_mode=in_memory"]
    started = time.perf_counter()
    subprocess.run(cmd, cwd=Path(__file__).resolve().parent.parent, check=True, capture_output=True)
    wall = time.perf_counter() - started
    return json.loads((output / "report.json").read_text()), wall
