"""Perplexity cut-offs of one language, computed on a sample of the crawl with its own model.

CCNet bucketed every crawl with a fixed table of percentiles measured once, for its own language
models. Here the 30th and 60th percentiles come from the documents of a crawl sample that reach
the perplexity stage: WET records of at least 300 characters, line-deduplicated across the
sample, identified as the language (lid.176, score ≥ 0.5), scored with the language's
SentencePiece + KenLM pair. Writes `<models>/<lang>.cutoffs.json` beside the model and a
histogram with the cut-offs, `<lang>.perplexity.png`.

    python -m filtermodels.cutoffs --lang en --wet 'data/sample/commoncrawl/wet/*.warc.wet.gz'
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from pathlib import Path

from filters.buckets import Cutoffs, compute_cutoffs
from filters.dedup import dedup_lines, document_hashes
from filters.langid import LanguageIdentifier
from filters.perplexity import PerplexityScorer
from readers.wet import wet_documents

log = logging.getLogger("cutoffs")

MIN_CHARS = 300  # docs/recipe/commoncrawl.md §1: shorter WET documents are dropped when read


def sample_texts(patterns: list[str], max_docs: int) -> list[str]:
    """Up to max_docs WET documents of at least MIN_CHARS, line-deduplicated across them."""
    docs: list[str] = []
    for doc in wet_documents(patterns):
        if len(doc["raw_content"]) >= MIN_CHARS:
            docs.append(doc["raw_content"])
            if len(docs) >= max_docs:
                break
    lines = [doc.split("\n") for doc in docs]
    seen: Counter = Counter()
    for doc_lines in lines:
        seen.update(document_hashes(doc_lines))
    duplicated = {h for h, n in seen.items() if n >= 2}
    kept = (dedup_lines(doc_lines, duplicated) for doc_lines in lines)
    return ["\n".join(d.lines) for d in kept if d.decision.keep]


def plot(
    path: Path,
    language: str,
    perplexities: list[float],
    cutoffs: Cutoffs,
    counts: list[int] | None = None,
) -> None:
    """The histogram with both cut-offs; `counts` weighs each value (a pre-binned histogram)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = sorted(zip(perplexities, counts or [1] * len(perplexities), strict=True))
    total, seen, top = sum(c for _, c in pairs), 0, pairs[-1][0]
    for value, count in pairs:  # the 99th percentile, so a long tail does not flatten the plot
        seen += count
        if seen >= 0.99 * total:
            top = value
            break
    shown = [(v, c) for v, c in pairs if v <= top]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist([v for v, _ in shown], weights=[c for _, c in shown], bins=60, color="#4878a8")
    ax.axvline(cutoffs.head, color="#27ae60", linestyle="--", label=f"head < {cutoffs.head:g}")
    ax.axvline(
        cutoffs.middle, color="#c0392b", linestyle="--", label=f"middle < {cutoffs.middle:g} ≤ tail"
    )
    ax.legend()
    ax.set_xlabel("document perplexity (up to the 99th percentile)")
    ax.set_ylabel("documents")
    ax.set_title(f"{language}: {total:,} crawl documents")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> Cutoffs:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lang", required=True, help="language code")
    parser.add_argument("--wet", nargs="+", required=True, help="WET files or globs")
    parser.add_argument("--models", type=Path, default=Path("models/lm"), help="LM directory")
    parser.add_argument("--lid", type=Path, default=Path("models/lid.176.ftz"))
    parser.add_argument("--max_docs", type=int, default=50_000, help="WET documents read")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    texts = sample_texts(args.wet, args.max_docs)
    lid = LanguageIdentifier(args.lid, languages=[args.lang])
    found = lid.identify_batch([LanguageIdentifier.model_input(t.split("\n")) for t in texts])
    texts = [t for t, f in zip(texts, found, strict=True) if lid.decide(f).keep]
    scorer = PerplexityScorer.from_dir(args.models, args.lang)
    perplexities = [scorer.score(t).perplexity for t in texts]
    cutoffs = compute_cutoffs(args.lang, perplexities)
    cutoffs.save(args.models / f"{args.lang}.cutoffs.json")
    plot(args.models / f"{args.lang}.perplexity.png", args.lang, perplexities, cutoffs)
    log.info(
        "%s: %d crawl documents → head < %g ≤ middle < %g ≤ tail",
        args.lang,
        cutoffs.documents,
        cutoffs.head,
        cutoffs.middle,
    )
    return cutoffs


if __name__ == "__main__":
    main()
