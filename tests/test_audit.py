"""The mixture auditor on synthetic manifests (no shard files: it reads manifests only), with
epochs, budgets and shares computed by hand."""

from __future__ import annotations

import io
import json
import re
import struct
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from mixtures.audit import (
    AuditError,
    audit,
    main,
    parse_budget,
    print_table,
    read_available,
    read_run,
    resolve_budget,
)
from mixtures.mixture import load_mixture
from tokenizer.shards import manifest

ROOT = Path(__file__).resolve().parent.parent
SHA_A, SHA_B = "a" * 64, "b" * 64


def write_manifest(
    tokens_dir: Path,
    source: str,
    tokens: int,
    documents: int = 10,
    text_bytes: int | None = None,
    sha: str = SHA_A,
) -> Path:
    """A manifest as tokenizer/shards.py writes it, with two shard entries and no shard files."""
    text_bytes = 4 * tokens if text_bytes is None else text_bytes
    halves = [(documents // 2, tokens // 2, text_bytes // 2)]
    halves.append((documents - halves[0][0], tokens - halves[0][1], text_bytes - halves[0][2]))
    shards = [
        {"file": f"part-{i:05d}-of-00002.arrow", "documents": d, "tokens": t, "bytes": b}
        | {"sha256": "0" * 64}
        for i, (d, t, b) in enumerate(halves)
    ]
    tokenizer = {"sha256": sha, "vocab_size": 32000, "path": "models/tokenizer/llama.model"}
    path = tokens_dir / source / "_manifest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest(source, tokenizer, shards)), encoding="utf-8")
    return path


def write_metrics(run_dir: Path, lines: list[str]) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.jsonl").write_text("".join(lines), encoding="utf-8")
    return run_dir


def metrics_line(step: int, counts: dict[str, int]) -> str:
    record = {"step": step, "tokens": sum(counts.values()), "loss": 3.2}
    return json.dumps(record | {"tokens_by_source": counts}) + "\n"


@pytest.fixture
def llama1():
    return load_mixture("llama1")


@pytest.fixture
def tokens_dir(tmp_path) -> Path:
    """llama1 at 1.4T draws 938B / 210B / 63B / 63B / 35B tokens from CC / C4 / Wikipedia /
    books / arXiv: these counts make their epochs exactly 1, 2, 2.5, 4 and 0.5."""
    root = tmp_path / "tokens"
    write_manifest(root, "commoncrawl", 938_000_000_000, documents=900, text_bytes=330 * 10**9)
    write_manifest(root, "c4", 105_000_000_000)
    write_manifest(root, "wikipedia", 25_200_000_000, text_bytes=8_300_000_000)
    write_manifest(root, "books", 15_750_000_000)
    write_manifest(root, "arxiv", 70_000_000_000)
    write_manifest(root, "github", 0, documents=0)  # a manifest with no tokens: still missing
    (root / "stackexchange").mkdir()
    (root / "stackexchange" / "_manifest.json").write_text('{"format": "llama-corpus-tok')
    write_manifest(root, "reddit", 1000)  # not in the mixture
    return root


def test_epochs_drawn_and_max_budget_by_hand(llama1, tokens_dir):
    report = audit(llama1, tokens_dir, 1.4e12, "mixture default")
    rows = report["sources"]
    expected_epochs = {
        "commoncrawl": 1.0,
        "c4": 2.0,
        "wikipedia": 2.5,
        "books": 4.0,
        "arxiv": 0.5,
    }
    for name, epochs in expected_epochs.items():
        assert rows[name]["epochs"] == pytest.approx(epochs, rel=1e-12), name
        assert rows[name]["status"] == "ok"
    assert rows["commoncrawl"]["drawn_tokens"] == pytest.approx(938e9, rel=1e-12)
    assert rows["wikipedia"]["drawn_tokens"] == pytest.approx(63e9, rel=1e-12)
    assert rows["wikipedia"]["epochs_vs_paper"] == pytest.approx(2.5 / 2.45, rel=1e-12)
    assert rows["wikipedia"]["epochs_minus_paper"] == pytest.approx(0.05, rel=1e-9)
    assert rows["commoncrawl"]["disk_fraction"] == pytest.approx(0.1, rel=1e-12)
    assert rows["wikipedia"]["disk_fraction"] == pytest.approx(0.1, rel=1e-12)
    # The paper's data implies 0.67 × 1.4T / 1.10 epochs of CommonCrawl tokens.
    assert rows["commoncrawl"]["paper_tokens"] == pytest.approx(938e9 / 1.1, rel=1e-12)
    assert rows["commoncrawl"]["tokens_vs_paper"] == pytest.approx(1.1, rel=1e-12)
    total = 938e9 + 105e9 + 25.2e9 + 15.75e9 + 70e9
    assert rows["commoncrawl"]["available_share"] == pytest.approx(938e9 / total, rel=1e-12)
    assert report["totals"]["tokens"] == 1_153_950_000_000
    assert report["totals"]["documents"] == 900 + 4 * 10

    assert {name: row["flags"] for name, row in rows.items()} == {
        "commoncrawl": [],
        "c4": [],
        "github": ["missing"],
        "wikipedia": [],
        "books": ["over_epochs"],
        "arxiv": [],
        "stackexchange": ["error"],
    }
    assert rows["github"]["epochs"] is None and rows["github"]["available_share"] == 0.0
    assert rows["github"]["tokens"] == 0 and rows["github"]["max_budget_tokens"] is None
    assert rows["stackexchange"]["tokens"] is None
    assert rows["stackexchange"]["error"].startswith(
        f"{tokens_dir / 'stackexchange' / '_manifest.json'}: not readable JSON"
    )
    # max_epochs × available / weight: CC 4.2T, C4 2.1T, Wikipedia 1.68T, books 1.05T, arXiv 8.4T.
    assert report["max_budget_tokens"] == pytest.approx(1.05e12, rel=1e-12)
    assert report["max_budget_limited_by"] == "books"
    assert rows["arxiv"]["max_budget_tokens"] == pytest.approx(8.4e12, rel=1e-12)
    assert report["unused_manifests"] == ["reddit"]
    assert report["tokenizers"] == {SHA_A: ["commoncrawl", "c4", "wikipedia", "books", "arxiv"]}
    assert report["flagged"] is True
    assert "books: 4 epochs at 1.4T tokens, over max_epochs 3" in report["issues"]
    assert any(i.startswith("missing (no manifest or no tokens") for i in report["issues"])


def test_a_larger_max_epochs_and_a_smaller_budget(llama1, tokens_dir):
    report = audit(llama1, tokens_dir, 1.0e12, "model llama-7b", max_epochs=5.0)
    assert report["sources"]["books"]["epochs"] == pytest.approx(45e9 / 15.75e9, rel=1e-12)
    assert report["sources"]["books"]["flags"] == []
    assert report["max_budget_tokens"] == pytest.approx(1.75e12, rel=1e-12)  # 5 × 15.75B / 0.045
    assert report["parameters"]["max_epochs"] == 5.0


def test_epochs_exactly_at_the_limit_are_not_flagged(llama1, tokens_dir):
    report = audit(llama1, tokens_dir, 1.05e12, "--budget 1.05T")  # books: exactly 3 epochs
    assert report["sources"]["books"]["epochs"] == pytest.approx(3.0, rel=1e-12)
    assert report["sources"]["books"]["flags"] == []


def test_no_token_shards_at_all(llama1, tmp_path, capsys):
    report = audit(llama1, tmp_path / "absent", 1.4e12, "mixture default")
    assert {r["status"] for r in report["sources"].values()} == {"missing"}
    assert report["max_budget_tokens"] is None and report["max_budget_limited_by"] is None
    assert report["totals"]["tokens"] == 0 and report["tokenizers"] == {}
    assert main(["--tokens", str(tmp_path / "absent"), "--output", str(tmp_path / "o")]) == 0
    assert "no source has tokens" in capsys.readouterr().out
    assert (tmp_path / "o" / "audit.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[1, 2]", "not a JSON object"),
        ('{"format": "other/1"}', "format 'other/1', not 'llama-corpus-tokens/1'"),
        (b"\xff\xfe{}", "not readable JSON"),
    ],
)
def test_unreadable_manifests_are_error_rows(tmp_path, text, problem):
    path = tmp_path / "c4" / "_manifest.json"
    path.parent.mkdir()
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    have = read_available(tmp_path, "c4")
    assert have.found and have.tokens is None
    assert have.error.startswith(f"{path}: {problem}")
    assert have.error.endswith("; re-run `make tokenize` for c4")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"source": "books"}, "written for source 'books', found under c4/"),
        ({"tokenizer": {"path": "x"}}, "no tokenizer.sha256"),
        ({"shards": "part-0"}, "`shards` is not a list of shard entries"),
        ({"num_shards": 3}, "num_shards = 3 but 2 shard entries"),
        ({"tokens": 7}, "tokens = 7 is not the sum over its 2 shard entries"),
        ({"documents": -1}, "documents = -1 is not a count"),
        ({"bytes": True}, "bytes = True is not a count"),
    ],
)
def test_inconsistent_manifests_are_error_rows(tmp_path, change, problem):
    path = write_manifest(tmp_path, "c4", 1000)
    path.write_text(json.dumps(json.loads(path.read_text()) | change))
    assert read_available(tmp_path, "c4").error == (
        f"{path}: {problem}; re-run `make tokenize` for c4"
    )


def test_mixed_tokenizers_flag_the_odd_one_out(llama1, tmp_path):
    for name in ("commoncrawl", "c4", "github"):
        write_manifest(tmp_path, name, 1_000_000)
    write_manifest(tmp_path, "wikipedia", 9_000_000, sha=SHA_B)
    report = audit(llama1, tmp_path, 1e6, "--budget 1M")
    assert report["tokenizers"] == {SHA_A: ["commoncrawl", "c4", "github"], SHA_B: ["wikipedia"]}
    assert [n for n, r in report["sources"].items() if "tokenizer" in r["flags"]] == ["wikipedia"]
    assert (
        "token shards from 2 different tokenizers (aaaaaaaaaaaa…: commoncrawl, c4, github; "
        "bbbbbbbbbbbb…: wikipedia); re-tokenize with one model (`make tokenize`)"
    ) in report["issues"]


LLAMA1_COUNTS = {  # exactly Table 1's proportions, per 1,000 tokens
    "commoncrawl": 670,
    "c4": 150,
    "github": 45,
    "wikipedia": 45,
    "books": 45,
    "arxiv": 25,
    "stackexchange": 20,
}


def test_realised_mixture_within_tolerance_skips_a_truncated_last_line(llama1, tokens_dir):
    drifted = LLAMA1_COUNTS | {"commoncrawl": 680, "c4": 140}  # exactly 1 point off: not flagged
    run_dir = write_metrics(
        tokens_dir.parent / "run",
        [
            '{"step": 0, "tokens": 0, "loss": 10.4}\n',
            metrics_line(10, LLAMA1_COUNTS),
            "\n",
            metrics_line(20, {k: 2 * v for k, v in drifted.items()}),
            '{"step": 30, "tokens": 3000, "tokens_by_source": {"commoncrawl": 20',
        ],
    )
    run = read_run(run_dir)
    assert (run.line, run.step, run.tokens, run.skipped_truncated_line) == (4, 20, 2000, True)
    report = audit(llama1, tokens_dir, 1.4e12, "mixture default", run=run)
    rows = report["sources"]
    assert rows["commoncrawl"]["realised_share"] == pytest.approx(0.68, rel=1e-12)
    assert rows["commoncrawl"]["realised_minus_target"] == pytest.approx(0.01, rel=1e-9)
    assert rows["c4"]["realised_minus_target"] == pytest.approx(-0.01, rel=1e-9)
    assert rows["stackexchange"]["realised_tokens"] == 40
    assert not any(
        {"off_target", "not_trained", "off_renormalised"} & set(r["flags"]) for r in rows.values()
    )
    assert rows["commoncrawl"]["renormalised_target"] is None
    assert report["run"]["subset"] is False and report["run"]["drawn_tokens"] == 2000
    cut = f"{run_dir / 'metrics.jsonl'}: the last line was cut short (a killed run?) and skipped"
    assert cut in report["issues"]


def test_realised_mixture_outside_tolerance(llama1, tokens_dir):
    counts = LLAMA1_COUNTS | {"commoncrawl": 700, "c4": 139, "stackexchange": 1}
    run = read_run(write_metrics(tokens_dir.parent / "run", [metrics_line(5, counts)]))
    assert run.skipped_truncated_line is False
    rows = audit(llama1, tokens_dir, 1.4e12, "mixture default", run=run)["sources"]
    assert rows["commoncrawl"]["realised_minus_target"] == pytest.approx(0.03, rel=1e-9)
    assert rows["c4"]["realised_minus_target"] == pytest.approx(-0.011, rel=1e-9)
    assert rows["stackexchange"]["realised_minus_target"] == pytest.approx(-0.019, rel=1e-9)
    offs = [n for n, r in rows.items() if "off_target" in r["flags"]]
    assert offs == ["commoncrawl", "c4", "stackexchange"]


def test_a_run_on_a_subset_is_compared_with_renormalised_weights(llama1, tokens_dir):
    counts = {"commoncrawl": 670, "wikipedia": 45, "books": 0}
    run = read_run(write_metrics(tokens_dir.parent / "run", [metrics_line(1, counts)]))
    report = audit(llama1, tokens_dir, 1.4e12, "mixture default", run=run, tolerance=0.02)
    rows = report["sources"]
    assert report["run"]["trained_sources"] == ["commoncrawl", "wikipedia"]
    assert report["run"]["subset"] is True
    assert rows["commoncrawl"]["renormalised_target"] == pytest.approx(0.67 / 0.715, rel=1e-12)
    assert rows["commoncrawl"]["realised_minus_renormalised"] == pytest.approx(0, abs=1e-12)
    assert rows["wikipedia"]["realised_share"] == pytest.approx(45 / 715, rel=1e-12)
    assert rows["books"]["renormalised_target"] is None
    flags = {name: row["flags"] for name, row in rows.items()}
    assert flags["commoncrawl"] == ["off_target"]  # 93.7% against 67%
    assert flags["wikipedia"] == []  # 6.29% against 4.5%: 1.79 points, tolerance 2
    assert flags["c4"] == ["off_target", "not_trained"]
    assert flags["stackexchange"] == ["error", "not_trained"]  # 2 points: at the tolerance
    assert flags["books"] == ["over_epochs", "off_target", "not_trained"]
    assert flags["github"] == ["missing", "off_target", "not_trained"]
    assert report["parameters"]["tolerance"] == 0.02
    assert (
        "the run drew from 2 of 7 sources (commoncrawl, wikipedia): shares are also compared "
        "with the weights renormalised over them"
    ) in report["issues"]


def test_unreadable_runs_are_clear_errors(tmp_path):
    with pytest.raises(AuditError, match="no such file; --run takes a run directory"):
        read_run(tmp_path / "nope")
    run = write_metrics(tmp_path / "a", ['{"step": 1}\n', "{bad\n", '{"step": 2}\n'])
    with pytest.raises(AuditError, match=r"metrics\.jsonl:2: not JSON .* only the last line"):
        read_run(run)
    run = write_metrics(tmp_path / "b", ['{"step": 1, "tokens": 5}\n'])
    with pytest.raises(AuditError, match="no line has tokens_by_source yet"):
        read_run(run)
    run = write_metrics(tmp_path / "c", ['{"step": 1, "tokens_by_source": {"c4": -1}}\n'])
    with pytest.raises(AuditError, match=r"metrics\.jsonl:1: tokens_by_source must map"):
        read_run(run)
    assert main(["--tokens", str(tmp_path), "--output", str(tmp_path), "--run", str(run)]) == 2


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("1.4T", 1.4e12),
        ("1.4e12", 1.4e12),
        ("1000B", 1e12),
        ("5e11", 5e11),
        ("500M", 5e8),
        ("20k", 2e4),
        ("2.5 T", 2.5e12),
        ("1400000000000", 1.4e12),
        (".5G", 5e8),
    ],
)
def test_parse_budget(text, tokens):
    assert parse_budget(text) == tokens


@pytest.mark.parametrize("text", ["", "T", "abc", "1.4X", "-1T", "0", "0B", "1e", "inf", "1,000"])
def test_parse_budget_refuses(text):
    with pytest.raises(ValueError, match="budget"):
        parse_budget(text)


def test_budget_from_option_model_or_default(llama1):
    assert resolve_budget(llama1, "1000B", None) == (1e12, "--budget 1000B")
    assert resolve_budget(llama1, None, "llama-7b") == (1.0e12, "model llama-7b")
    assert resolve_budget(llama1, None, "llama-65b") == (1.4e12, "model llama-65b")
    assert resolve_budget(llama1, None, "llama-125m") == (
        1.4e12,
        "mixture default (no budget for model 'llama-125m')",
    )
    assert resolve_budget(llama1, None, None) == (1.4e12, "mixture default")


TINY_MIXTURE = """\
name: tiny
budget_tokens: 1000
max_epochs: 2
tolerance: 0.05
sources:
  commoncrawl: {weight: 0.75, paper_epochs: 1.5, paper_disk_bytes: 4000}
  wikipedia: {weight: 0.25}
"""


def test_json_report_of_a_small_case(tmp_path, capsys):
    mix = tmp_path / "tiny.yaml"
    mix.write_text(TINY_MIXTURE)
    tokens = tmp_path / "tokens"
    cc_manifest = write_manifest(tokens, "commoncrawl", 500, documents=3, text_bytes=2000)
    run = write_metrics(tmp_path / "run", [metrics_line(7, {"commoncrawl": 96})])
    args = ["--mixture", str(mix), "--tokens", str(tokens), "--output", str(tmp_path / "out")]
    assert main([*args, "--budget", "1K", "--run", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'out' / 'audit.json'} and {tmp_path / 'out' / 'audit.png'}" in out
    report = json.loads((tmp_path / "out" / "audit.json").read_text())
    metrics = str(run / "metrics.jsonl")
    assert report == {
        "mixture": "tiny",
        "mixture_path": str(mix),
        "parameters": {
            "tokens_dir": str(tokens),
            "budget_tokens": 1000.0,
            "budget_from": "--budget 1K",
            "default_budget_tokens": 1000.0,
            "max_epochs": 2.0,
            "tolerance": 0.05,
            "run": metrics,
        },
        "sources": {
            "commoncrawl": {
                "weight": 0.75,
                "status": "ok",
                "flags": ["off_target"],
                "manifest": str(cc_manifest),
                "error": None,
                "documents": 3,
                "tokens": 500,
                "bytes": 2000,
                "num_shards": 2,
                "tokenizer_sha256": SHA_A,
                "available_share": 1.0,
                "drawn_tokens": 750.0,
                "epochs": 1.5,
                "max_budget_tokens": 2 * 500 / 0.75,
                "paper_epochs": 1.5,
                "epochs_vs_paper": 1.0,
                "epochs_minus_paper": 0.0,
                "paper_tokens": 500.0,
                "tokens_vs_paper": 1.0,
                "paper_disk_bytes": 4000.0,
                "disk_fraction": 0.5,
                "realised_tokens": 96,
                "realised_share": 1.0,
                "realised_minus_target": 0.25,
                "renormalised_target": 1.0,
                "realised_minus_renormalised": 0.0,
            },
            "wikipedia": {
                "weight": 0.25,
                "status": "missing",
                "flags": ["missing", "off_target", "not_trained"],
                "manifest": str(tokens / "wikipedia" / "_manifest.json"),
                "error": None,
                "documents": 0,
                "tokens": 0,
                "bytes": 0,
                "num_shards": 0,
                "tokenizer_sha256": None,
                "available_share": 0.0,
                "drawn_tokens": 250.0,
                "epochs": None,
                "max_budget_tokens": None,
                "paper_epochs": None,
                "epochs_vs_paper": None,
                "epochs_minus_paper": None,
                "paper_tokens": None,
                "tokens_vs_paper": None,
                "paper_disk_bytes": None,
                "disk_fraction": None,
                "realised_tokens": 0,
                "realised_share": 0.0,
                "realised_minus_target": -0.25,
                "renormalised_target": None,
                "realised_minus_renormalised": None,
            },
        },
        "totals": {
            "weight": 1.0,
            "documents": 3,
            "tokens": 500,
            "bytes": 2000,
            "drawn_tokens": 1000.0,
        },
        "max_budget_tokens": 2 * 500 / 0.75,
        "max_budget_limited_by": "commoncrawl",
        "tokenizers": {SHA_A: ["commoncrawl"]},
        "unused_manifests": [],
        "run": {
            "metrics": metrics,
            "line": 1,
            "step": 7,
            "tokens": 96,
            "tokens_by_source": {"commoncrawl": 96},
            "drawn_tokens": 96,
            "trained_sources": ["commoncrawl"],
            "subset": True,
            "extra_sources": {},
            "skipped_truncated_line": False,
        },
        "issues": [
            f"missing (no manifest or no tokens under {tokens}): wikipedia; run `make tokenize` "
            "once their documents exist",
            "the run drew from 1 of 2 sources (commoncrawl): shares are also compared with the "
            "weights renormalised over them",
        ],
        "flagged": True,
    }
    assert main([*args, "--budget", "1K", "--strict"]) == 1


def test_strict_passes_when_nothing_is_flagged(tmp_path):
    mix = tmp_path / "tiny.yaml"
    mix.write_text(TINY_MIXTURE)
    tokens = tmp_path / "tokens"
    write_manifest(tokens, "commoncrawl", 500)
    write_manifest(tokens, "wikipedia", 125)
    args = ["--mixture", str(mix), "--tokens", str(tokens), "--output", str(tmp_path / "out")]
    assert main([*args, "--strict"]) == 0  # 1.5 epochs of CC, 2 of Wikipedia: at the limit
    assert main([*args, "--strict", "--max_epochs", "1.9"]) == 1
    # A killed run's cut-short last line is reported, not flagged; a source outside the mixture is.
    counts = {"commoncrawl": 300, "wikipedia": 100}
    run = write_metrics(tmp_path / "run", [metrics_line(1, counts), '{"step": 2, "to'])
    assert main([*args, "--strict", "--run", str(run)]) == 0
    run = write_metrics(tmp_path / "run", [metrics_line(1, counts | {"github": 1})])
    assert main([*args, "--strict", "--run", str(run)]) == 1
    report = json.loads((tmp_path / "out" / "audit.json").read_text())
    assert report["run"]["extra_sources"] == {"github": 1} and report["flagged"] is True
    assert "the run drew from sources outside the mixture: github" in report["issues"]
    run = write_metrics(tmp_path / "run", [metrics_line(1, {"commoncrawl": 0})])
    assert main([*args, "--strict", "--run", str(run)]) == 1  # nothing drawn yet


def test_png_is_written(llama1, tokens_dir, tmp_path):
    run = write_metrics(tmp_path / "run", [metrics_line(3, LLAMA1_COUNTS)])
    args = ["--tokens", str(tokens_dir), "--output", str(tmp_path / "out"), "--run", str(run)]
    assert main(args) == 0
    png = (tmp_path / "out" / "audit.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    assert struct.unpack(">II", png[16:24]) == (1300, 500)  # 13 × 5 inches at 100 dpi
    assert len(png) > 30_000
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["audit.json", "audit.png"]


def test_table_shows_flags_and_infinite_epochs(llama1, tokens_dir):
    run = read_run(write_metrics(tokens_dir.parent / "run", [metrics_line(3, LLAMA1_COUNTS)]))
    buffer = io.StringIO()
    report = audit(llama1, tokens_dir, 1.4e12, "mixture default", run=run)
    print_table(report, Console(file=buffer, width=250, color_system=None))
    text = buffer.getvalue()
    lines = [line for line in text.splitlines() if line.startswith(("│", "┃"))]  # header: ┃
    header, *rows = [[cell.strip() for cell in re.split("[│┃]", line)[1:-1]] for line in lines]
    table = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert table["commoncrawl"] == {
        "source": "commoncrawl",
        "weight": "67%",
        "documents": "900",
        "tokens": "938B",
        "bytes": "330GB",
        "disk/paper": "10%",
        "drawn": "938B",
        "epochs": "1",
        "Table 1": "1.10",
        "realised": "67%",
        "Δ target": "+0.00 pt",
        "status": "ok",
    }
    assert (table["github"]["epochs"], table["github"]["status"]) == ("∞", "missing")
    assert (table["books"]["epochs"], table["books"]["status"]) == ("4", "over_epochs")
    assert table["stackexchange"]["epochs"] == table["stackexchange"]["tokens"] == "—"
    assert table["stackexchange"]["status"] == "error"
    assert table["wikipedia"]["epochs"] == "2.5" and table["wikipedia"]["bytes"] == "8.3GB"
    assert table["total"]["tokens"] == "1.15T" and table["total"]["documents"] == "940"
    assert "the data allows 1.05T tokens (limited by books)" in text


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for option in ("--mixture", "--tokens", "--output", "--budget", "--model", "--max_epochs"):
        assert option in text
    assert "--tolerance" in text and "--run" in text and "--strict" in text


def test_bad_arguments_exit_2(tmp_path, capsys):
    for argv in (["--budget", "lots"], ["--mixture", "nope"], ["--max_epochs", "-1"]):
        with pytest.raises(SystemExit) as done:
            main([*argv, "--tokens", str(tmp_path), "--output", str(tmp_path)])
        assert done.value.code == 2
    err = capsys.readouterr().err
    assert "budget 'lots' is not a number of tokens like 1.4e12" in err
    assert "no mixture 'nope'" in err
    assert "'-1' is not a positive number" in err


def test_make_audit_passes_its_variables():
    result = subprocess.run(
        ["make", "-n", "audit", "OUTPUT=/tmp/o", "MIX=tiny", "BUDGET=1T", "RUN=/tmp/r", "STRICT=1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert (
        "-m mixtures.audit --mixture tiny --tokens /tmp/o/tokens --output /tmp/o/audit "
        "--budget 1T --run /tmp/r --strict"
    ) in " ".join(word for word in result.stdout.split() if word != "\\")
