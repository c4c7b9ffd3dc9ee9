"""The mixture auditor: what the token shards can give a training run, against the mixture.

    python -m mixtures.audit --mixture llama1 --tokens out/tokens --output out/audit \\
        [--budget 1.4T | --model llama-7b] [--run out/train/NAME] [--strict]

It reads only `<tokens>/<source>/_manifest.json` (never the shards, so it is instant at any scale)
and, with --run, the trainer's `<run>/metrics.jsonl`. For a source s with mixture weight w_s and
T_s tokens available, and a budget of B training tokens:

- B: --budget (1.4e12, 1.4T, 1000B, 500M), else --model's entry in the mixture's `model_budgets`
  (a model without one gets the default, and the report says so), else `budget_tokens`.
- drawn_s = w_s × B, the tokens the run takes from s; epochs_s = w_s × B / T_s, how many times it
  goes over s. Compared with Table 1's `paper_epochs` as a ratio and a difference (the paper's
  figures are for the mixture's default budget, 1.4T for llama1). `paper_tokens` =
  w_s × default budget / paper_epochs is the size, in tokens, that the paper's data implies.
- missing: no manifest, or zero tokens: epochs = inf (∞ in the table, null in the JSON), flagged
  `missing`. A manifest that is not what tokenizer/shards.py writes is an `error` row, not a crash.
- over_epochs: epochs_s > max_epochs (the mixture's, or --max_epochs).
- max budget: the largest B with no source over max_epochs, min_s max_epochs × T_s / w_s over the
  sources that have tokens; a missing source cannot be drawn from at any budget.
- disk: the UTF-8 bytes the shards were made from, as a fraction of the paper's disk size.
- tokenizer: sources whose tokenizer sha256 differs from most sources' are flagged; their ids mean
  other strings and the trainer refuses to mix them.
- realised (--run): the last metrics line that has `tokens_by_source` (a last line cut short by a
  killed run is skipped); share_s = tokens_s / Σ tokens; `off_target` when |share_s − w_s| >
  tolerance (the mixture's, or --tolerance). When the run drew from a subset of the sources (the
  others missing), the report says so, flags the others `not_trained` and also compares the shares
  with the weights renormalised over the trained sources (`off_renormalised`).

Outputs: a table on the terminal, `<output>/audit.json` (every number of the table, and the
parameters) and `<output>/audit.png` (target, available and realised shares; epochs, log scale).
Exit status 0; with --strict (for CI), 1 when anything is flagged: a source's flags, or a run that
drew from a source outside the mixture or has drawn nothing; 2 on unusable input.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from rich.console import Console

from core.files import write_atomically
from core.manifest import MANIFEST, TOKEN_FORMAT, manifest_path, source_manifests
from mixtures.mixture import Mixture, load_mixture

METRICS = "metrics.jsonl"
REPORT = "audit.json"
PLOT = "audit.png"
# Shares and epochs are products and quotients of floats: 0.68 − 0.67 must not exceed 0.01.
EPSILON = 1e-9
_SCALE = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "G": 10**9, "T": 10**12}
_BUDGET = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+))?\s*([KkMmBbGgTt]?)")


class AuditError(ValueError):
    """Input the auditor cannot use (a run's metrics file): names the file and the fix."""


def parse_budget(text: str) -> float:
    """Tokens from 1.4e12, 1.4T, 1000B, 500M or 20K, read as decimals: 1.4T is 1.4e12 exactly."""
    match = _BUDGET.fullmatch(text.strip())
    if not match:
        raise ValueError(
            f"budget {text!r} is not a number of tokens like 1.4e12, 1.4T, 1000B, 500M"
        )
    mantissa, exponent, suffix = match.groups()
    try:
        value = Decimal(mantissa).scaleb(int(exponent or 0)) * _SCALE[suffix.upper()]
    except InvalidOperation:
        raise ValueError(f"budget {text!r} is out of range") from None
    if not 0 < value < Decimal("1e30"):
        raise ValueError(f"budget {text!r} must be a positive number of tokens")
    return float(value)


def resolve_budget(mixture: Mixture, budget: str | None, model: str | None) -> tuple[float, str]:
    """The budget and where it came from, for the report; ValueError for a bad --budget."""
    if budget is not None:
        return parse_budget(budget), f"--budget {budget}"
    if model:
        if model in mixture.model_budgets:
            return mixture.budget(model), f"model {model}"
        return mixture.budget_tokens, f"mixture default (no budget for model {model!r})"
    return mixture.budget_tokens, "mixture default"


@dataclass(frozen=True)
class Available:
    """What one source's manifest says is there; `error` when the manifest cannot be used."""

    manifest: Path
    found: bool = False
    documents: int | None = 0
    tokens: int | None = 0
    bytes: int | None = 0
    num_shards: int | None = 0
    tokenizer_sha256: str | None = None
    error: str | None = None


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _manifest_problem(data: Any, source: str) -> str | None:
    if not isinstance(data, dict):
        return "not a JSON object"
    if data.get("format") != TOKEN_FORMAT:
        return f"format {data.get('format')!r}, not {TOKEN_FORMAT!r}"
    if data.get("source") != source:
        return f"written for source {data.get('source')!r}, found under {source}/"
    tokenizer = data.get("tokenizer")
    if not isinstance(tokenizer, dict) or not isinstance(tokenizer.get("sha256"), str):
        return "no tokenizer.sha256"
    shards = data.get("shards")
    if not isinstance(shards, list) or not all(isinstance(s, dict) for s in shards):
        return "`shards` is not a list of shard entries"
    if data.get("num_shards") != len(shards):
        return f"num_shards = {data.get('num_shards')!r} but {len(shards)} shard entries"
    for key in ("documents", "tokens", "bytes"):
        if not _count(data.get(key)):
            return f"{key} = {data.get(key)!r} is not a count"
        parts = [s.get(key) for s in shards]
        if not all(_count(p) for p in parts) or sum(parts) != data[key]:
            return f"{key} = {data[key]} is not the sum over its {len(shards)} shard entries"
    return None


def read_available(tokens_dir: Path, source: str) -> Available:
    found = manifest_path(tokens_dir / source)
    if found is None:
        return Available(manifest=tokens_dir / source / MANIFEST)
    path = Path(found)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problem: str | None = f"not readable JSON ({exc})"
    else:
        problem = _manifest_problem(data, source)
    if problem:
        return Available(
            manifest=path,
            found=True,
            documents=None,
            tokens=None,
            bytes=None,
            num_shards=None,
            error=f"{path}: {problem}; re-run `make tokenize` for {source}",
        )
    return Available(
        manifest=path,
        found=True,
        documents=data["documents"],
        tokens=data["tokens"],
        bytes=data["bytes"],
        num_shards=data["num_shards"],
        tokenizer_sha256=data["tokenizer"]["sha256"],
    )


@dataclass(frozen=True)
class RunMetrics:
    """The last per-source token counts a training run logged."""

    metrics: Path
    line: int
    step: int | None
    tokens: int | None
    tokens_by_source: dict[str, int]
    skipped_truncated_line: bool


def read_run(run: Path) -> RunMetrics:
    """`run` is the trainer's run directory (or its metrics.jsonl)."""
    path = run / METRICS if run.is_dir() else run
    if not path.is_file():
        raise AuditError(f"{path}: no such file; --run takes a run directory the trainer wrote")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    last_nonblank = max((i for i, line in enumerate(lines, 1) if line.strip()), default=0)
    found: tuple[int, dict] | None = None
    truncated = False
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == last_nonblank:  # a run killed while writing its last line
                truncated = True
                continue
            raise AuditError(
                f"{path}:{number}: not JSON ({exc}); only the last line may be cut short"
            ) from None
        if isinstance(record, dict) and "tokens_by_source" in record:
            counts = record["tokens_by_source"]
            if not isinstance(counts, dict) or not all(_count(v) for v in counts.values()):
                raise AuditError(
                    f"{path}:{number}: tokens_by_source must map source names to token counts"
                )
            found = (number, record)
    if found is None:
        raise AuditError(
            f"{path}: no line has tokens_by_source yet; audit the run after its first logged step"
        )
    number, record = found
    step, tokens = record.get("step"), record.get("tokens")
    return RunMetrics(
        metrics=path,
        line=number,
        step=step if _count(step) else None,
        tokens=tokens if _count(tokens) else None,
        tokens_by_source=dict(record["tokens_by_source"]),
        skipped_truncated_line=truncated,
    )


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _majority(groups: dict[str, list[str]], tokens: dict[str, int]) -> str:
    """The tokenizer most sources use (then most tokens): the others are the odd ones out."""
    return max(groups, key=lambda sha: (len(groups[sha]), sum(tokens[s] for s in groups[sha]), sha))


def audit(
    mixture: Mixture,
    tokens_dir: Path,
    budget: float,
    budget_from: str,
    max_epochs: float | None = None,
    tolerance: float | None = None,
    run: RunMetrics | None = None,
) -> dict[str, Any]:
    """The whole report as JSON-ready data; the table and the plot are drawn from it."""
    max_epochs = mixture.max_epochs if max_epochs is None else max_epochs
    tolerance = mixture.tolerance if tolerance is None else tolerance
    available = {name: read_available(tokens_dir, name) for name in mixture.sources}
    present = {n: a.tokens for n, a in available.items() if a.error is None and a.tokens}
    total_available = sum(present.values())
    rows: dict[str, dict[str, Any]] = {}
    issues: list[str] = []
    for name, source in mixture.sources.items():
        have = available[name]
        drawn = source.weight * budget
        status = "error" if have.error else "ok" if name in present else "missing"
        epochs = drawn / have.tokens if status == "ok" else None
        paper_tokens = (
            source.weight * mixture.budget_tokens / source.paper_epochs
            if source.paper_epochs
            else None
        )
        flags = [] if status == "ok" else [status]
        if epochs is not None and epochs > max_epochs * (1 + EPSILON):
            flags.append("over_epochs")
            issues.append(
                f"{name}: {epochs:.3g} epochs at {_short(budget)} tokens, over max_epochs "
                f"{max_epochs:g}"
            )
        if have.error:
            issues.append(have.error)
        rows[name] = {
            "weight": source.weight,
            "status": status,
            "flags": flags,
            "manifest": str(have.manifest),
            "error": have.error,
            "documents": have.documents,
            "tokens": have.tokens,
            "bytes": have.bytes,
            "num_shards": have.num_shards,
            "tokenizer_sha256": have.tokenizer_sha256,
            "available_share": _ratio(present.get(name, 0), total_available) or 0.0,
            "drawn_tokens": drawn,
            "epochs": epochs,
            "max_budget_tokens": max_epochs * present[name] / source.weight
            if name in present
            else None,
            "paper_epochs": source.paper_epochs,
            "epochs_vs_paper": _ratio(epochs, source.paper_epochs),
            "epochs_minus_paper": epochs - source.paper_epochs
            if epochs is not None and source.paper_epochs
            else None,
            "paper_tokens": paper_tokens,
            "tokens_vs_paper": _ratio(have.tokens if status == "ok" else None, paper_tokens),
            "paper_disk_bytes": source.paper_disk_bytes,
            "disk_fraction": _ratio(have.bytes, source.paper_disk_bytes),
        }
    missing = [n for n, r in rows.items() if r["status"] == "missing"]
    if missing:
        issues.append(
            f"missing (no manifest or no tokens under {tokens_dir}): {', '.join(missing)}; "
            "run `make tokenize` once their documents exist"
        )
    tokenizers: dict[str, list[str]] = {}
    for name in present:
        tokenizers.setdefault(available[name].tokenizer_sha256 or "", []).append(name)
    if len(tokenizers) > 1:
        keep = _majority(tokenizers, present)
        for sha, names in tokenizers.items():
            for name in names if sha != keep else []:
                rows[name]["flags"].append("tokenizer")
        issues.append(
            f"token shards from {len(tokenizers)} different tokenizers ("
            + "; ".join(f"{sha[:12]}…: {', '.join(names)}" for sha, names in tokenizers.items())
            + "); re-tokenize with one model (`make tokenize`)"
        )
    limits = {n: r["max_budget_tokens"] for n, r in rows.items() if r["max_budget_tokens"]}
    limited_by = min(limits, key=lambda n: limits[n]) if limits else None
    report: dict[str, Any] = {
        "mixture": mixture.name,
        "mixture_path": str(mixture.path),
        "parameters": {
            "tokens_dir": str(tokens_dir),
            "budget_tokens": budget,
            "budget_from": budget_from,
            "default_budget_tokens": mixture.budget_tokens,
            "max_epochs": max_epochs,
            "tolerance": tolerance,
            "run": str(run.metrics) if run else None,
        },
        "sources": rows,
        "totals": {
            "weight": sum(s.weight for s in mixture.sources.values()),
            "documents": sum(rows[n]["documents"] for n in present),
            "tokens": total_available,
            "bytes": sum(rows[n]["bytes"] for n in present),
            "drawn_tokens": budget,
        },
        "max_budget_tokens": limits[limited_by] if limited_by else None,
        "max_budget_limited_by": limited_by,
        "tokenizers": tokenizers,
        "unused_manifests": sorted(
            name for name in source_manifests(tokens_dir) if name not in mixture.sources
        ),
        "run": _realised(mixture, rows, run, tolerance, issues) if run else None,
    }
    report["issues"] = issues
    stray = bool(run) and (report["run"]["extra_sources"] or not report["run"]["drawn_tokens"])
    report["flagged"] = bool(stray) or any(r["flags"] for r in rows.values())
    return report


def _realised(
    mixture: Mixture,
    rows: dict[str, dict[str, Any]],
    run: RunMetrics,
    tolerance: float,
    issues: list[str],
) -> dict[str, Any]:
    """Adds the realised-share columns to `rows`; returns the run's summary."""
    counts = run.tokens_by_source
    drawn = sum(counts.values())
    trained = [n for n in mixture.sources if counts.get(n, 0) > 0]
    subset = 0 < len(trained) < len(mixture.sources)
    trained_weight = sum(mixture.sources[n].weight for n in trained)
    extra = {n: c for n, c in counts.items() if n not in mixture.sources and c > 0}
    if drawn == 0:
        issues.append(f"{run.metrics}: the run has drawn no tokens yet")
    if extra:
        issues.append(f"the run drew from sources outside the mixture: {', '.join(sorted(extra))}")
    if subset:
        issues.append(
            f"the run drew from {len(trained)} of {len(mixture.sources)} sources "
            f"({', '.join(trained)}): shares are also compared with the weights renormalised "
            "over them"
        )
    for name, row in rows.items():
        share = counts.get(name, 0) / drawn if drawn else None
        off = share - row["weight"] if share is not None else None
        renormalised = row["weight"] / trained_weight if subset and name in trained else None
        off_renormalised = share - renormalised if renormalised is not None else None
        row.update(
            realised_tokens=counts.get(name, 0),
            realised_share=share,
            realised_minus_target=off,
            renormalised_target=renormalised,
            realised_minus_renormalised=off_renormalised,
        )
        if off is not None and abs(off) > tolerance + EPSILON:
            row["flags"].append("off_target")
        if subset and name not in trained:
            row["flags"].append("not_trained")
        if off_renormalised is not None and abs(off_renormalised) > tolerance + EPSILON:
            row["flags"].append("off_renormalised")
    if run.skipped_truncated_line:
        issues.append(f"{run.metrics}: the last line was cut short (a killed run?) and skipped")
    return {
        "metrics": str(run.metrics),
        "line": run.line,
        "step": run.step,
        "tokens": run.tokens,
        "tokens_by_source": counts,
        "drawn_tokens": drawn,
        "trained_sources": trained,
        "subset": subset,
        "extra_sources": extra,
        "skipped_truncated_line": run.skipped_truncated_line,
    }


def _short(value: float | None, units: Sequence[str] = ("", "K", "M", "B", "T")) -> str:
    """1.4e12 → 1.4T (tokens); with byte units, 8.3e10 → 83GB."""
    if value is None:
        return "—"
    scale = 0
    while abs(value) >= 1000 and scale < len(units) - 1:
        value, scale = value / 1000, scale + 1
    return f"{value:.3g}{units[scale]}"


def _bytes(value: float | None) -> str:
    return _short(value, ("B", "kB", "MB", "GB", "TB", "PB"))


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.3g}%"


def _epochs(row: dict[str, Any]) -> str:
    if row["status"] != "ok":
        return "∞" if row["status"] == "missing" else "—"
    return f"{row['epochs']:.3g}"


def print_table(report: dict[str, Any], console: Console | None = None) -> None:
    from rich.table import Table

    params, run = report["parameters"], report["run"]
    subset = bool(run and run["subset"])
    limit = report["max_budget_tokens"]
    caption = f"max epochs {params['max_epochs']:g} · " + (
        f"the data allows {_short(limit)} tokens (limited by {report['max_budget_limited_by']})"
        if limit
        else "no source has tokens"
    )
    table = Table(
        title=f"mixture {report['mixture']} at {_short(params['budget_tokens'])} tokens "
        f"({params['budget_from']})",
        caption=caption,
    )
    columns = ["source", "weight", "documents", "tokens", "bytes", "disk/paper", "drawn"]
    columns += ["epochs", "Table 1"]
    if run:
        columns += ["realised", "Δ target"] + (["Δ renorm."] if subset else [])
    for column in columns:
        table.add_column(column, justify="left" if column == "source" else "right")
    table.add_column("status", min_width=len("off_renormalised"))
    for name, row in report["sources"].items():
        cells = [
            name,
            _percent(row["weight"]),
            "—" if row["documents"] is None else f"{row['documents']:,}",
            _short(row["tokens"]),
            _bytes(row["bytes"]),
            _percent(row["disk_fraction"]),
            _short(row["drawn_tokens"]),
            _epochs(row),
            "—" if row["paper_epochs"] is None else f"{row['paper_epochs']:.2f}",
        ]
        if run:
            cells += [_percent(row["realised_share"]), _signed(row["realised_minus_target"])]
            cells += [_signed(row["realised_minus_renormalised"])] if subset else []
        style = "red" if row["flags"] else None
        table.add_row(*cells, ", ".join(row["flags"]) or "ok", style=style)
    totals = report["totals"]
    cells = ["total", _percent(totals["weight"]), f"{totals['documents']:,}"]
    cells += [_short(totals["tokens"]), _bytes(totals["bytes"]), "", _short(totals["drawn_tokens"])]
    cells += ["", ""] + ([_percent(1.0 if run["drawn_tokens"] else None), ""] if run else [])
    table.add_row(*cells, *([""] if subset else []), "", style="bold")
    if console is None:
        console = Console()
        if not console.is_terminal and "COLUMNS" not in os.environ:
            console = Console(width=160)  # a log file: rich's 80 columns would squash the table
    console.print(table)
    if run:
        console.print(
            f"run: {run['metrics']} line {run['line']}, step {run['step']}, "
            f"{_short(run['drawn_tokens'])} tokens drawn; tolerance ±{100 * params['tolerance']:g}"
            " points"
        )
    for issue in report["issues"]:
        console.print(f"[red]•[/red] {issue}", highlight=False)


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:+.2f} pt"


def plot(report: dict[str, Any]) -> bytes:
    """Shares (target, available, realised) and epochs per source, as PNG bytes."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    fig = Figure(figsize=(13, 5), layout="constrained")
    shares, epochs = fig.subplots(1, 2)
    _plot_shares(shares, report)
    _plot_epochs(epochs, report)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _plot_shares(ax, report: dict[str, Any]) -> None:
    rows, run = list(report["sources"].values()), report["run"]
    bars = {
        "target": [r["weight"] for r in rows],
        "available": [r["available_share"] for r in rows],
    }
    if run:
        bars["realised"] = [r["realised_share"] or 0.0 for r in rows]
    width = 0.8 / len(bars)
    for i, (label, values) in enumerate(bars.items()):
        x = [j + (i - (len(bars) - 1) / 2) * width for j in range(len(rows))]
        ax.bar(x, [100 * v for v in values], width, label=label)
    ax.set_xticks(range(len(rows)), list(report["sources"]), rotation=30, ha="right")
    ax.set_ylabel("share of tokens (%)")
    ax.set_title(f"{report['mixture']}: target vs available" + (" vs realised" if run else ""))
    ax.legend()


def _plot_epochs(ax, report: dict[str, Any]) -> None:
    from matplotlib.ticker import FuncFormatter

    rows, params = list(report["sources"].values()), report["parameters"]
    limit = params["max_epochs"]
    ok = [j for j, r in enumerate(rows) if r["epochs"] is not None]
    values = [rows[j]["epochs"] for j in ok]
    paper = [j for j, r in enumerate(rows) if r["paper_epochs"]]
    every = [*values, *(rows[j]["paper_epochs"] for j in paper), limit]
    bottom, top = min(every) / 2, max(every) * 2
    colours = ["tab:red" if v > limit * (1 + EPSILON) else "tab:blue" for v in values]
    ax.bar(ok, [v - bottom for v in values], 0.6, bottom=bottom, color=colours, label="epochs")
    ax.scatter(paper, [rows[j]["paper_epochs"] for j in paper], color="black", zorder=3)
    ax.collections[-1].set_label("Table 1 (at its budget)")
    ax.axhline(limit, color="red", linestyle="--", label=f"max epochs ({limit:g})")
    for j, row in enumerate(rows):
        if row["epochs"] is None:
            ax.annotate(row["status"], (j, bottom * 1.15), ha="center", color="red")
    ax.set_yscale("log")
    ax.set_ylim(bottom, top)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    narrow = top / bottom < 100  # within two decades the minor ticks need labels too
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if narrow else ""))
    ax.set_xticks(range(len(rows)), list(report["sources"]), rotation=30, ha="right")
    ax.set_xlim(-0.5, len(rows) - 0.5)
    ax.set_ylabel("epochs (log scale)")
    ax.set_title(f"epochs at {_short(params['budget_tokens'])} tokens")
    ax.legend(fontsize="small")


def write_outputs(report: dict[str, Any], output: Path) -> tuple[Path, Path]:
    body = json.dumps(report, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    write_atomically(output / REPORT, body.encode())
    write_atomically(output / PLOT, plot(report))
    return output / REPORT, output / PLOT


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mixtures.audit",
        description="Check what the token shards can give a training run against a mixture: "
        "tokens per source, tokens drawn and epochs for a budget (vs LLaMA-1 Table 1), missing "
        "or over-repeated sources, and a run's realised mixture.",
        epilog="Writes OUTPUT/audit.json and OUTPUT/audit.png and prints a table. Works on "
        "partial data: a source without token shards is reported as missing.",
    )
    parser.add_argument(
        "--mixture", default="llama1", help="mixture name (mixtures/NAME.yaml) or YAML path"
    )
    parser.add_argument(
        "--tokens",
        type=Path,
        default=Path("out/tokens"),
        help="token-shard root holding SOURCE/_manifest.json (default: out/tokens)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("out/audit"),
        help="directory for audit.json and audit.png (default: out/audit)",
    )
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument(
        "--budget",
        help="training tokens: 1.4e12, 1.4T, 1000B, 500M (default: the mixture's budget_tokens)",
    )
    budget.add_argument(
        "--model",
        help="take the budget of this model from the mixture's model_budgets (e.g. llama-7b: "
        "1.0T); a model without one gets the default",
    )
    parser.add_argument(
        "--max_epochs",
        type=_positive,
        help="flag a source drawn for more epochs than this (default: the mixture's max_epochs)",
    )
    parser.add_argument(
        "--tolerance",
        type=_positive,
        help="flag a realised share further than this from its target, as a fraction "
        "(default: the mixture's tolerance, e.g. 0.01 = 1 point)",
    )
    parser.add_argument(
        "--run",
        type=Path,
        help=f"a training run directory (its {METRICS}, or the file itself): compare the "
        "realised mixture with the target",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when anything is flagged"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        mixture = load_mixture(args.mixture)
        budget, budget_from = resolve_budget(mixture, args.budget, args.model)
    except ValueError as exc:  # MixtureError too
        parser.error(str(exc))
    try:
        run = read_run(args.run) if args.run else None
    except AuditError as exc:
        print(f"audit: {exc}", file=sys.stderr)
        return 2
    report = audit(mixture, args.tokens, budget, budget_from, args.max_epochs, args.tolerance, run)
    print_table(report)
    json_path, png_path = write_outputs(report, args.output)
    print(f"wrote {json_path} and {png_path}")
    return 1 if args.strict and report["flagged"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
