"""The ablation's machinery on a small corpus made from the sample: equal training tokens,
evaluation pages out of every training set, the same numbers from the same seed. Not its outcome.

The corpus: one of the sample's WET files (the text-only pages), CommonCrawl "curated" documents
(every other long page, half of them head), C4 documents naming the same WET records (train and
validation), Gutenberg books, and a 400-piece tokenizer trained on those pages.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sentencepiece
import torch
from conftest import SAMPLE

from ablation import run
from ablation.sets import (
    AblationError,
    check_disjoint,
    encode_documents,
    page_key,
    token_dir_ids,
    wet_pages,
    write_token_source,
)
from tokenizer.encode import Encoder
from training.evaluate import held_out_loss, packed_stream

STEPS, BATCH_TOKENS, SEQ_LEN = 3, 128, 32


def _parquet(directory: Path, rows: list[tuple[str, str]]) -> None:
    directory.mkdir(parents=True)
    table = pa.table({"id": [r[0] for r in rows], "text": [r[1] for r in rows]})
    pq.write_table(table, directory / "part-00000-of-00001.parquet")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, sample) -> dict:
    root = tmp_path_factory.mktemp("ablation")
    wet = str(sample / "commoncrawl/wet/CC-SAMPLE-00000.warc.wet.gz")
    pages = [(i, t) for i, t in wet_pages([wet]) if t]
    books = [
        (f"books/gutenberg/{p.stem}", p.read_text(encoding="utf-8", errors="replace")[:20_000])
        for p in sorted((SAMPLE / "books/gutenberg").glob("*.txt"))[:8]
    ]
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter([line for _, t in pages[:200] for line in t.split("\n") if line]),
        model_writer=model,
        vocab_size=400,
        model_type="bpe",
        character_coverage=1.0,
        bos_id=1,
        eos_id=2,
        unk_id=0,
        pad_id=-1,
        num_threads=1,
        minloglevel=2,
    )
    tokenizer = root / "tok.model"
    tokenizer.write_bytes(model.getvalue())
    encoder = Encoder(model.getvalue())
    entry = {"path": str(tokenizer), "sha256": encoder.sha256, "vocab_size": encoder.vocab_size}

    long_pages = [(i, t) for i, t in pages if len(t) >= 300]
    curated = long_pages[::2][:120]
    head, middle = curated[::2], curated[1::2]
    c4_of = [("c4/" + i.removeprefix("cc/"), t) for i, t in long_pages[:150]]
    c4_validation, c4_train = c4_of[:6], c4_of[6:]
    data = root / "out"
    _parquet(data / "commoncrawl/documents/en_head", head)
    _parquet(data / "commoncrawl/documents/en_middle", middle)
    _parquet(data / "c4/validation", c4_validation)
    for source, rows in (("commoncrawl", curated), ("c4", c4_train), ("books", books)):
        docs = encode_documents(encoder, rows)
        write_token_source(data / "tokens" / source, source, docs, entry, 2)
    return {
        "root": root,
        "data": data,
        "tokenizer": tokenizer,
        "wet": wet,
        "pages": pages,
        "curated": curated,
        "head": head,
        "c4_validation": c4_validation,
    }


def _ablation(corpus: dict, out: str, seeds: str = "0,1") -> dict:
    code = run.main(
        [
            "--data", str(corpus["data"]),
            "--tokenizer", str(corpus["tokenizer"]),
            "--wet", corpus["wet"],
            "--output", str(corpus["root"] / out),
            "--seeds", seeds,
            "--steps", str(STEPS),
            "--batch_tokens", str(BATCH_TOKENS),
            "--seq_len", str(SEQ_LEN),
            "--heldout_fraction", "0.2",
            "--eval_tokens", "1500",
            "--device", "cpu",
        ]
    )  # fmt: skip
    assert code == 0
    return json.loads((corpus["root"] / out / "ablation.json").read_text())


@pytest.fixture(scope="module")
def result(corpus) -> dict:
    return _ablation(corpus, "first")


def test_every_run_trains_on_the_same_number_of_tokens(result):
    runs = result["runs"]
    assert sorted((r["set"], r["seed"]) for r in runs) == sorted(
        (s, seed) for s in ("curated", "text_only", "head", "mixture") for seed in (0, 1)
    )
    assert {r["training_tokens"] for r in runs} == {STEPS * BATCH_TOKENS}
    windows = STEPS * BATCH_TOKENS // SEQ_LEN
    assert {sum(r["tokens_by_source"].values()) for r in runs} == {windows * (SEQ_LEN + 1)}
    assert {r["steps"] for r in runs} == {STEPS}
    mixture = [r for r in runs if r["set"] == "mixture"]
    assert all(set(r["tokens_by_source"]) == {"books", "c4", "commoncrawl"} for r in mixture)
    assert result["parameters"]["training_tokens"] == STEPS * BATCH_TOKENS
    for r in runs:  # a set's epochs: its drawn tokens over one pass of its training split
        assert all(e > 0 for e in r["epochs"].values())


def test_sets_are_what_they_claim(corpus, result):
    out = corpus["root"] / "first"
    sets = {s: set(token_dir_ids(out / "sets" / s / "commoncrawl")) for s in ("curated", "head")}
    text_only = set(token_dir_ids(out / "sets/text_only/commoncrawl"))
    evals = {p.name: set(token_dir_ids(p)) for p in (out / "eval").iterdir()}
    assert set(evals) == {"commoncrawl", "c4", "books"}
    assert evals["c4"] == {i for i, _ in corpus["c4_validation"]}  # C4's own validation split
    curated = {i for i, _ in corpus["curated"]}
    assert evals["commoncrawl"] and evals["commoncrawl"] < curated
    assert sets["curated"] == curated - evals["commoncrawl"] - {
        "cc/" + i.removeprefix("c4/") for i in evals["c4"]
    }
    assert sets["head"] == sets["curated"] & {i for i, _ in corpus["head"]}
    # Text only: every page of the WET file, short ones and all, less the evaluated pages.
    evaluated_pages = {page_key(i) for ids in evals.values() for i in ids}
    every_page = {i for i, _ in corpus["pages"]}
    assert text_only == {i for i in every_page if page_key(i) not in evaluated_pages}
    assert len(text_only) > 2 * len(sets["curated"])


def test_no_evaluated_page_is_in_any_training_set(corpus, result):
    out = corpus["root"] / "first"
    evaluated = {page_key(i) for p in (out / "eval").iterdir() for i in token_dir_ids(p)}
    for set_dir in (out / "sets").iterdir():
        for source_dir in set_dir.iterdir():
            trained = {page_key(i) for i in token_dir_ids(source_dir)}
            assert not trained & evaluated, (set_dir.name, source_dir.name)
    # The pages each eval set holds out are really in the inputs: the check is not vacuous.
    c4_pages = {page_key(i) for i, _ in corpus["c4_validation"]}
    assert c4_pages & {page_key(i) for i, _ in corpus["pages"]}
    mixture_c4 = {page_key(i) for i in token_dir_ids(out / "sets/mixture/c4")}
    cc_held = {page_key(i) for i in token_dir_ids(out / "eval/commoncrawl")}
    assert cc_held & {page_key("c4/" + i.removeprefix("cc/")) for i, _ in corpus["curated"]}
    assert not cc_held & mixture_c4


def test_check_disjoint_refuses_a_shared_page():
    check_disjoint({"curated": {"commoncrawl": ["cc/s/1"]}}, {"c4": ["c4/s/2"]})
    with pytest.raises(AblationError, match="curated/commoncrawl trains on cc/s/1 of eval set c4"):
        check_disjoint({"curated": {"commoncrawl": ["cc/s/1"]}}, {"c4": ["c4/s/1"]})


def test_the_same_seed_gives_the_same_numbers(corpus, result):
    again = _ablation(corpus, "second", seeds="1")
    first = {r["set"]: r for r in result["runs"] if r["seed"] == 1}
    for r in again["runs"]:
        assert r["losses"] == first[r["set"]]["losses"]
        assert r["eval"] == first[r["set"]]["eval"]
    other = {r["set"]: r for r in result["runs"] if r["seed"] == 0}
    assert all(other[s]["losses"] != first[s]["losses"] for s in first)


def test_an_ablation_run_again_keeps_its_finished_runs(corpus, result):
    again = _ablation(corpus, "first")
    assert again["timing"]["runs_reused"] == len(result["runs"]) == 8
    assert again["results"] == result["results"]
    assert {r["fingerprint"] for r in again["runs"]} == {r["fingerprint"] for r in result["runs"]}


def test_summary_table_and_plot(corpus, result):
    out = corpus["root"] / "first"
    assert set(result["results"]) == {"commoncrawl", "c4", "books"}
    cell = result["results"]["books"]["curated"]["ppl"]
    values = [
        r["eval"]["books"]["ppl"] for r in result["runs"] if r["set"] == "curated"
    ]  # seeds 0, 1
    assert cell["values"] == values and cell["min"] == min(values) and cell["max"] == max(values)
    assert math.isclose(cell["mean"], sum(values) / 2)
    for run_ in result["runs"]:
        for name, ev in run_["eval"].items():
            assert ev["tokens"] == result["eval_sets"][name]["scored_tokens"] <= 1500
            assert math.isclose(ev["ppl"], math.exp(ev["nll"] / ev["tokens"]))
            assert math.isclose(ev["bits_per_byte"], ev["nll"] / math.log(2) / ev["bytes"])
    assert "ranges [min, max]" in result["rule"]
    assert all(len(pairs) == 6 for pairs in result["comparisons"].values())
    table = (out / "ablation.md").read_text()
    assert "| books |" in table and "curated | text_only | head | mixture" in table
    assert (out / "ablation.png").read_bytes().startswith(b"\x89PNG")
    assert not list((out / "runs").glob("*/checkpoints"))  # removed after evaluation


def test_the_verdict_rule():
    a = run.spread([10.0, 11.0, 12.0])
    assert not run.differ(a, run.spread([11.5, 13.0, 14.0]))  # ranges overlap
    assert run.differ(a, run.spread([12.5, 13.0, 14.0]))
    assert not run.differ(run.spread([1.0]), run.spread([2.0]))  # one seed: never


class _Bigram(torch.nn.Module):
    """Logits from the current token only, so a score cannot depend on where windows are cut."""

    def __init__(self, vocab: int):
        super().__init__()
        self.table = torch.randn(vocab, vocab, generator=torch.Generator().manual_seed(0))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.table[tokens]


def test_held_out_loss_scores_every_token_once_whatever_the_window():
    docs = [np.array([5, 6, 7, 8, 9], dtype=np.uint16), np.array([3], dtype=np.uint16)]
    stream, scored = packed_stream(docs, bos=1, eos=2)
    assert stream.tolist() == [1, 5, 6, 7, 8, 9, 2, 1, 3, 2]
    model = _Bigram(10)
    terms = [
        -torch.log_softmax(model.table[a], -1)[b].item()
        for a, b, keep in zip(stream[:-1], stream[1:], scored[1:], strict=True)
        if keep
    ]
    for seq_len, batch in ((1, 1), (3, 2), (4, 8), (64, 1)):
        loss = held_out_loss(
            model, docs, seq_len=seq_len, batch_size=batch, device=torch.device("cpu")
        )
        assert loss.tokens == len(terms) == 5 + 1 + 1 + 1  # each document's tokens and </s>
        assert math.isclose(loss.nll, sum(terms), rel_tol=1e-6)
    cut = held_out_loss(
        model, docs, seq_len=3, batch_size=2, device=torch.device("cpu"), max_tokens=4
    )
    assert cut.tokens == 4 and math.isclose(cut.nll, sum(terms[:4]), rel_tol=1e-6)


def test_page_key_joins_crawl_ids_only():
    assert page_key("cc/seg/0001") == page_key("c4/seg/0001") == "crawl/seg/0001"
    assert page_key("books/gutenberg/x") == "books/gutenberg/x"
