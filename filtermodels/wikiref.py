"""Train the Wikipedia-reference classifier (docs/recipe/commoncrawl.md §6) from the Wikipedia
pipeline's cited URLs and crawl pages.

    python -m filtermodels.wikiref --references out/wikipedia/references \\
        --wet 'data/sample/commoncrawl/wet/*.warc.wet.gz' --out models/wikiref.npz

Positives are crawl pages of the language whose normalised URL Wikipedia cites (`--match url`,
the recipe's rule; RedPajama fetched 300K cited pages to get them). A small crawl sample rarely
holds the very pages Wikipedia cites, so `--match host` (pages on a host that Wikipedia cites) is a
stand-in, said in the model card; `auto` uses `url` when at least --min_url_positives pages match
and `host` otherwise. Negatives are the language's other crawl pages in a fixed pseudo-random order.
Writes the model and its card, `<out>.json`: the rule used, counts and the held-out ROC AUC.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import logging
import math
from pathlib import Path

import pyarrow.parquet as pq

from filters.langid import LanguageIdentifier
from filters.urls import normalize_url
from filters.wikiref import MIN_POSITIVE_CHARS, train
from readers.wet import wet_documents

log = logging.getLogger("wikiref")


def cited_urls(references: str) -> set[str]:
    files = sorted(glob.glob(str(Path(references) / "part-*.parquet")))
    if not files:
        raise SystemExit(f"{references}: no reference shards (run `make wikipedia`)")
    return {u for f in files for u in pq.read_table(f, columns=["url"]).column("url").to_pylist()}


def crawl_pages(patterns: list[str]) -> list[tuple[str | None, str]]:
    """(normalised URL, raw_content) of every WET document, in file order."""
    return [(normalize_url(doc["url"]), doc["raw_content"]) for doc in wet_documents(patterns)]


def _host(url: str) -> str:
    return url.split("/", 1)[0]


def _shuffled(page: tuple[str | None, str]) -> bytes:
    return hashlib.blake2b((page[0] or page[1]).encode(), digest_size=8).digest()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--references", required=True, help="the Wikipedia pipeline's references/")
    parser.add_argument("--wet", nargs="+", required=True, help="crawl WET files or globs")
    parser.add_argument("--out", type=Path, default=Path("models/wikiref.npz"))
    parser.add_argument("--language", default="en", help="the crawl language it is trained for")
    parser.add_argument("--lid_model", default="models/lid.176.ftz")
    parser.add_argument("--match", choices=["auto", "url", "host"], default="auto")
    parser.add_argument("--min_url_positives", type=int, default=1000)
    parser.add_argument("--test_fraction", type=float, default=0.2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    cited = cited_urls(args.references)
    hosts = {_host(u) for u in cited}
    lid = LanguageIdentifier(args.lid_model, languages=[args.language])
    pages = crawl_pages(args.wet)
    found = lid.identify_batch([LanguageIdentifier.model_input(t.split("\n")) for _, t in pages])
    pages = [p for p, f in zip(pages, found, strict=True) if lid.decide(f).keep]
    by_url = [p for p in pages if p[0] in cited]
    by_host = [p for p in pages if p[0] and _host(p[0]) in hosts]
    match = args.match
    if match == "auto":
        match = "url" if len(by_url) >= args.min_url_positives else "host"
    positives = by_url if match == "url" else by_host
    log.info(
        "%d %s pages: %d at a cited URL, %d on a cited host; positives by %s",
        len(pages),
        args.language,
        len(by_url),
        len(by_host),
        match,
    )
    chosen = {id(p) for p in positives}
    negatives = sorted((p for p in pages if id(p) not in chosen), key=_shuffled)
    report = train(
        [t for _, t in positives],
        [t for _, t in negatives],
        args.out,
        test_fraction=args.test_fraction,
    )
    card = {
        "language": args.language,
        "match": match,
        "cited_urls": len(cited),
        "cited_hosts": len(hosts),
        "crawl_pages": len(pages),
        "url_matches": len(by_url),
        "host_matches": len(by_host),
        "min_positive_chars": MIN_POSITIVE_CHARS,
        "positives": report.positives,
        "negatives": report.negatives,
        "train": report.train,
        "test": report.test,
        "roc_auc": None if math.isnan(report.roc_auc) else report.roc_auc,
        "skipped_short_positives": report.skipped_short_positives,
        "params": report.params,
        "sha256": hashlib.sha256(args.out.read_bytes()).hexdigest(),
    }
    args.out.with_suffix(".json").write_text(json.dumps(card, indent=1, sort_keys=True) + "\n")
    log.info(
        "%s: %d positives, %d negatives, held-out ROC AUC %s (%d pages)",
        args.out,
        card["positives"],
        card["negatives"],
        card["roc_auc"],
        card["test"],
    )
    return card


if __name__ == "__main__":
    main()
