"""bench-books: MinHash signatures against datasketch, and near-duplicate books found on pairs
labelled in advance.

    python -m benchmarks.books --out benchmarks/results/books.json

1. Signatures, one core, the sample's 17 Gutenberg books (word 5-grams, 256 permutations):
   filters.minhash.signature against datasketch's MinHash.update called per shingle (its
   documented use), in one process, alternating, the best of --repeats runs. MB/s of book text;
   the shingling, common to both, is timed apart. The signatures are checked equal.
2. Detection: labelled pairs built from the sample's real books (samples/variants.py): each
   Shakespeare play (modern edition) against its abridged edition (60% of its paragraphs), the
   same text re-wrapped, under a 1990s licence header (stripped first, as the pipeline does), with
   5% of its words edited: near-duplicates; every pair of different plays, and each play against
   its First Folio edition (old spelling: 0.26-0.31 overlap, not "more than 90%"): distinct. A pair
   is found when it is an LSH candidate (shares a band of the pipeline's layout) and its
   containment (word bigrams of the smaller in the larger) reaches the threshold, the pipeline's
   rule. Precision, recall and F1 at 0.9, the curve over thresholds as a PNG, and the probability
   that LSH makes a pair a candidate at containment 0.8, 0.9 and 0.95 (books of equal length, and
   an abridged edition 60% as long).
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from benchmarks.common import machine, max_rss_mb, write_result
from filters.gutenberg import strip_gutenberg
from filters.minhash import (
    candidate_probability,
    containment,
    hash_set,
    shingles,
    signature,
)
from pipelines.neardup import layout
from samples.variants import abridged, edited, relicensed, rewrapped

ROOT = Path(__file__).resolve().parent.parent
BOOKS = ROOT / "data/sample/books/gutenberg"
THRESHOLD, MIN_RATIO, NUM_PERM, NGRAM, OVERLAP_NGRAM = 0.9, 0.5, 256, 5, 2


def books() -> dict[str, str]:
    return {p.stem: strip_gutenberg(p.read_text("utf-8")).text for p in sorted(BOOKS.glob("*.txt"))}


def datasketch_signature(items: set[bytes]) -> np.ndarray:
    from datasketch import MinHash

    sketch = MinHash(num_perm=NUM_PERM, seed=1)
    for item in items:
        sketch.update(item)
    return sketch.hashvalues


def signatures(texts: dict[str, str], repeats: int) -> dict:
    sets = {name: shingles(text, NGRAM) for name, text in texts.items()}
    megabytes = sum(len(t.encode()) for t in texts.values()) / 1e6
    started = time.perf_counter()
    for text in texts.values():
        shingles(text, NGRAM)
    shingling = time.perf_counter() - started
    best: dict[str, float] = {}
    for _ in range(repeats):
        for name, fn in (("ours", signature), ("datasketch", datasketch_signature)):
            started = time.perf_counter()
            out = {book: fn(items) for book, items in sets.items()}
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - started)
            if name == "ours":
                ours = out
            else:
                if not all(np.array_equal(ours[b], out[b]) for b in out):
                    raise SystemExit("the signatures differ between runs")
    rate = {name: round(megabytes / seconds, 2) for name, seconds in best.items()}
    return {
        "books": len(texts),
        "megabytes": round(megabytes, 2),
        "shingles": sum(len(s) for s in sets.values()),
        "mb_per_s": rate,
        "ratio_ours_over_datasketch": round(rate["ours"] / rate["datasketch"], 2),
        "target_ratio": 3.0,
        "shingling_mb_per_s": round(megabytes / shingling, 2),
        "signatures_equal": True,
    }


def labelled_pairs(texts: dict[str, str]) -> list[tuple[str, str, str, str, bool]]:
    """(name a, text a, name b, text b, is near-duplicate)."""
    modern = {k: v for k, v in texts.items() if k.startswith("2ws")}
    pairs = []
    for name, text in modern.items():
        variants = {
            "abridged": abridged(text, 0.6, seed=1),
            "rewrapped": rewrapped(text),
            "relicensed": strip_gutenberg(relicensed(text, name)).text,
            "edited": edited(text, 0.05, seed=1),
        }
        pairs += [(name, text, f"{name}/{k}", v, True) for k, v in variants.items()]
        folio = "0" + name[1:]
        if folio in texts:
            pairs.append((name, text, folio, texts[folio], False))
    for (a, ta), (b, tb) in itertools.combinations(sorted(modern.items()), 2):
        pairs.append((a, ta, b, tb, False))
    return pairs


def detection(texts: dict[str, str], png: Path) -> dict:
    params = layout(THRESHOLD, "containment", MIN_RATIO, NUM_PERM)
    scored = []
    for a, ta, b, tb, duplicate in labelled_pairs(texts):
        sig_a, sig_b = (signature(shingles(t, NGRAM), NUM_PERM) for t in (ta, tb))
        rows = params.rows
        candidate = any(
            np.array_equal(sig_a[i * rows : (i + 1) * rows], sig_b[i * rows : (i + 1) * rows])
            for i in range(params.bands)
        )
        overlap = containment(*(hash_set(shingles(t, OVERLAP_NGRAM)) for t in (ta, tb)))
        jac = round(float(np.mean(sig_a == sig_b)), 4)
        scored.append(
            {"a": a, "b": b, "duplicate": duplicate, "candidate": candidate,
             "containment": round(overlap, 4), "jaccard_estimate": jac}
        )  # fmt: skip
    curve = []
    for threshold in np.round(np.arange(0.5, 1.0001, 0.01), 2):
        curve.append({"threshold": float(threshold), **_prf(scored, float(threshold))})
    _plot(curve, png)
    duplicates = [s for s in scored if s["duplicate"]]
    distinct = [s for s in scored if not s["duplicate"]]
    return {
        "pairs": len(scored),
        "near_duplicate_pairs": sum(s["duplicate"] for s in scored),
        "layout": {"bands": params.bands, "rows": params.rows},
        "at_threshold": {"threshold": THRESHOLD, **_prf(scored, THRESHOLD)},
        "target_f1": 0.95,
        "candidate_probability": _candidate_table(params.bands, params.rows),
        "lowest_duplicate_containment": min(s["containment"] for s in duplicates),
        "highest_distinct_containment": max(s["containment"] for s in distinct),
        "abridged_jaccard": [s["jaccard_estimate"] for s in duplicates if "abridged" in s["b"]],
        "curve_png": png.name,
        "scored": scored,
    }  # fmt: skip


def _prf(scored: list[dict], threshold: float) -> dict:
    found = [s["candidate"] and s["containment"] >= threshold for s in scored]
    tp = sum(f and s["duplicate"] for f, s in zip(found, scored, strict=True))
    fp = sum(f and not s["duplicate"] for f, s in zip(found, scored, strict=True))
    fn = sum(not f and s["duplicate"] for f, s in zip(found, scored, strict=True))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def _candidate_table(bands: int, rows: int) -> dict:
    """P(candidate) at containment c: equal lengths (J = c/(2-c)), and a 60% edition."""
    table = {}
    for c in (0.8, 0.9, 0.95):
        equal = c / (2 - c)
        abridged_j = c * 0.6 / (1 + 0.6 - c * 0.6)
        table[str(c)] = {
            "equal_length": round(float(candidate_probability(equal, bands, rows)), 6),
            "edition_60_percent": round(float(candidate_probability(abridged_j, bands, rows)), 6),
        }
    return table


def _plot(curve: list[dict], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [c["threshold"] for c in curve]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key in ("precision", "recall", "f1"):
        ax.plot(x, [c[key] for c in curve], label=key)
    ax.axvline(THRESHOLD, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("containment threshold (word bigrams of the smaller book)")
    ax.set_ylim(0, 1.05)
    ax.legend()
    ax.set_title("Near-duplicate books on the sample's labelled pairs")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    texts = books()
    out = Path(args.out)
    result = {
        "benchmark": "books",
        "machine": machine(),
        "signatures": signatures(texts, args.repeats),
        "detection": detection(texts, out.with_suffix(".png")),
        "max_rss_mb": max_rss_mb(),
    }
    write_result(out, result)


if __name__ == "__main__":
    main()
