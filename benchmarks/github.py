"""bench-github: the GitHub rules' files/s and MB/s on one core, stage by stage and together.

    python -m benchmarks.github --out benchmarks/results/github.json

Files: the sample's BigQuery export (real code of 12 packages in 12 languages, minified and
vendored files included), read by readers.github, `--copies` times. Each stage runs in this
process on one core, the best of `--repeats` runs: licence, path, exact dedup (md5 of the raw
bytes, first by repository and path: the shuffle's per-key work without the shuffle), header
removal, and the quality rules (statistics, then GPT-NeoX's BPE for the alphabetic characters
per token). MB are of the raw content entering each stage. Last, `python -m pipelines.github`
on the sample with one worker: the whole pipeline's files/s as a user runs it.

No peer is measured: RedPajama's GitHub scripts are not packaged, and none of datatrove, dolma,
NeMo Curator or text-dedup implements these rules.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine, max_rss_mb, one_worker_run, write_result
from filters.base import Filter, apply
from filters.code import CodeFilter, HeaderFilter, PathFilter, neox_counter
from filters.licenses import LicenseFilter
from readers.github import CodeFile, read_bigquery

ROOT = Path(__file__).resolve().parent.parent
EXPORT = ROOT / "data/sample/github/bigquery/github-repos-00000.jsonl.gz"
NEOX = ROOT / "models/gpt-neox-20b.tokenizer.json"


def sample_files(copies: int) -> list[dict]:
    files = [f for f in read_bigquery(str(EXPORT)) if isinstance(f, CodeFile)]
    return [
        {
            "repo_name": f"{f.repo_name}-{i}",
            "path": f.path,
            "content": f.text,
            "license": f.license,
            "content_hash": f.content_md5 + (f"-{i}" if i else ""),  # copies are not duplicates
            "size": f.size,
        }
        for i in range(copies)
        for f in files
    ]


def dedup(docs: list[dict]) -> list[dict]:
    first: dict[str, dict] = {}
    for doc in docs:
        best = first.get(doc["content_hash"])
        if best is None or (doc["repo_name"], doc["path"]) < (best["repo_name"], best["path"]):
            first[doc["content_hash"]] = doc
    return list(first.values())


def run_stage(stage: Filter | None, docs: list[dict]) -> list[dict]:
    if stage is None:
        return dedup(docs)
    return apply([stage], [dict(d) for d in docs]).kept


def pipeline_run(out: Path) -> dict:
    args = ["--input", str(EXPORT), "--tokenizer", str(NEOX), "--num_shards", "2"]
    report, wall = one_worker_run("pipelines.github", args, out)
    read = report["totals"]["read"]
    return {
        "files": read,
        "kept": report["totals"]["kept"],
        "wall_seconds": round(wall, 2),
        "files_per_s_per_core": round(read / wall, 1),
        "note": "the sample is small: interpreter and Beam start-up dominate this figure",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    count_tokens = neox_counter(NEOX)
    stages: list[tuple[str, Filter | None]] = [
        ("license", LicenseFilter()),
        ("path", PathFilter()),
        ("dedup", None),
        ("header", HeaderFilter()),
        ("quality", CodeFilter(count_tokens)),
    ]
    docs = sample_files(args.copies)
    inputs: dict[str, list[dict]] = {}
    current = docs
    for name, stage in stages:  # each stage's input: what the stages before it kept
        inputs[name] = current
        current = run_stage(stage, current)
    kept = len(current)
    results, total_seconds = {}, 0.0
    for name, stage in stages:
        batch = inputs[name]
        best = min(
            _timed(run_stage, stage, batch) for _ in range(args.repeats)
        )  # fmt: skip
        megabytes = sum(d["size"] for d in batch) / 1e6
        total_seconds += best
        results[name] = {
            "files_in": len(batch),
            "seconds": round(best, 4),
            "files_per_s": round(len(batch) / best, 1),
            "mb_per_s": round(megabytes / best, 2),
        }
    megabytes = sum(d["size"] for d in docs) / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        whole = pipeline_run(Path(tmp) / "github")
    result = {
        "benchmark": "github",
        "machine": machine(),
        "files": len(docs),
        "megabytes": round(megabytes, 2),
        "kept": kept,
        "one_core_by_stage": results,
        "one_core_all_stages": {
            "files_per_s": round(len(docs) / total_seconds, 1),
            "mb_per_s": round(megabytes / total_seconds, 2),
        },
        "pipeline_one_worker": whole,
        "max_rss_mb": max_rss_mb(),
    }
    write_result(args.out, result)


def _timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
