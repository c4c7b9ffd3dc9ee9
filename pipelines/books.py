"""The books pipeline (docs/recipe/books.md): Gutenberg, PG-19 and Books3-style collections →
books without Project Gutenberg's licence text, one per near-duplicate cluster.

    python -m pipelines.books --input 'gutenberg/' 'pg19/*.jsonl.gz' --output out/books \\
        --direct_num_workers=2 --direct_running_mode=multi_processing

Inputs (--kind, guessed by default): directories or globs of Gutenberg plain-text files (their
licence header and footer stripped, in every wording the years gave them), PG-19-style JSON
lines (short_book_title, publication_date, url, text) and Books3-style JSON lines (text,
meta.title). Ids are namespaced by collection (`books/<collection>/<book id>`), so two
collections' numbers never collide. Stages, each drop counted under its reason (report.json:
read = kept + dropped):
  read        bad input (over --max_book_bytes, invalid UTF-8, broken files) as dead letters
  empty       books with no text left
  near_dedup  LLaMA's "more than 90% content overlap": MinHash LSH candidates, then the exact
              containment of the smaller book's word bigrams in the larger's; the clusters'
              longest book kept (ties by id)
Outputs under --output: documents/, clusters/ (members, the one kept, each pair's overlap),
dead_letter/, rejected/ (--write_rejects), report.json.
"""

from __future__ import annotations

import logging
from functools import partial
from operator import itemgetter

import apache_beam as beam

from core import preflight
from core.deadletter import DeadLetter
from core.schema import document_schema
from filters.base import NotBlank
from pipelines import accounting, launcher, options
from pipelines.neardup import NearDedup, layout
from pipelines.reading import ReadInputs
from pipelines.shards import WriteDeadLetters, WriteRejects, WriteShards
from pipelines.stages import ApplyFilters, each
from readers.books import (
    DEFAULT_MAX_BOOK_BYTES,
    KINDS,
    Book,
    detect_kind,
    gutenberg_files,
    read_books,
    read_gutenberg_file,
    unique_by_id,
)

SOURCE = "books"
log = logging.getLogger(SOURCE)

DOCUMENT_SCHEMA = document_schema(SOURCE)
STAGES = ("read", "empty", "near_dedup", "written")
GUTENBERG_GROUP = "gutenberg"  # licence header/footer found or not: not documents


def read_work(max_book_bytes: int, work: tuple[str, str, int]):
    """A work item (a Gutenberg file, or a JSON-lines file) → its books as documents."""
    kind, path, size = work
    if kind == "gutenberg":
        items = [read_gutenberg_file(path, size, max_book_bytes)]
    else:
        items = read_books(path, kind, max_book_bytes)
    for item in items:
        yield item if isinstance(item, DeadLetter) else book_document(item, kind)


def book_document(book: Book, kind: str) -> dict:
    if kind == "gutenberg":
        found = "stripped" if book.header_found or book.footer_found else "no_markers"
        accounting.count(SOURCE, GUTENBERG_GROUP, found)
    return {
        "id": book.id,
        "text": book.text,
        "source": SOURCE,
        "url": book.url,
        "title": book.title,
        "collection": book.collection,
        "book_id": book.book_id,
        "author": book.author,
        "publication_date": book.publication_date,
    }


def longest_first(doc: dict) -> tuple[int, str]:
    """The order of a cluster's members: the longest book first, ties by id."""
    return -len(doc["text"]), doc["id"]


def _kept(doc: dict) -> dict:
    accounting.count(SOURCE, "written", "kept")
    return doc


def plan(paths: list[str], kind: str) -> tuple[list[tuple[str, str, int]], list[dict]]:
    """(kind, file, size) per work item: each Gutenberg text file (of directories, recursively,
    or globs), each JSON-lines file; and the dead letters of Gutenberg files whose book id an
    earlier file (in path order, over all inputs) has."""
    items, gutenberg = [], []
    for path in paths:
        try:
            found = detect_kind(path) if kind == "auto" else kind
        except ValueError as exc:
            raise SystemExit(f"{exc} (--kind {'|'.join(KINDS)})") from None
        if found == "gutenberg":
            gutenberg.extend(gutenberg_files(path))
        else:
            items.append((found, path, 0))
    files, duplicates = unique_by_id(sorted(set(gutenberg)))
    items = [("gutenberg", file, size) for file, size in files] + items
    return items, [dead.to_record() for dead in duplicates]


def _count_duplicate_id(record: dict) -> dict:
    accounting.count(SOURCE, "read", "read")
    accounting.count(SOURCE, "read", "dropped_duplicate_id")
    return record


def build(pipeline: beam.Pipeline, items: list[tuple[str, str, int]], dead: list[dict], args):
    out, rejects = args.output, args.write_rejects
    read = (
        pipeline
        | "Inputs" >> beam.Create(items)
        | "Spread" >> beam.Reshuffle()
        | "ReadBooks"
        >> beam.ParDo(
            ReadInputs(SOURCE, partial(read_work, args.max_book_bytes), path_of=itemgetter(1))
        ).with_outputs("dead", main="documents")
    )
    texts = read.documents | "Empty" >> ApplyFilters(
        SOURCE, each(NotBlank), write_rejects=rejects, reject_fields=("id", "title")
    )
    near = texts.documents | "NearDedup" >> NearDedup(
        SOURCE,
        "near_dedup",
        longest_first,
        threshold=args.overlap,
        measure="containment",
        min_size_ratio=args.min_size_ratio,
        num_perm=args.num_perm,
        ngram=args.ngram,
        overlap_ngram=args.overlap_ngram,
        write_rejects=rejects,
    )
    (
        near["documents"]
        | "Kept" >> beam.Map(_kept)
        | "Write" >> WriteShards(f"{out}/documents", args.num_shards, schema=DOCUMENT_SCHEMA)
    )
    near["clusters"] | "WriteClusters" >> WriteShards(f"{out}/clusters", 1, key="kept", fmt="jsonl")
    duplicates = pipeline | "DuplicateIds" >> beam.Create(dead) | beam.Map(_count_duplicate_id)
    (read.dead, texts.dead, duplicates) | "DeadLetters" >> WriteDeadLetters(f"{out}/dead_letter")
    if rejects:
        (texts.rejects, near["rejects"]) | "Rejects" >> WriteRejects(f"{out}/rejected")


def main(argv: list[str] | None = None) -> dict:
    parser = options.parser(__doc__.split("\n\n")[0])
    parser.add_argument(
        "--input",
        nargs="+",
        required=True,
        help="Gutenberg text files or directories, PG-19 or Books3-style JSON lines (globs, gs://)",
    )
    parser.add_argument("--kind", choices=("auto", *KINDS), default="auto", help="input format")
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument(
        "--overlap",
        type=float,
        default=0.9,
        help="containment of the smaller book in the larger that makes them duplicates",
    )
    parser.add_argument(
        "--min_size_ratio",
        type=float,
        default=0.5,
        help="the shortest abridged edition (as a share of the longer) LSH is laid out to find",
    )
    parser.add_argument("--num_perm", type=int, default=256, help="MinHash permutations")
    parser.add_argument("--ngram", type=int, default=5, help="words per shingle of signatures")
    parser.add_argument(
        "--overlap_ngram", type=int, default=2, help="words per shingle of the exact overlap"
    )
    parser.add_argument(
        "--max_book_bytes",
        type=int,
        default=DEFAULT_MAX_BOOK_BYTES,
        help="larger books are dead letters, never read whole",
    )
    parser.add_argument("--num_shards", type=int, default=4, help="shards of documents/")
    parser.add_argument("--write_rejects", action="store_true", help="write dropped books")
    args, beam_args = parser.parse_known_args(argv)
    preflight.check_inputs(args.input)
    launcher.setup_logging()
    pipeline_options = options.beam_options(beam_args)
    paths = options.expand_with_directories(args.input, "input")
    items, dead = plan(paths, args.kind)
    lsh = layout(args.overlap, "containment", args.min_size_ratio, args.num_perm)

    def own_report(counted: dict, outputs: dict) -> dict:
        gutenberg = counted.pop(GUTENBERG_GROUP, {})
        return {
            "inputs": paths,
            "work_items": len(items),
            "gutenberg_boilerplate": gutenberg,
            "near_dedup": {
                "measure": "containment",
                "overlap": args.overlap,
                "ngram": args.ngram,
                "overlap_ngram": args.overlap_ngram,
                "num_perm": args.num_perm,
                "bands": lsh.bands,
                "rows": lsh.rows,
                "min_size_ratio": args.min_size_ratio,
            },
        }

    job = launcher.Job(
        name=SOURCE,
        output=args.output,
        build=partial(build, items=items, dead=dead, args=args),
        inputs=paths,
        unit="inputs",
        total_items=len(items),
        outputs=("documents", "clusters", "dead_letter", *(("rejected",) * args.write_rejects)),
        stages=STAGES,
        report=own_report,
        dry_run={"work_items": len(items)},
    )
    parameters = {k: v for k, v in vars(args).items() if k != "input"}
    return launcher.launch(job, parameters, beam_args, pipeline_options)


if __name__ == "__main__":
    launcher.run_module("pipelines.books")
