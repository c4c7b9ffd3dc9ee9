"""bench-c4: C4's page rules, ours against datatrove's C4 filters on the same pages, one core.

    python -m benchmarks.c4 --out benchmarks/results/c4.json

Pages: the sample crawl's WET pages as TFDS reads them (filters.c4.parse_lines, the 190,000-
character cap), `--copies` times. In one process, ours and theirs alternate and each figure is
the best of `--repeats` runs:
  clean     our CleanPage against datatrove 0.10.1's C4QualityFilter set to TFDS's values
            (3 sentences, 5 words a line; its defaults are 5 and 3) on every page
  badwords  our BadWords against datatrove's C4BadWordsFilter, same list (C4's LDNOOBW en),
            on the pages both cleaners keep
  language  langdetect as TFDS ran it and fastText lid.176 (ours; datatrove has no langdetect)
Then the share of pages where the two disagree, by reason: for TFDS's values and for
datatrove's defaults. datatrove splits English sentences with spaCy by default
(not installed here); it is given its NLTK tokenizer instead, as TFDS counted with Punkt, and
that tokenizer, which would load `punkt/english.pickle` (not downloadable here, and no longer
shipped by NLTK), is given ours: the same Punkt algorithm and English parameters
(filters/sentences.py). So the sentence counts agree and the timing compares the rest.
Last, `python -m pipelines.c4` on the sample with one worker: the whole pipeline's pages/s.
"""

from __future__ import annotations

import argparse
import glob
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks.common import machine, max_rss_mb, one_worker_run, write_result
from filtermodels.badwords import load_words
from filters.c4 import MAX_PAGE_CHARS, BadWords, CleanPage, English, english_identifier, parse_lines
from filters.sentences import english_tokenizer
from readers.warc import iter_records

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_WET = ROOT / "data/sample/commoncrawl/wet/*.warc.wet.gz"
BADWORDS = ROOT / "models/badwords/en.txt"
LID = ROOT / "models/lid.176.ftz"


def sample_pages() -> list[str]:
    texts = []
    for path in sorted(glob.glob(str(SAMPLE_WET))):
        for record in iter_records(path):
            if getattr(record, "type", None) == "conversion":
                text = parse_lines(record.body.decode("utf-8"))
                if text and len(text) <= MAX_PAGE_CHARS:
                    texts.append(text)
    return texts


# ---- ours ----------------------------------------------------------------------------------------


def ours_clean(texts: list[str]) -> list[tuple[str | None, str]]:
    """(drop reason or None, cleaned text) per page."""
    clean = CleanPage()
    out = []
    for text in texts:
        doc = {"text": text}
        decision = clean.decide(doc)
        out.append((decision.reason, doc["text"]))
    return out


def ours_badwords(texts: list[str], words: list[str]) -> list[str | None]:
    stage = BadWords(words)
    return [stage.decide({"text": t}).reason for t in texts]


# ---- datatrove, the peer -------------------------------------------------------------------------


def _peer_setup(badwords: Path) -> None:
    """datatrove's NLTK tokenizer with our Punkt (its pickle cannot be fetched), its bad-words
    list from our checked copy (it would download it), its dependency check off."""
    import datatrove.pipeline.base
    import datatrove.pipeline.filters.c4_filters as c4_filters
    from datatrove.utils import word_tokenizers

    datatrove.pipeline.base.check_required_dependencies = lambda *_: None
    word_tokenizers.NLTKTokenizer.tokenizer = property(lambda self: english_tokenizer())
    c4_filters.cached_asset_path_or_download = lambda *a, **k: str(badwords)


def peer_clean(texts: list[str], tfds_values: bool) -> list[tuple[str | None, str]]:
    from datatrove.data import Document
    from datatrove.pipeline.filters import C4QualityFilter
    from datatrove.utils.word_tokenizers import NLTKTokenizer

    values = {"min_num_sentences": 3, "min_words_per_line": 5} if tfds_values else {}
    peer = C4QualityFilter(language=NLTKTokenizer("english"), **values)
    out = []
    for i, text in enumerate(texts):
        doc = Document(text=text, id=str(i))
        verdict = peer.filter(doc)
        reason = None if verdict is True else verdict[1] if isinstance(verdict, tuple) else "drop"
        out.append((reason, doc.text))
    return out


def peer_badwords(texts: list[str]) -> list[str | None]:
    from datatrove.data import Document
    from datatrove.pipeline.filters import C4BadWordsFilter

    peer = C4BadWordsFilter()
    verdicts = [peer.filter(Document(text=t, id=str(i))) for i, t in enumerate(texts)]
    return [None if v is True else "bad_words" for v in verdicts]


# ---- comparison ----------------------------------------------------------------------------------


def disagreements(ours: list, theirs: list) -> dict:
    """Pages by (our verdict, theirs): a drop reason, or keep; kept pages also by whether the
    cleaned texts are equal."""
    pairs: Counter = Counter()
    for (mine, my_text), (peer, peer_text) in zip(ours, theirs, strict=True):
        if mine is None and peer is None:
            pairs[
                "both keep, same text" if my_text == peer_text else "both keep, text differs"
            ] += 1
        elif mine is not None and peer is not None:
            pairs["both drop"] += 1
        else:
            pairs[f"ours {mine or 'keeps'} / datatrove {peer or 'keeps'}"] += 1
    n = len(ours)
    differ = n - pairs["both keep, same text"] - pairs["both drop"]
    return {
        "pages": n,
        "disagree": differ,
        "disagree_share": round(differ / n, 4),
        "by_outcome": dict(pairs.most_common()),
    }


def timed(fn, *args) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, result


def best_rates(runs: dict[str, list[float]], n: int) -> dict:
    return {
        name: {"seconds": round(min(t), 4), "pages_per_s": round(n / min(t), 1)}
        for name, t in runs.items()
    }


def pipeline_run(out: Path) -> dict:
    """`python -m pipelines.c4` on the sample, one worker."""
    args = ["--wet", str(SAMPLE_WET), "--badwords", str(BADWORDS), "--num_shards", "2"]
    report, wall = one_worker_run("pipelines.c4", args, out)
    read = report["totals"]["read"]
    return {
        "pages": read,
        "wall_seconds": round(wall, 2),
        "pages_per_s_per_core": round(read / wall, 1),
        "kept": report["totals"]["kept"],
        "note": "includes interpreter and Beam start-up; langdetect dominates the stages",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--copies", type=int, default=3, help="the sample's pages, this many times")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    _peer_setup(BADWORDS)
    texts = sample_pages() * args.copies
    words = load_words(BADWORDS)
    runs: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name, fn, fn_args in (
            ("clean_ours", ours_clean, (texts,)),
            ("clean_datatrove", peer_clean, (texts, True)),
        ):
            seconds, _result = timed(fn, *fn_args)
            runs.setdefault(name, []).append(seconds)
    ours = ours_clean(texts)
    kept = [text for (reason, text) in ours if reason is None]
    for _ in range(args.repeats):
        for name, fn, fn_args in (
            ("badwords_ours", ours_badwords, (kept, words)),
            ("badwords_datatrove", peer_badwords, (kept,)),
        ):
            seconds, _result = timed(fn, *fn_args)
            runs.setdefault(name, []).append(seconds)
    one_copy = sample_pages()
    docs = [{"text": t} for (r, t) in ours_clean(one_copy) if r is None]
    language = {}
    for backend in ("langdetect", "fasttext"):
        identifier = english_identifier(LID) if backend == "fasttext" else None
        stage = English(backend, identifier)
        seconds, _ = timed(stage.decide_batch, docs)
        language[backend] = {"pages": len(docs), "pages_per_s": round(len(docs) / seconds, 1)}
    rates = best_rates({k: v for k, v in runs.items() if k.startswith("clean")}, len(texts))
    rates.update(best_rates({k: v for k, v in runs.items() if k.startswith("badwords")}, len(kept)))
    with tempfile.TemporaryDirectory() as tmp:
        whole = pipeline_run(Path(tmp) / "c4")
    result = {
        "benchmark": "c4",
        "machine": machine(),
        "pages": len(texts),
        "one_core": rates,
        "ratios": {
            "clean_ours_over_datatrove": round(
                rates["clean_ours"]["pages_per_s"] / rates["clean_datatrove"]["pages_per_s"], 2
            ),
            "badwords_ours_over_datatrove": round(
                rates["badwords_ours"]["pages_per_s"] / rates["badwords_datatrove"]["pages_per_s"],
                2,
            ),
        },
        "language_one_core": language,
        "disagreement": {
            "clean_tfds_values": disagreements(ours_clean(one_copy), peer_clean(one_copy, True)),
            "clean_datatrove_defaults": disagreements(
                ours_clean(one_copy), peer_clean(one_copy, False)
            ),
            "badwords": disagreements(
                [(r, "") for r in ours_badwords([d["text"] for d in docs], words)],
                [(r, "") for r in peer_badwords([d["text"] for d in docs])],
            ),
        },
        "pipeline_one_worker": whole,
        "max_rss_mb": max_rss_mb(),
    }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
