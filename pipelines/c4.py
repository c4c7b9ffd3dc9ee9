"""The C4 pipeline (docs/recipe/c4.md): C4 built from WET files with TensorFlow Datasets' rules, or
the published C4 reformatted.

    python -m pipelines.c4 --wet 'crawl/*.warc.wet.gz' --output out/c4 \\
        --direct_num_workers=2 --direct_running_mode=multi_processing
    python -m pipelines.c4 --snapshot CC-MAIN-2023-06 --segments 0:10 --output out/c4
    python -m pipelines.c4 --published 'c4/en/c4-train.*.json.gz' --output out/c4

LLaMA's C4 is the published one (allenai/c4 `en`, TFDS C4 3.0.1 on the April 2019 crawl), which
RedPajama reformatted without filtering: --published does that. --wet (or --snapshot, streamed
over HTTPS) rebuilds C4 from any crawl,
applying TFDS's rules in TFDS's order, each drop counted under its stage (report.json: read =
kept + dropped):
  read       WET `conversion` records, lines stripped, empty and WARC/Content- lines left out;
             pages without text or URL dropped; bad records are dead letters
  length     pages over 190,000 characters (`too_long`)
  url_dedup  one page per normalised URL, the one whose text has the largest md5
  clean      lines removed (no end mark, < 5 words, a word over 1,000 characters, javascript,
             policy phrases; citation marks cut); pages dropped for lorem ipsum, `{`, or fewer
             than 3 sentences (NLTK punkt)
  dedup      each line (md5 of its lower-cased text) kept only by the page whose normalised URL
             has the smallest md5, once; pages left empty or under 3 sentences dropped
  language   English: langdetect (seed 0) at 0.99, or fastText lid.176 (--english); with
             --compare_english both run and their disagreements are reported
  badwords   pages with a word of the LDNOOBW English list (`make badwords`; --badwords FILE)
Pages whose md5(normalised URL) mod 1000 = 0 are the validation split. Outputs under --output:
documents/ (train), validation/, dead_letter/, rejected/ (--write_rejects), report.json.
"""

from __future__ import annotations

import logging
from functools import partial

import apache_beam as beam

from core import files, preflight
from core.schema import document_schema
from filtermodels.badwords import load_words
from filtermodels.lid import LID
from filters.base import Filter, MinLength
from filters.c4 import (
    FASTTEXT_MIN_SCORE,
    LANGDETECT_MIN_PROB,
    AfterDedup,
    BadWords,
    CleanPage,
    English,
    PageLength,
    c4_url,
    choose_page,
    english_identifier,
    line_keys,
    parse_lines,
    split_of,
    text_md5,
)
from filters.langid import LanguageIdentifier
from pipelines import accounting, launcher, options, staging
from pipelines.reading import ReadInputs, wet_documents
from pipelines.shards import WriteDeadLetters, WriteRejects, WriteShards
from pipelines.stages import ApplyFilters, each
from pipelines.staging import Model
from readers.c4 import parse_timestamp, read_published
from readers.warc import DEFAULT_MAX_RECORD_BYTES, WarcRecord
from readers.wet import document_id

SOURCE = "c4"
log = logging.getLogger(SOURCE)

DOCUMENT_SCHEMA = document_schema(SOURCE)
SPLITS = ("train", "validation")
OUTPUT_OF_SPLIT = {"train": "documents", "validation": "validation"}
STAGES = ("read", "length", "url_dedup", "clean", "dedup", "language", "badwords", *SPLITS)
# Counters that are not documents: lines removed by rule, and the two language detectors.
LINE_GROUP, ENGLISH_GROUP = "lines", "english"


def wet_page(record: WarcRecord, segment: str) -> dict | None:
    """A `conversion` record as TFDS's WET split reads it (docs/recipe/c4.md, rule 1)."""
    if record.type != "conversion":
        return None
    return {
        "id": "c4/" + document_id(segment, record.record_id or "").removeprefix("cc/"),
        "url": record.url or "",
        "timestamp": parse_timestamp(record.headers.get("WARC-Date")),
        "text": parse_lines(record.body.decode("utf-8")),
        "cc_segment": segment,
        "digest": record.headers.get("WARC-Block-Digest"),
    }


def _read_filters() -> list[Filter]:
    return [MinLength(1, field="text", reason="empty"), MinLength(1, field="url", reason="no_url")]


def _reject(doc: dict, reason: str) -> dict:
    return {"id": doc["id"], "url": doc.get("url"), "reason": reason}


def _by_url(doc: dict) -> tuple[str, dict]:
    normalised = c4_url(doc["url"])
    return normalised, {**doc, "c4_url": normalised, "url_md5": text_md5(normalised)}


def _one_per_url(element, write_rejects: bool):
    """One page per normalised URL (filters.c4.choose_page), the others counted."""
    _, pages = element
    pages = list(pages)
    best = choose_page(pages)
    if len(pages) > 1:
        accounting.count(SOURCE, "url_dedup", "dropped_duplicate_url", len(pages) - 1)
        if write_rejects:
            for page in pages:
                if page is not best:
                    yield beam.pvalue.TaggedOutput("rejects", _reject(page, "duplicate_url"))
    yield best


def _line_claims(doc: dict):
    """(line key, (md5 of the page's normalised URL, page id)) once per distinct line."""
    claim = (doc["url_md5"], doc["id"])
    for key in set(line_keys(doc["text"])):
        yield key, claim


def _with_owned_keys(element) -> dict:
    """The page and the line keys it owns, for AfterDedup to apply."""
    _, joined = element
    (doc,) = joined["page"]
    return {**doc, "owned_keys": set(joined["owned"])}


class LineDedup(beam.PTransform):
    """Pages → the same pages with `owned_keys`: the keys of their lines they own (TFDS's
    remove_duplicate_text; AfterDedup then keeps those lines only).

    Only 16-byte line keys and the owners' (URL md5, id) go through the first shuffle; the pages
    meet their owned keys in a join by id."""

    def expand(self, pages):
        owned = (
            pages
            | "Claims" >> beam.FlatMap(_line_claims)
            | "Owner" >> beam.CombinePerKey(min)
            | "ByOwner" >> beam.MapTuple(lambda key, owner: (owner[1], key))
        )
        by_id = pages | "PageById" >> beam.Map(lambda doc: (doc["id"], doc))
        return (
            {"page": by_id, "owned": owned}
            | "Join" >> beam.CoGroupByKey()
            | "OwnedKeys" >> beam.Map(_with_owned_keys)
        )


def _load_identifier(lid: Model | None) -> LanguageIdentifier | None:
    """fastText lid.176 for English, once per worker process (copied to local disk first when
    it is remote); None when only langdetect runs."""
    return english_identifier(staging.local_copy(lid.url, lid.sha256)) if lid else None


def _language_filters(
    backend: str, compare: bool, identifier: LanguageIdentifier | None
) -> list[Filter]:
    return [English(backend, identifier, compare=compare)]


def _badword_filters(words: tuple[str, ...]) -> list[Filter]:
    return [BadWords(words)]


def _with_split(doc: dict) -> dict:
    return {**doc, "split": split_of(doc["c4_url"])}


def document(doc: dict) -> dict:
    """The written document (checked against the schema by the writer)."""
    return {
        "id": doc["id"],
        "text": doc["text"],
        "source": SOURCE,
        "url": doc["url"],
        "title": None,
        "timestamp": doc["timestamp"],
        "split": doc["split"],
        "cc_segment": doc.get("cc_segment"),
        "digest": doc.get("digest"),
    }


def write(documents, out: str, num_shards: int) -> None:
    """Each split's documents to its folder; `kept` counted per split."""
    for split in SPLITS:

        def kept(doc: dict, split: str = split) -> bool:
            if doc["split"] != split:
                return False
            accounting.count(SOURCE, split, "kept")
            return True

        (
            documents
            | f"Select_{split}" >> beam.Filter(kept)
            | f"Document_{split}" >> beam.Map(document)
            | f"Write_{split}"
            >> WriteShards(f"{out}/{OUTPUT_OF_SPLIT[split]}", num_shards, schema=DOCUMENT_SCHEMA)
        )


def build_from_wet(
    pipeline: beam.Pipeline, paths: list[str], args, models: dict, words: tuple[str, ...]
) -> None:
    out, rejects = args.output, args.write_rejects
    stage = partial(ApplyFilters, SOURCE, write_rejects=rejects)
    read = (
        pipeline
        | "WetFiles" >> beam.Create(paths)
        | "Spread" >> beam.Reshuffle()
        | "ReadWet"
        >> beam.ParDo(
            ReadInputs(SOURCE, partial(wet_documents, wet_page, args.max_record_bytes))
        ).with_outputs("dead", main="documents")
    )
    pages = read.documents | "NotEmpty" >> stage(_read_filters, group="read")
    short = pages.documents | "Length" >> stage(each(PageLength))
    by_url = (
        short.documents
        | "NormaliseUrl" >> beam.Map(_by_url)
        | "GroupByUrl" >> beam.GroupByKey()
        | "OnePerUrl" >> beam.ParDo(_one_per_url, rejects).with_outputs("rejects", main="documents")
    )
    cleaned = by_url.documents | "Clean" >> stage(each(CleanPage))
    deduped = cleaned.documents | "LineDedup" >> LineDedup()
    after = deduped | "AfterDedup" >> stage(each(AfterDedup))
    load = partial(_load_identifier, models.get("lid"))
    make = partial(_language_filters, args.english, args.compare_english)
    english = (
        after.documents
        | "Batch" >> beam.BatchElements(min_batch_size=8, max_batch_size=256)
        | "English" >> stage(make, load=load, batched=True)
    )
    clean = english.documents | "BadWords" >> stage(partial(_badword_filters, words))
    write(clean.documents | "Split" >> beam.Map(_with_split), out, args.num_shards)
    stages = (pages, short, cleaned, after, english, clean)
    (read.dead, *(s.dead for s in stages)) | "DeadLetters" >> WriteDeadLetters(f"{out}/dead_letter")
    if rejects:
        (by_url.rejects, *(s.rejects for s in stages)) | "Rejects" >> WriteRejects(
            f"{out}/rejected"
        )


def build_published(pipeline: beam.Pipeline, paths: list[str], args) -> None:
    read = (
        pipeline
        | "C4Files" >> beam.Create(paths)
        | "Spread" >> beam.Reshuffle()
        | "ReadPublished"
        >> beam.ParDo(
            ReadInputs(SOURCE, partial(read_published, max_line_bytes=args.max_record_bytes))
        ).with_outputs("dead", main="documents")
    )
    write(read.documents, args.output, args.num_shards)
    (read.dead,) | "DeadLetters" >> WriteDeadLetters(f"{args.output}/dead_letter")


def check_models(args) -> tuple[dict[str, Model], Model]:
    """fastText lid.176 when it is used (workers load it), and the bad-words list (read here:
    its words travel in the job); fails early with the command that makes what is missing."""
    models: dict[str, Model] = {}
    missing = []
    words = str(args.badwords)
    card = files.read_json(staging.with_suffix(words, ".json")) or {}
    badwords = Model(words, card.get("sha256"))
    if not files.exists(words):
        missing.append(f"{words} (make badwords, or --badwords FILE)")
    if args.english == "fasttext" or args.compare_english:
        lid = str(args.lid_model)
        models["lid"] = Model(lid, LID["sha256"] if staging.basename(lid) == LID["name"] else None)
        if not files.exists(lid):
            missing.append(f"{lid} (make models)")
    if missing:
        raise SystemExit("missing: " + ", ".join(missing))
    return models, badwords


def main(argv: list[str] | None = None) -> dict:
    parser = options.parser(__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    options.add_wet_inputs(parser, source)  # WET files or a snapshot: C4 built with TFDS's rules
    source.add_argument(
        "--published",
        nargs="+",
        help="published C4 files (c4-train.*.json.gz; text, timestamp, url): reformat them, "
        "unfiltered. This is the C4 LLaMA trained on (allenai/c4 en, via RedPajama)",
    )
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument(
        "--english",
        choices=("langdetect", "fasttext"),
        default="langdetect",
        help=f"English detector: langdetect at {LANGDETECT_MIN_PROB}, as TFDS (default), or "
        f"fastText lid.176 at {FASTTEXT_MIN_SCORE} (docs/recipe/c4.md)",
    )
    parser.add_argument(
        "--compare_english",
        action="store_true",
        help="run both detectors and report how often they disagree (the chosen one decides)",
    )
    parser.add_argument("--lid_model", default="models/lid.176.ftz", help="fastText lid.176")
    parser.add_argument(
        "--badwords",
        default="models/badwords/en.txt",
        help="bad-words list, one per line (make badwords: LDNOOBW en, C4's list)",
    )
    parser.add_argument("--num_shards", type=int, default=4, help="shards per output")
    parser.add_argument(
        "--max_record_bytes",
        type=int,
        default=DEFAULT_MAX_RECORD_BYTES,
        help="WET records (or published JSON lines) larger than this are dead letters",
    )
    parser.add_argument("--write_rejects", action="store_true", help="write dropped pages")
    args, beam_args = parser.parse_known_args(argv)
    preflight.check_inputs(args.wet or args.published or ())
    launcher.setup_logging()
    pipeline_options = options.beam_options(beam_args)
    if args.published:
        paths = options.expand(args.published, "published C4 file")
        models: dict[str, Model] = {}
        badwords = None
        build = partial(build_published, paths=paths, args=args)
    else:
        paths = options.wet_inputs(args)
        models, badwords = check_models(args)
        words = tuple(load_words(staging.local_copy(badwords.url, badwords.sha256)))
        build = partial(build_from_wet, paths=paths, args=args, models=models, words=words)

    def own_report(counted: dict, outputs: dict) -> dict:
        lines = counted.pop(LINE_GROUP, {})
        english = counted.pop(ENGLISH_GROUP, {})
        return {
            "mode": "published" if args.published else "wet",
            "input_files": paths,
            "lines": dict(sorted(lines.items())),
            **({"english_detectors": english} if english else {}),
            "splits": {s: counted.get(s, {}).get("kept", 0) for s in SPLITS},
            "models": {role: m._asdict() for role, m in models.items()},
            **({"badwords": badwords._asdict()} if badwords else {}),
        }

    def notes(report: dict) -> list[str]:
        out = [f"{report['documents_per_second']:,} documents/s ({report['wall_seconds']} s)"]
        english = report.get("english_detectors")
        if english:
            out.append("English detectors: " + ", ".join(f"{k} {v:,}" for k, v in english.items()))
        return out

    job = launcher.Job(
        name=SOURCE,
        output=args.output,
        build=build,
        inputs=paths,
        unit="C4 files" if args.published else "WET files",
        models=models,
        outputs=("documents", "validation", "dead_letter", *(("rejected",) * args.write_rejects)),
        stages=STAGES,
        report=own_report,
        notes=notes,
        dry_run={"input_files": len(paths)},
    )
    parameters = {k: v for k, v in vars(args).items() if k not in ("wet", "published")}
    if not args.snapshot:
        parameters = {k: v for k, v in parameters.items() if k not in ("segments", "cc_base_url")}
    return launcher.launch(job, parameters, beam_args, pipeline_options)


if __name__ == "__main__":
    launcher.run_module("pipelines.c4")
