"""The Wikipedia pipeline (SPEC §4): MediaWiki dumps of the 20 LLaMA languages → clean articles.

    python -m pipelines.wikipedia --dumps 'dumps/*-pages-articles-multistream.xml.bz2' \\
        --output out/wikipedia --direct_num_workers=2 --direct_running_mode=multi_processing

A dump is split across workers by the byte ranges of its bz2 streams when its multistream index
sits beside it, and read as one stream otherwise. Outputs, under --output:
  documents/   articles (Parquet: id, text, source, url, title, language, timestamp, ...)
  openings/    each article's lead section, the training text of the CCNet language models
  references/  URLs cited in <ref> tags, normalised, with the citing article (CC classifier)
  dead_letter/ pages that could not be read or cleaned, with file, offset and error
  rejected/    with --write_rejects: id, title and reason of every page dropped
  report.json  read / kept / dropped_<reason> per language, outputs, parameters, timings
"""

from __future__ import annotations

import logging
import time
import zlib
from dataclasses import dataclass

import apache_beam as beam
import pyarrow as pa
from lxml import etree

from filters.base import Decision
from filters.urls import normalize_url
from filters.wikiarticle import article_decision, article_url
from filters.wikitext import LANGUAGES, WikitextCleaner
from pipelines import accounting, options
from pipelines.shards import (
    WriteShards,
    clear_unfinished,
    document_schema,
    finalize,
    shard_of,
    write_shard,
)
from pipelines.wikidump import (
    DEFAULT_MAX_PAGE_BYTES,
    DeadLetter,
    RawPage,
    SiteInfo,
    read_pages,
    read_siteinfo,
    work_ranges,
)

SOURCE = "wikipedia"
log = logging.getLogger(SOURCE)

DOCUMENT_SCHEMA = document_schema(
    ("language", pa.string()),
    ("timestamp", pa.timestamp("s", tz="UTC")),
    ("page_id", pa.int64()),
    ("revision_id", pa.int64()),
)
OPENING_SCHEMA = pa.schema([("id", pa.string()), ("language", pa.string()), ("text", pa.string())])
REFERENCE_SCHEMA = pa.schema(
    [
        ("url", pa.string()),
        ("raw_url", pa.string()),
        ("id", pa.string()),
        ("title", pa.string()),
        ("language", pa.string()),
    ]
)


@dataclass(frozen=True)
class WorkItem:
    """A dump, or a byte range of bz2 streams in it, with what cleaning needs from its header."""

    path: str
    start: int
    end: int | None
    language: str
    base: str
    media_names: tuple[str, ...]
    category_names: tuple[str, ...]


def plan(
    dumps: list[str], languages: list[str], streams_per_item: int
) -> tuple[list[WorkItem], list[dict]]:
    """Read each dump's header and split it into work items (construction time, cheap).

    A dump whose header cannot be read (empty, truncated, not a dump) becomes a dead-letter
    record and the run goes on with the others.
    """
    items, dead = [], []
    for path in dumps:
        try:
            site: SiteInfo = read_siteinfo(path)
        except (ValueError, EOFError, OSError, zlib.error, etree.XMLSyntaxError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            record = DeadLetter(path, 0, 0, "unreadable_header", error, False).to_record()
            dead.append({**record, "language": None})
            continue
        if site.language not in languages:
            raise SystemExit(
                f"{path}: dump of language {site.language!r} ({site.dbname}), not in --languages"
            )
        if site.dtd:
            log.warning("%s declares a DTD: its entities are not expanded", path)
        media = tuple(site.namespaces[k] for k in (-2, 6) if site.namespaces.get(k))
        category = (site.namespaces[14],) if site.namespaces.get(14) else ()
        for start, end in work_ranges(path, streams_per_item):
            items.append(WorkItem(path, start, end, site.language, site.base, media, category))
    return items, dead


def _count_input_error(record: dict) -> dict:
    accounting.count(SOURCE, record["language"] or "unknown", "input_errors")
    return record


class ReadAndClean(beam.DoFn):
    """Work item → (id, cleaned article) pairs; dead letters and rejected pages tagged."""

    def __init__(self, max_page_bytes: int, write_rejects: bool):
        self.max_page_bytes = max_page_bytes
        self.write_rejects = write_rejects

    def setup(self):
        self._cleaners: dict[tuple, WikitextCleaner] = {}

    def _cleaner(self, item: WorkItem) -> WikitextCleaner:
        key = (item.language, item.media_names, item.category_names)
        if key not in self._cleaners:
            self._cleaners[key] = WikitextCleaner(*key)
        return self._cleaners[key]

    def process(self, item: WorkItem):
        lang = item.language
        cleaner = self._cleaner(item)
        for page in read_pages(item.path, item.start, item.end, self.max_page_bytes):
            if isinstance(page, DeadLetter):
                if page.is_page:
                    accounting.count(SOURCE, lang, "read")
                    accounting.count(SOURCE, lang, f"dropped_{page.reason}")
                else:
                    accounting.count(SOURCE, lang, "input_errors")
                yield beam.pvalue.TaggedOutput("dead", {**page.to_record(), "language": lang})
                continue
            accounting.count(SOURCE, lang, "read")
            yield from self._article(page, item, cleaner)

    def _article(self, page: RawPage, item: WorkItem, cleaner: WikitextCleaner):
        lang = item.language
        doc_id = f"{SOURCE}/{lang}/{page.page_id}"
        decision = article_decision(page.ns, page.redirect)
        if decision.keep:
            try:
                cleaned = cleaner.clean(page.text)
            except Exception as exc:  # a cleaner bug must cost one page, not the run
                decision = Decision.drop("clean_error")
                error = f"{type(exc).__name__}: {exc}"
                record = DeadLetter(
                    page.file,
                    page.stream_offset,
                    page.offset,
                    "clean_error",
                    error,
                    True,
                    page.title,
                    page.page_id,
                )
                yield beam.pvalue.TaggedOutput("dead", {**record.to_record(), "language": lang})
            else:
                if not cleaned.text:
                    decision = Decision.drop("empty")
        if not decision.keep:
            accounting.count(SOURCE, lang, f"dropped_{decision.reason}")
            if self.write_rejects:
                reject = {"id": doc_id, "title": page.title, "reason": decision.reason}
                yield beam.pvalue.TaggedOutput("rejects", reject)
            return
        article = {
            "id": doc_id,
            "text": cleaned.text,
            "source": SOURCE,
            "url": article_url(item.base, lang, page.title),
            "title": page.title,
            "language": lang,
            "timestamp": page.timestamp,
            "page_id": page.page_id,
            "revision_id": page.revision_id,
            "opening": cleaned.opening,
            "references": cleaned.references,
            "file": page.file,
        }
        yield doc_id, article


def _preference(article: dict) -> tuple:
    """Newest revision first; the rest only makes the choice total, hence deterministic."""
    stamp = article["timestamp"]
    return (
        stamp is not None,
        stamp,
        article["revision_id"] or -1,
        article["file"],
        article["text"],
    )


class WriteArticles(beam.DoFn):
    """One shard of articles → its documents and openings shards, written side by side.

    Two dumps of a language may hold the same page: one article per id is kept, the newest
    revision, and the other copies are counted. Doing it here, where a shard's articles are
    together anyway, saves shuffling every article's text a second time.
    """

    def __init__(self, out: str, num_shards: int, write_rejects: bool):
        self.out, self.num_shards, self.write_rejects = out, num_shards, write_rejects

    def process(self, element):
        shard, articles = element
        chosen: dict[str, tuple[dict, int]] = {}
        for article in articles:
            best, copies = chosen.get(article["id"], (None, 0))
            if best is None or _preference(article) > _preference(best):
                best = article
            chosen[article["id"]] = (best, copies + 1)
        documents, openings = [], []
        for doc_id in sorted(chosen):
            article, copies = chosen[doc_id]
            lang = article["language"]
            accounting.count(SOURCE, lang, "kept")
            if copies > 1:
                accounting.count(SOURCE, lang, "dropped_duplicate", copies - 1)
                if self.write_rejects:
                    reject = {"id": doc_id, "title": article["title"], "reason": "duplicate"}
                    for _ in range(copies - 1):
                        yield beam.pvalue.TaggedOutput("rejects", reject)
            documents.append({k: article[k] for k in DOCUMENT_SCHEMA.names})
            if article["opening"]:
                openings.append({"id": doc_id, "language": lang, "text": article["opening"]})
            for raw in article["references"]:
                url = normalize_url(raw)
                if url:
                    row = {"url": url, "raw_url": raw, "id": doc_id, "title": article["title"]}
                    yield beam.pvalue.TaggedOutput("references", {**row, "language": lang})
        n = self.num_shards
        yield beam.pvalue.TaggedOutput(
            "documents",
            write_shard(f"{self.out}/documents", shard, n, "parquet", DOCUMENT_SCHEMA, documents),
        )
        yield beam.pvalue.TaggedOutput(
            "openings",
            write_shard(f"{self.out}/openings", shard, n, "parquet", OPENING_SCHEMA, openings),
        )


def _finalize(written, name: str, schema: pa.Schema, args) -> beam.PTransform:
    directory = f"{args.output}/{name}"
    return (
        written
        | f"Collect{name}" >> beam.combiners.ToList()
        | f"Finalize{name}" >> beam.Map(finalize, directory, args.num_shards, "parquet", schema)
    )


def build(pipeline: beam.Pipeline, items: list[WorkItem], dead: list[dict], args) -> None:
    out, n = args.output, args.num_shards
    read = (
        pipeline
        | "WorkItems" >> beam.Create(items)
        | "Spread" >> beam.Reshuffle()
        | "ReadAndClean"
        >> beam.ParDo(ReadAndClean(args.max_page_bytes, args.write_rejects)).with_outputs(
            "dead", "rejects", main="articles"
        )
    )
    written = (
        read.articles
        | "KeyByShard" >> beam.Map(lambda kv: (shard_of(kv[0], n), kv[1]))
        | "GroupByShard" >> beam.GroupByKey()
        | "WriteArticles"
        >> beam.ParDo(WriteArticles(out, n, args.write_rejects)).with_outputs(
            "documents", "openings", "references", "rejects"
        )
    )
    _finalize(written.documents, "documents", DOCUMENT_SCHEMA, args)
    _finalize(written.openings, "openings", OPENING_SCHEMA, args)
    written.references | "WriteReferences" >> WriteShards(
        f"{out}/references",
        n,
        key="url",
        sort_key=lambda r: (r["url"], r["id"], r["raw_url"]),
        schema=REFERENCE_SCHEMA,
    )
    unreadable = pipeline | "UnreadableDumps" >> beam.Create(dead) | beam.Map(_count_input_error)
    (
        (read.dead, unreadable)
        | "AllDeadLetters" >> beam.Flatten()
        | "WriteDeadLetters"
        >> WriteShards(
            f"{out}/dead_letter",
            1,
            key="file",
            sort_key=lambda r: (r["file"], r["stream_offset"], r["offset"], r["reason"]),
            fmt="jsonl",
        )
    )
    if args.write_rejects:
        (
            (read.rejects, written.rejects)
            | "AllRejects" >> beam.Flatten()
            | "WriteRejects"
            >> WriteShards(
                f"{out}/rejected", 1, sort_key=lambda r: (r["id"], r["reason"]), fmt="jsonl"
            )
        )


OUTPUTS = ("documents", "openings", "references", "dead_letter", "rejected")


def main(argv: list[str] | None = None) -> dict:
    parser = options.parser(__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dumps",
        nargs="+",
        required=True,
        help="dump files or globs (local, gs://, ...): *-pages-articles[-multistream].xml[.bz2]",
    )
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument(
        "--languages",
        default=",".join(LANGUAGES),
        help="comma-separated languages accepted (default: LLaMA's 20)",
    )
    parser.add_argument("--num_shards", type=int, default=4, help="shards per output")
    parser.add_argument(
        "--streams_per_item",
        type=int,
        default=1,
        help="bz2 streams (100 pages each) per work item of a multistream dump",
    )
    parser.add_argument(
        "--max_page_bytes",
        type=int,
        default=DEFAULT_MAX_PAGE_BYTES,
        help="pages larger than this (XML bytes) go to the dead letter",
    )
    parser.add_argument(
        "--write_rejects", action="store_true", help="write dropped pages to rejected/"
    )
    args, beam_args = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    pipeline_options = options.beam_options(beam_args)

    dumps = [p for p in options.expand(args.dumps, "dump") if not p.endswith("-index.txt.bz2")]
    items, dead = plan(dumps, args.languages.split(","), args.streams_per_item)
    log.info("%d dumps, %d work items, %d unreadable", len(dumps), len(items), len(dead))

    if not pipeline_options.get_all_options().get("dry_run"):
        # A killed earlier run's manifests and report must not pass for this run's.
        clear_unfinished(args.output, top_level=("report.json",))

    started = time.time()
    pipeline = beam.Pipeline(options=pipeline_options)
    build(pipeline, items, dead, args)
    result = pipeline.run()
    if pipeline_options.get_all_options().get("dry_run"):
        log.info("dry run: the job graph was built and not submitted")
        return {"dry_run": True, "work_items": len(items)}
    result.wait_until_finish()
    wall = time.time() - started

    groups = accounting.counters(result, SOURCE)
    total = accounting.totals(groups)
    outputs = {name: accounting.read_manifest(f"{args.output}/{name}") for name in OUTPUTS}
    report = {
        "source": SOURCE,
        "totals": total,
        "by_language": groups,
        "invariant": accounting.invariant(total),
        "outputs": {k: v for k, v in outputs.items() if v},
        "dumps": dumps,
        "work_items": len(items),
        "parameters": {k: v for k, v in vars(args).items() if k != "dumps"},
        "runner": options.runner_name(pipeline_options),
        "beam_args": beam_args,
        "wall_seconds": round(wall, 3),
        "pages_per_second": round(total.get("read", 0) / wall, 1) if wall else None,
    }
    accounting.print_summary(f"{SOURCE}: {args.output}", groups, outputs)
    return accounting.finish(args.output, report)


if __name__ == "__main__":
    # Run the imported module, not __main__, so that Beam pickles its classes by an importable
    # name that worker processes can resolve.
    from pipelines.wikipedia import main as module_main

    module_main()
