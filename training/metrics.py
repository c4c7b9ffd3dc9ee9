"""What a run reports: MFU against a stated peak, metrics.jsonl, TensorBoard, the bar, loss.png.

metrics.jsonl is the contract with the mixture auditor: one object per logged step with `step`,
`loss`, `lr`, `tokens` and `tokens_by_source` (cumulative, all ranks), `tokens_per_s` and `mfu`
(null when the peak is unknown, e.g. on the CPU); validation lines carry `val_loss` per source.
"""

from __future__ import annotations

import json
import math
import resource
import time
from pathlib import Path
from typing import Any

import torch

# Dense bf16 tensor-core peaks in FLOP/s (vendor datasheets; the 2:4-sparsity figures are twice
# these and are not what a dense model can reach). Matched on torch.cuda.get_device_name, in order.
PEAK_BF16: list[tuple[tuple[str, ...], str, float]] = [
    (("H100", "NVL"), "H100 NVL", 835e12),
    (("H100", "PCIE"), "H100 PCIe", 756e12),
    (("H100",), "H100 SXM", 989.4e12),
    (("H200", "NVL"), "H200 NVL", 835e12),
    (("H200",), "H200", 989.4e12),
    (("GH200",), "GH200", 989.4e12),
    (("H800",), "H800", 989.4e12),
    (("B200",), "B200", 2250e12),
    (("A100",), "A100", 312e12),
    (("A800",), "A800", 312e12),
    (("L40S",), "L40S", 362.05e12),
    (("L4",), "L4", 121e12),
]


def peak_flops(device: torch.device, override_tflops: float | None = None) -> tuple[float, str]:
    """(peak FLOP/s, what it is); (nan, why) when unknown, so MFU is reported as null."""
    if override_tflops:
        return override_tflops * 1e12, f"{override_tflops:g} TFLOPS (--peak_tflops)"
    if device.type != "cuda":
        return math.nan, f"no peak for {device.type} (MFU is reported for GPUs only)"
    name = torch.cuda.get_device_name(device)
    upper = name.upper().replace("-", " ")
    for keys, label, peak in PEAK_BF16:
        if all(k in upper for k in keys):
            return peak, f"{label} dense bf16 {peak / 1e12:g} TFLOPS ({name})"
    return math.nan, f"unknown peak for {name!r}: pass --peak_tflops for MFU"


def mfu(flops_per_token: float, tokens_per_s: float, peak: float, world_size: int) -> float | None:
    """Model FLOPs utilisation: achieved model FLOP/s over the peak of all devices."""
    if not math.isfinite(peak) or peak <= 0:
        return None
    return flops_per_token * tokens_per_s / (peak * world_size)


def memory_gib(device: torch.device) -> float:
    """Peak memory of this process: allocated on the GPU, resident on the CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _clean(value: Any) -> Any:
    """JSON has no NaN: non-finite floats become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


class MetricsLog:
    """Appends to <run>/metrics.jsonl (and TensorBoard); rank 0 only.

    On resume, lines after the checkpoint's step are dropped first: those steps are trained again
    (so is a last line cut short by a crash).
    """

    def __init__(self, run_dir: Path, resumed_step: int, tensorboard: bool, log=print) -> None:
        self.path = run_dir / "metrics.jsonl"
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        kept = [line for line in lines if _step(line) <= resumed_step]
        self.path.write_text("".join(line + "\n" for line in kept))
        self._file = self.path.open("a", encoding="utf-8")
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                log("TensorBoard is not installed; metrics go to metrics.jsonl only")
            else:
                self._tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=resumed_step + 1)

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(_clean(record), sort_keys=False) + "\n")
        self._file.flush()
        if self._tb is not None:
            step = record["step"]
            for key, value in record.items():
                if key == "val_loss":
                    for source, loss in value.items():
                        if loss is not None:
                            self._tb.add_scalar(f"val_loss/{source}", loss, step)
                elif key == "tokens_by_source":
                    for source, n in value.items():
                        self._tb.add_scalar(f"tokens/{source}", n, step)
                elif isinstance(value, int | float) and key != "step":
                    self._tb.add_scalar(f"train/{key}", value, step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def _step(line: str) -> float:
    """A metrics line's step; infinity for a line that is not a whole record."""
    try:
        return json.loads(line)["step"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return math.inf


def read_metrics(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_loss(metrics_path: Path, out: Path, title: str) -> Path | None:
    """Training loss against tokens, with each source's validation loss; None without points."""
    records = read_metrics(metrics_path)
    train = [(r["tokens"], r["loss"]) for r in records if r.get("loss") is not None]
    val: dict[str, list[tuple[int, float]]] = {}
    for r in records:
        for source, loss in (r.get("val_loss") or {}).items():
            if loss is not None:
                val.setdefault(source, []).append((r["tokens"], loss))
    if not train and not val:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    if train:
        ax.plot(*zip(*train, strict=True), label="train", color="black", linewidth=1.2)
    for source, points in sorted(val.items()):
        ax.plot(*zip(*points, strict=True), marker="o", markersize=3, label=f"val {source}")
    ax.set_xlabel("tokens")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """A live bar (loss, lr, tokens/s, MFU, memory, ETA) on a terminal, plain lines otherwise."""

    def __init__(self, total: int, start: int, live: bool | None) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.total, self.start = total, start
        self.live = self.console.is_terminal if live is None else live
        self._bar = None
        self._started = time.perf_counter()
        if self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("[bold]train"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"),
                console=self.console,
                transient=False,
            )
            self._task = self._bar.add_task("train", total=total, completed=start, stats="")
            self._bar.start()

    def eta(self, step: int) -> float:
        done = step - self.start
        if done <= 0:
            return math.nan
        return (time.perf_counter() - self._started) / done * (self.total - step)

    def update(self, step: int, stats: dict[str, Any], line: bool) -> None:
        text = self.describe(step, stats)
        if self._bar is not None:
            self._bar.update(self._task, completed=step, stats=text)
        elif line:
            self.console.print(f"step {step}/{self.total} {text}", highlight=False)

    def describe(self, step: int, stats: dict[str, Any]) -> str:
        parts = [f"loss {stats['loss']:.4f}" if stats.get("loss") is not None else "loss -"]
        parts.append(f"lr {stats['lr']:.2e}")
        parts.append(f"{stats['tokens_per_s']:,.0f} tok/s")
        if stats.get("mfu") is not None:
            parts.append(f"MFU {100 * stats['mfu']:.1f}%")
        parts.append(f"mem {stats['memory_gib']:.1f} GiB")
        parts.append(f"ETA {format_duration(self.eta(step))}")
        return " | ".join(parts)

    def print(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
