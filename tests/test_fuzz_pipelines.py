"""Pipeline-level fuzzing: whole pipelines on mutated copies of the sample's files.

The reader targets (tests/test_fuzz_readers.py) check each reader's accounting per record; here
each pipeline runs once on a handful of mutants of real inputs (bytes flipped, inserted, deleted,
duplicated or cut, before and after compression) and must finish with read = kept + Σ dropped:
nothing crashes the run, nothing goes uncounted.
"""

from __future__ import annotations

import bz2
import gzip
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzzing.mutate import gz, mutated
from pipelines import arxiv, books, commoncrawl, github, wikipedia

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data/sample"
NEOX = ROOT / "models/gpt-neox-20b.tokenizer.json"
MUTANTS = 6


def mutants(data: bytes, fragments: tuple[bytes, ...] = (), count: int = MUTANTS) -> list[bytes]:
    """`count` mutants of `data`, the same on every run (Hypothesis, derandomized)."""
    found: list[bytes] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(mutated(st.just(data), fragments, max_edits=8))
    def collect(mutant: bytes) -> None:
        found.append(mutant)

    collect()
    return found[:count]


def _write(folder: Path, name: str, datas: list[bytes]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, data in enumerate(datas):
        path = folder / name.format(i)
        path.write_bytes(data)
        paths.append(str(path))
    return paths


def _holds(report: dict) -> dict:
    totals = report["totals"]
    dropped = sum(v for k, v in totals.items() if k.startswith("dropped_"))
    assert report["invariant"]["holds"] and totals["read"] == totals["kept"] + dropped
    assert totals["read"] > 0
    return totals


def test_books_on_mutated_gutenberg_and_pg19_files(tmp_path):
    pg19 = (SAMPLE / "books/pg19/pg19-00000.jsonl.gz").read_bytes()
    text = (SAMPLE / "books/gutenberg/plboss10.txt").read_bytes()
    markers = (b"*** START OF", b"*** END OF", b'"text": ', b"\n", b"\x00", b"{", b"\\u")
    decompressed = [gz(m) for m in mutants(gzip.decompress(pg19), markers)]
    pg19_inputs = _write(tmp_path / "pg19", "m{}.jsonl.gz", decompressed)
    pg19_inputs += _write(tmp_path / "pg19c", "c{}.jsonl.gz", mutants(pg19))
    texts = _write(tmp_path / "gutenberg", "{}.txt", mutants(text, markers))
    # A mutant's kind cannot always be sniffed from its first line: each collection is named.
    for kind, inputs in (("pg19", pg19_inputs), ("gutenberg", texts)):
        out = str(tmp_path / f"out-{kind}")
        _holds(books.main(["--input", *inputs, "--kind", kind, "--output", out]))


def test_github_on_mutated_bigquery_exports(tmp_path):
    export = gzip.decompress((SAMPLE / "github/bigquery/github-repos-00000.jsonl.gz").read_bytes())
    markers = (b'"content": ', b'"license": ', b'"path": ', b"\n", b"\x00", b"null", b"[]")
    inputs = _write(tmp_path / "in", "e{}.jsonl.gz", [gz(m) for m in mutants(export, markers)])
    args = ["--input", *inputs, "--output", str(tmp_path / "out"), "--tokenizer", str(NEOX)]
    _holds(github.main(args))


def test_arxiv_on_mutated_monthly_tars(tmp_path):
    tar = (SAMPLE / "arxiv/arXiv_src_2301_001.tar").read_bytes()
    inputs = _write(
        tmp_path / "in", "arXiv_src_2301_{:03d}.tar", mutants(tar, (b"../", b"\x1f\x8b"))
    )
    _holds(arxiv.main(["--input", *inputs, "--output", str(tmp_path / "out")]))


def test_wikipedia_on_mutated_dumps(tmp_path):
    xml = bz2.decompress((SAMPLE / "wikipedia/enwiki-sample-pages-articles.xml.bz2").read_bytes())
    markers = (b"<page>", b"</page>", b"<text", b"</text>", b"<!DOCTYPE", b"&amp;", b"{{", b"[[")
    datas = [bz2.compress(m) for m in mutants(xml, markers)]
    dumps = _write(tmp_path / "in", "enwiki-2024010{}-pages-articles.xml.bz2", datas)
    _holds(wikipedia.main(["--dumps", *dumps, "--output", str(tmp_path / "out")]))


def test_commoncrawl_on_mutated_wet_files(models, tmp_path):
    # Line dedup reads every WET file twice: a damaged file must give the second read exactly
    # the documents of the first (else the run stops), and every page must still be accounted for.
    # One mutant per sample file (mutants of one file would deduplicate each other to nothing),
    # two mutated before compression, two after; only a file's first 40 kB are edited, so that
    # the records after the damage are read.
    markers = (b"WARC/1.0\r\n", b"Content-Length: ", b"\r\n\r\n", b"\n", b"\xff", b"\x1f\x8b\x08")
    datas = []
    for i, path in enumerate(sorted((SAMPLE / "commoncrawl/wet").glob("*.warc.wet.gz"))):
        data = path.read_bytes() if i % 2 else gzip.decompress(path.read_bytes())
        head, rest = data[:40_000], data[40_000:]
        edited = mutants(head, markers)[-1] + rest  # the last mutant is edited most
        datas.append(edited if i % 2 else gz(edited))
    inputs = _write(tmp_path / "in", "m{}.warc.wet.gz", datas)
    lm, lid = str(models / "lm"), str(models / "lid.176.ftz")
    args = ["--wet", *inputs, "--output", str(tmp_path / "out"), "--lm_dir", lm, "--lid_model", lid]
    totals = _holds(commoncrawl.main(args))
    dead = next(iter(tmp_path.glob("out/dead_letter/*.jsonl")))
    assert totals["kept"] > 0 and dead.read_text().count("\n") >= 4
