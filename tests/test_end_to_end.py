"""The make targets on the bundled sample, as a user runs them."""

from __future__ import annotations

import json
import random
import subprocess

import pyarrow.parquet as pq
import pytest
import sentencepiece
from conftest import ROOT

from filters.buckets import Cutoffs
from filters.perplexity import PerplexityScorer
from tokenizer.shards import open_sources

ANARCHISM_LEAD = (
    "Anarchism is a political philosophy that advocates self-governed societies based on "
    "voluntary institutions."
)


def _make(*args: str) -> str:
    proc = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory, sample):
    out = tmp_path_factory.mktemp("e2e")
    wiki_log = _make("wikipedia", f"OUTPUT={out}", "WORKERS=2", "SHARDS=2")
    lm_log = _make("lm", "LM_LANG=en", f"OUTPUT={out}", f"MODELS={out}/models")
    return out, wiki_log, lm_log


def test_make_wikipedia_writes_clean_articles(runs):
    out, log, _ = runs
    report = json.loads((out / "wikipedia/report.json").read_text())
    assert report["totals"] == {
        "read": 214,
        "kept": 111,
        "dropped_redirect": 99,
        "dropped_namespace": 3,
        "dropped_duplicate": 1,
    }
    assert report["invariant"]["holds"] and report["work_items"] == 5
    assert report["by_language"]["bg"] == {"read": 3, "kept": 1, "dropped_namespace": 2}
    assert "dropped_redirect" in log and "documents" in log  # the summary table was printed

    table = pq.read_table(sorted((out / "wikipedia/documents").glob("part-*.parquet")))
    rows = {r["id"]: r for r in table.to_pylist()}
    assert len(rows) == 111 and table.num_rows == 111
    anarchism = rows["wikipedia/en/12"]
    assert anarchism["text"].startswith(ANARCHISM_LEAD)
    assert (anarchism["title"], anarchism["url"], anarchism["language"]) == (
        "Anarchism",
        "https://en.wikipedia.org/wiki/Anarchism",
        "en",
    )
    assert anarchism["timestamp"].isoformat() == "2016-04-22T10:19:33+00:00"
    for row in rows.values():
        for markup in ("[[", "]]", "{{", "}}", "<ref", "{|", "__NOTOC__", "[[File:", "Category:"):
            assert markup not in row["text"], (row["id"], markup)
    bulgarian = rows["wikipedia/bg/558"]
    assert bulgarian["text"].startswith("Григорианският календар")

    openings = {r["id"]: r["text"] for r in pq.read_table(out / "wikipedia/openings").to_pylist()}
    assert openings["wikipedia/en/12"].startswith(ANARCHISM_LEAD)
    assert anarchism["text"].startswith(openings["wikipedia/en/12"])
    references = pq.read_table(out / "wikipedia/references").to_pylist()
    cited = {r["url"] for r in references if r["id"] == "wikipedia/en/12"}
    assert len(cited) > 100 and all("://" not in u and not u.startswith("www.") for u in cited)


def test_make_lm_trains_a_model_that_prefers_real_text(runs):
    out, _, log = runs
    card = json.loads((out / "models/lm/en.json").read_text())
    assert card["language"] == "en" and card["order"] == 5
    assert card["text"] == "articles"  # the sample has too few openings for `auto` to pick them
    assert card["documents"] == 110 and card["text_requested"] == "auto"
    assert card["vocab_size_requested"] == 65536 and 1000 < card["vocab_size"] < 65536
    assert f"{card['vocab_size']:,} pieces (requested 65,536)" in log
    scorer = PerplexityScorer.from_dir(out / "models/lm", "en")
    words = ANARCHISM_LEAD.split()
    shuffled = " ".join(random.Random(0).sample(words, len(words)))
    real, scrambled = scorer.score(ANARCHISM_LEAD), scorer.score(shuffled)
    assert real.lines == 1 and real.length > len(words)
    assert real.perplexity < scrambled.perplexity / 3


def test_make_lm_computes_cutoffs_on_the_crawl_sample(runs):
    out, _, log = runs
    cutoffs = Cutoffs.load(out / "models/lm/en.cutoffs.json")
    assert cutoffs.language == "en" and 500 <= cutoffs.documents <= 705  # English pages ≥ 300 chars
    assert 0 < cutoffs.head < cutoffs.middle
    assert f"en: {cutoffs.documents} crawl documents" in log
    png = (out / "models/lm/en.perplexity.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_make_commoncrawl_the_quick_start_command(runs):
    out, _, _ = runs
    log = _make("commoncrawl", f"OUTPUT={out}", f"MODELS={out}/models", "WORKERS=2", "SHARDS=2")
    report = json.loads((out / "commoncrawl/report.json").read_text())
    assert report["invariant"]["holds"] and report["totals"]["read"] == 2243
    assert report["buckets"]["en_head"] > 0 and report["buckets"]["en_middle"] > 0
    assert "dropped_language" in log and "documents/s" in log
    docs = pq.read_table(out / "commoncrawl/documents/en_head").to_pylist()
    assert len(docs) == report["buckets"]["en_head"] and {d["bucket"] for d in docs} == {"head"}


def test_make_wikiref_trains_the_classifier_and_commoncrawl_applies_it(runs):
    out, _, _ = runs
    log = _make("wikiref", f"OUTPUT={out}", f"MODELS={out}/models")
    card = json.loads((out / "models/wikiref.json").read_text())
    # The sample holds none of the exact pages its articles cite: the cited-host stand-in is used.
    assert (card["url_matches"], card["match"]) == (0, "host")
    assert (
        card["positives"] == card["host_matches"] >= 10 and card["negatives"] == card["positives"]
    )
    assert card["roc_auc"] is None or 0.0 <= card["roc_auc"] <= 1.0
    assert "positives by host" in log
    _make(
        "commoncrawl",
        f"OUTPUT={out}/with-wikiref",
        f"MODELS={out}/models",
        "WORKERS=1",
        f"WIKIREF={out}/models/wikiref.npz",
    )
    report = json.loads((out / "with-wikiref/commoncrawl/report.json").read_text())
    assert report["invariant"]["holds"] and "dropped_wikiref" in report["totals"]
    docs = pq.read_table(out / "with-wikiref/commoncrawl/documents").to_pylist()
    assert docs and all(d["wiki_prob"] >= 0.25 for d in docs)


def test_second_make_does_no_setup_work():
    proc = subprocess.run(["make", "--question", "setup"], cwd=ROOT, capture_output=True)
    assert proc.returncode == 0, "`make setup` would run again: " + proc.stdout.decode()


def test_make_tokenizer_tokenize_train_audit_export(runs):
    """The chain as a user runs it on the sample: `make corpus` (every source, the tokenizer,
    token shards, the audit and its table), a short training run, the audit of its realised
    mixture, and the Hugging Face export."""
    out, _, _ = runs
    common = [f"OUTPUT={out}", f"MODELS={out}/models", "WORKERS=2"]
    log = _make("corpus", *common, "TOKEN_SHARDS=2")  # every source, tokenizer, shards, audit
    card = json.loads((out / "models/tokenizer/llama1.json").read_text())
    assert card["tokenizer"]["vocab_size"] == card["vocab_size_requested"] == 32000
    corpus = json.loads((out / "audit/corpus.json").read_text())
    rows = {row["source"]: row for row in corpus["sources"]}
    assert set(rows) == {
        "arxiv",
        "books",
        "c4",
        "commoncrawl",
        "github",
        "stackexchange",
        "wikipedia",
    }
    assert all(row["pipeline_ran"] and row["tokens"] > 0 for row in rows.values())
    assert rows["books"]["dropped"] == {"near_duplicate": 1}
    assert rows["c4"]["read"] == 2243 and "not_english" in rows["c4"]["dropped"]
    assert "corpus: llama1" in log and "stackexchange" in log
    sources = open_sources(out / "tokens")
    assert sorted(sources) == [
        "arxiv", "books", "c4", "commoncrawl", "github", "stackexchange", "wikipedia"
    ]  # fmt: skip
    assert sources["wikipedia"].num_documents == 111  # every article written by make wikipedia
    cc_report = json.loads((out / "commoncrawl/report.json").read_text())
    assert sources["commoncrawl"].num_documents == sum(cc_report["buckets"].values())
    c4_report = json.loads((out / "c4/report.json").read_text())
    assert sources["c4"].num_documents == c4_report["splits"]["train"]  # not the validation split
    github_report = json.loads((out / "github/report.json").read_text())
    assert sources["github"].num_documents == github_report["totals"]["kept"]
    books_report = json.loads((out / "books/report.json").read_text())
    assert sources["books"].num_documents == books_report["totals"]["kept"] == 22
    se_report = json.loads((out / "stackexchange/report.json").read_text())
    assert sources["stackexchange"].num_documents == se_report["totals"]["kept"] == 103
    arxiv_report = json.loads((out / "arxiv/report.json").read_text())
    assert sources["arxiv"].num_documents == arxiv_report["totals"]["kept"] == 4
    sp = sentencepiece.SentencePieceProcessor(model_file=str(out / "models/tokenizer/llama1.model"))
    wiki = {r["id"]: r["text"] for r in pq.read_table(out / "wikipedia/documents").to_pylist()}
    shard = sources["wikipedia"].shards[0]
    for i in range(len(shard)):
        assert sp.decode(shard.document(i).tolist()) == wiki[shard.document_id(i)]

    run = out / "train/run"
    log = _make("train", *common, "STEPS=40", f"OUT={run}")
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [m["loss"] for m in metrics if "loss" in m]
    assert losses[-1] < losses[0] - 1.0, losses  # it learns
    drawn = [m["tokens_by_source"] for m in metrics if "tokens_by_source" in m][-1]
    assert set(drawn) == set(sources)  # every source of llama1 drawn
    assert any("val_loss" in m for m in metrics)
    assert (run / "loss.png").read_bytes().startswith(b"\x89PNG") and "loss" in log

    _make("audit", *common, f"RUN={run}")
    audit = json.loads((out / "audit/audit.json").read_text())
    rows = audit["sources"]
    assert {name: row["status"] for name, row in rows.items()} == dict.fromkeys(sources, "ok")
    assert rows["github"]["tokens"] == sources["github"].num_tokens

    _make("export", *common, f"RUN={run}", f"HF_OUT={out}/hf")
    config = json.loads((out / "hf/config.json").read_text())
    assert (config["vocab_size"], config["hidden_size"]) == (32000, 64)
    assert (out / "hf/model.safetensors").stat().st_size > 0
