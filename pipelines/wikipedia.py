"""The Wikipedia pipeline (docs/recipe/wikipedia.md): MediaWiki dumps of the 20 LLaMA languages →
clean articles.

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
import zlib
from dataclasses import dataclass

import apache_beam as beam
import pyarrow as pa
from lxml import etree

from core import preflight
from core.deadletter import DeadLetter
from core.ids import shard_of
from core.schema import document_schema
from filters.base import Filter, MinLength
from filters.urls import normalize_url
from filters.wikiarticle import ArticleFilter, article_url
from filters.wikitext import LANGUAGES, WikitextCleaner
from pipelines import accounting, launcher, options, progress
from pipelines.shards import (
    WriteDeadLetters,
    WriteRejects,
    WriteShards,
    finalize,
    write_shard,
)
from pipelines.stages import ApplyFilters, each
from readers.wikidump import (
    DEFAULT_MAX_PAGE_BYTES,
    RawPage,
    SiteInfo,
    dead_letter,
    read_pages,
    read_siteinfo,
    work_ranges,
)

SOURCE = "wikipedia"
log = logging.getLogger(SOURCE)

DOCUMENT_SCHEMA = document_schema(SOURCE)
# What an article carries to the writer besides its document: the opening paragraphs and cited
# URLs go to their own outputs, the file only breaks ties between copies of a page.
_NOT_IN_DOCUMENT = ("opening", "references", "file")
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
            record = dead_letter(path, 0, 0, "unreadable_header", error, False).to_record()
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


def _language(page: dict) -> str:
    return page["language"]


def _text_filters() -> list[Filter]:
    return [MinLength(1, field="text", reason="empty")]


class ReadPages(beam.DoFn):
    """Work item → its pages (dicts: id, title, language, ns, redirect, the raw page and where it
    came from); dead letters tagged."""

    def __init__(self, max_page_bytes: int):
        self.max_page_bytes = max_page_bytes

    def process(self, item: WorkItem):
        lang = item.language
        for page in read_pages(item.path, item.start, item.end, self.max_page_bytes):
            if isinstance(page, DeadLetter):
                dead = accounting.count_dead(SOURCE, lang, page)
                yield beam.pvalue.TaggedOutput("dead", {**dead, "language": lang})
                continue
            accounting.count(SOURCE, lang, "read")
            yield {
                "id": f"{SOURCE}/{lang}/{page.page_id}",
                "title": page.title,
                "language": lang,
                "ns": page.ns,
                "redirect": page.redirect,
                "page": page,
                "item": item,
            }
        progress.add(done=1)


class Clean(beam.DoFn):
    """An article's page → the article, its wikitext cleaned; a cleaner error is a dead letter."""

    def setup(self):
        self._cleaners: dict[tuple, WikitextCleaner] = {}

    def _cleaner(self, item: WorkItem) -> WikitextCleaner:
        key = (item.language, item.media_names, item.category_names)
        if key not in self._cleaners:
            self._cleaners[key] = WikitextCleaner(*key)
        return self._cleaners[key]

    def process(self, found: dict):
        page: RawPage = found["page"]
        item: WorkItem = found["item"]
        lang = item.language
        try:
            cleaned = self._cleaner(item).clean(page.text)
        except Exception as exc:  # a cleaner bug must cost one page, not the run
            accounting.count(SOURCE, lang, "dropped_clean_error")
            error = f"{type(exc).__name__}: {exc}"
            record = dead_letter(
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
            return
        yield {
            "id": found["id"],
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


class ReadArticles(beam.PTransform):
    """Work items → "articles" (cleaned, one dict each), "dead" letters and "rejects": pages
    read, filtered to articles (namespace, redirect), cleaned, and kept when text remains."""

    def __init__(self, max_page_bytes: int, write_rejects: bool):
        super().__init__()
        self.max_page_bytes, self.write_rejects = max_page_bytes, write_rejects

    def expand(self, items):
        by_page = {
            "group": _language,
            "write_rejects": self.write_rejects,
            "reject_fields": ("id", "title"),
        }
        read = items | "ReadPages" >> beam.ParDo(ReadPages(self.max_page_bytes)).with_outputs(
            "dead", main="pages"
        )
        articles = read.pages | "Articles" >> ApplyFilters(SOURCE, each(ArticleFilter), **by_page)
        cleaned = articles.documents | "Clean" >> beam.ParDo(Clean()).with_outputs(
            "dead", main="articles"
        )
        texts = cleaned.articles | "NotEmpty" >> ApplyFilters(SOURCE, _text_filters, **by_page)
        return {
            "articles": texts.documents,
            "dead": (read.dead, articles.dead, cleaned.dead, texts.dead) | "Dead" >> beam.Flatten(),
            "rejects": (articles.rejects, texts.rejects) | "Rejects" >> beam.Flatten(),
        }


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
            documents.append({k: v for k, v in article.items() if k not in _NOT_IN_DOCUMENT})
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
        | "ReadArticles" >> ReadArticles(args.max_page_bytes, args.write_rejects)
    )
    written = (
        read["articles"]
        | "KeyByShard" >> beam.Map(lambda article: (shard_of(article["id"], n), article))
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
    (read["dead"], unreadable) | "DeadLetters" >> WriteDeadLetters(f"{out}/dead_letter")
    if args.write_rejects:
        (read["rejects"], written.rejects) | "Rejects" >> WriteRejects(f"{out}/rejected")


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
    preflight.check_inputs(args.dumps)
    launcher.setup_logging()
    dumps = [p for p in options.expand(args.dumps, "dump") if not p.endswith("-index.txt.bz2")]
    items, dead = plan(dumps, args.languages.split(","), args.streams_per_item)
    log.info("%d dumps, %d work items, %d unreadable", len(dumps), len(items), len(dead))
    job = launcher.Job(
        name=SOURCE,
        output=args.output,
        build=lambda pipeline: build(pipeline, items, dead, args),
        inputs=dumps,
        unit="work items",
        total_items=len(items),
        outputs=OUTPUTS,
        groups_key="by_language",
        rate="pages_per_second",
        report=lambda counted, outputs: {"dumps": dumps, "work_items": len(items)},
        dry_run={"work_items": len(items)},
    )
    parameters = {k: v for k, v in vars(args).items() if k != "dumps"}
    return launcher.launch(job, parameters, beam_args)


if __name__ == "__main__":
    launcher.run_module("pipelines.wikipedia")
