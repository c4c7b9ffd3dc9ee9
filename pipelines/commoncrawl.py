"""The CommonCrawl pipeline (CCNet, docs/recipe/commoncrawl.md): WET files → deduplicated,
language-identified, perplexity-bucketed documents.

    python -m pipelines.commoncrawl --wet 'crawl/*.warc.wet.gz' --output out/commoncrawl \\
        --direct_num_workers=2 --direct_running_mode=multi_processing

Stages, each counting what it drops under a named reason (report.json: read = kept + dropped):
  read        WET `conversion` records, key:value headers; bad records are dead letters;
              documents under --min_length characters dropped (`too_short`)
  dedup       every line whose normalised hash occurs in two or more documents goes from every
              document, across the whole run (and the --previous_hashes of earlier runs)
  lid         fastText lid.176 on the kept lines joined by a space (`language`, `language_score`)
  perplexity  SentencePiece + KenLM per line; head/middle/tail by the cut-offs `make lm` computed
              on a crawl sample; buckets not in --keep_buckets dropped (`bucket_<name>`)
  wikiref     with --wikiref_model: `wiki_prob`, dropped under --wikiref_threshold (`wikiref`)
  docdedup    exact duplicates by WET digest: the first by (cc_segment, id) is kept
Outputs under --output: documents/<lang>_<bucket>/part-*.parquet, hashes/ (the run's line-hash
set), dead_letter/, rejected/ (--write_rejects), perplexity_histograms.json and one
<lang>.perplexity.png per language with its cut-offs, report.json.

Models and paths may be local or any Beam file system's URLs (gs://, s3://): workers copy remote
models to local disk once per process (pipelines.staging), checked against their model cards.
On Dataflow every path must be remote; --upload_models_to puts local models on a bucket first.
A run first deletes what marks earlier output finished (report.json, manifests) and temporary
files a killed run left: a killed run never looks complete, and its re-run equals a clean run.
"""

from __future__ import annotations

import json
import logging
import operator
import tempfile
from functools import partial
from pathlib import Path

import apache_beam as beam

from core import files, preflight
from core.files import write_atomically
from core.schema import document_schema
from filtermodels.cutoffs import plot
from filtermodels.lid import LID
from filters.base import Filter, MinLength
from filters.buckets import BUCKETS, Cutoffs
from filters.langid import LanguageFilter, LanguageIdentifier
from filters.perplexity import HISTOGRAM_BIN, PerplexityFilter, PerplexityScorer
from filters.wikiref import WikirefClassifier, WikirefFilter
from pipelines import accounting, launcher, options, staging
from pipelines.linededup import DEFAULT_DEDUP_SHARDS, LineDedup, WriteHashSet, tag_documents
from pipelines.reading import ReadInputs, wet_documents
from pipelines.shards import WriteDeadLetters, WriteRejects, WriteShards
from pipelines.stages import ApplyFilters, FirstBy, first_of_duplicates
from pipelines.staging import Model
from readers.warc import DEFAULT_MAX_RECORD_BYTES, WarcRecord
from readers.wet import document_id, wet_document

SOURCE = "commoncrawl"
log = logging.getLogger(SOURCE)

DOCUMENT_SCHEMA = document_schema(SOURCE)
STAGES = ("read", "dedup", "lid", "perplexity", "wikiref", "docdedup")  # report order
_READER_ONLY = ("raw_content", "warc_record_id", "identified_languages")  # not written as is


def _wet_document(record: WarcRecord, segment: str) -> dict | None:
    doc = wet_document(record, segment)
    if doc is not None:
        doc["id"] = document_id(segment, doc["warc_record_id"])
    return doc


def _reject(doc: dict, reason: str) -> dict:
    return {"id": doc["id"], "url": doc.get("url"), "reason": reason}


def _length_filters(min_length: int) -> list[Filter]:
    return [MinLength(min_length, field="raw_content")]


class _Models:
    """One worker process's models, shared by its DoFn threads (Beam `Shared`); remote files are
    copied to local disk first (KenLM memory-maps a local binary)."""

    def __init__(
        self,
        models: dict[str, Model],
        lid_threshold: float,
        languages: list[str],
        wikiref_threshold: float,
    ):
        local = {role: staging.local_copy(m.url, m.sha256) for role, m in models.items()}
        self.lid = LanguageIdentifier(local["lid"], lid_threshold, languages)
        self.scorers = {
            lang: PerplexityScorer(local[f"{lang}.sp.model"], local[f"{lang}.arpa.bin"])
            for lang in languages
        }
        self.cutoffs = {lang: Cutoffs.load(local[f"{lang}.cutoffs.json"]) for lang in languages}
        self.wikiref = (
            WikirefClassifier(local["wikiref"], wikiref_threshold) if "wikiref" in local else None
        )


def _score_filters(keep_buckets: frozenset[str], models: _Models) -> list[Filter]:
    """Language ID, perplexity buckets and, with a classifier, the Wikipedia-reference filter:
    fastText and the classifier score a whole batch per call, KenLM a document at a time."""
    filters: list[Filter] = [
        LanguageFilter(models.lid, field="raw_content"),
        PerplexityFilter(models.scorers, models.cutoffs, keep_buckets, field="raw_content"),
    ]
    if models.wikiref is not None:
        filters.append(WikirefFilter(models.wikiref, field="raw_content"))
    return filters


def _order(doc: dict) -> tuple[str, str]:
    return doc["cc_segment"], doc["id"]


def document(doc: dict) -> dict:
    """The written document: the reader's fields and what the stages added, the content as
    `text`; `wiki_prob` is null when no classifier ran. The writer checks it against the schema."""
    out = {k: v for k, v in doc.items() if k not in _READER_ONLY}
    out.update(text=doc["raw_content"], source=SOURCE)
    out.setdefault("wiki_prob", None)
    return out


def _kept(doc: dict) -> dict:
    accounting.count(SOURCE, f"{doc['language']}_{doc['bucket']}", "kept")
    return document(doc)


def write_histograms(counts: dict[str, int], path: str) -> dict:
    """The perplexity histogram's counters (`histogram/<lang>/<bin>`, as {"<lang>/<bin>": n})
    as a JSON file."""
    table: dict[str, dict[str, int]] = {}
    for name, n in counts.items():
        lang, _, low = name.partition("/")
        table.setdefault(lang, {})[low] = n
    body = {"bin": HISTOGRAM_BIN, "languages": table}
    write_atomically(path, json.dumps(body, indent=1, sort_keys=True).encode() + b"\n")
    return body


def build(pipeline: beam.Pipeline, paths: list[str], args, models: dict[str, Model]) -> None:
    out, n, rejects = args.output, args.num_shards, args.write_rejects
    reader = partial(wet_documents, _wet_document, args.max_record_bytes)
    read = (
        pipeline
        | "WetFiles" >> beam.Create(list(enumerate(paths)))
        | "Spread" >> beam.Reshuffle()
        | "ReadWet"
        >> beam.ParDo(
            ReadInputs(SOURCE, partial(tag_documents, reader), path_of=operator.itemgetter(1))
        ).with_outputs("dead", main="documents")
    )
    long_enough = read.documents | "TooShort" >> ApplyFilters(
        SOURCE, partial(_length_filters, args.min_length), group="read", write_rejects=rejects
    )
    dedup = long_enough.documents | "LineDedup" >> LineDedup(
        SOURCE,
        reader,
        "dedup",
        previous_hashes=args.previous_hashes,
        dedup_shards=args.dedup_shards,
    )
    load = partial(
        _Models, dict(models), args.lid_threshold, list(args.languages), args.wikiref_threshold
    )
    scored = (
        dedup["documents"]
        | "Batch" >> beam.BatchElements(min_batch_size=16, max_batch_size=512)
        | "Score"
        >> ApplyFilters(
            SOURCE,
            partial(_score_filters, frozenset(args.keep_buckets)),
            load=load,
            batched=True,
            write_rejects=rejects,
        )
    )
    kept = (
        scored.documents
        | "KeyByDigest" >> beam.Map(lambda d: (d["digest"] or d["id"], d))
        | "FirstOfDuplicates" >> beam.CombinePerKey(FirstBy(_order, others=rejects))
        | "KeepFirst"
        >> beam.ParDo(
            first_of_duplicates, SOURCE, "docdedup", "duplicate_document", rejects
        ).with_outputs("rejects", main="documents")
    )
    written = kept.documents | "Kept" >> beam.Map(_kept)
    for lang in args.languages:
        for bucket in args.keep_buckets:
            name = f"{lang}_{bucket}"
            (
                written
                | f"Select_{name}"
                >> beam.Filter(
                    lambda d, lang=lang, b=bucket: (d["language"], d["bucket"]) == (lang, b)
                )
                | f"Write_{name}"
                >> WriteShards(f"{out}/documents/{name}", n, schema=DOCUMENT_SCHEMA)
            )
    dedup["hashes"] | "WriteHashes" >> WriteHashSet(f"{out}/hashes", n)
    dead = (read.dead, long_enough.dead, scored.dead)
    dead | "DeadLetters" >> WriteDeadLetters(f"{out}/dead_letter")
    if rejects:
        rejected = (long_enough.rejects, dedup["dropped"], scored.rejects, kept.rejects)
        rejected | "Rejects" >> WriteRejects(f"{out}/rejected")


def check_models(args) -> dict[str, Model]:
    """The files Score loads, by role, local or remote, each with the SHA-256 its model card
    records (None without one). Fails before the run, with the command that makes what is
    missing."""
    lid = str(args.lid_model)
    models = {"lid": Model(lid, LID["sha256"] if staging.basename(lid) == LID["name"] else None)}
    missing = [] if files.exists(lid) else [lid]
    for lang in args.languages:
        card = files.read_json(files.join(args.lm_dir, f"{lang}.json")) or {}
        for suffix in ("sp.model", "arpa.bin", "cutoffs.json"):
            name = f"{lang}.{suffix}"
            url = files.join(args.lm_dir, name)
            models[name] = Model(url, card.get("files", {}).get(name, {}).get("sha256"))
            if not files.exists(url):
                missing.append(f"{url} (make lm LM_LANG={lang})")
    if args.wikiref_model:
        wikiref = str(args.wikiref_model)
        card = files.read_json(staging.with_suffix(wikiref, ".json")) or {}
        models["wikiref"] = Model(wikiref, card.get("sha256"))
        if not files.exists(wikiref):
            missing.append(f"{wikiref} (make wikiref)")
    if missing:
        raise SystemExit("missing models: " + ", ".join(missing) + "; `make models` for lid.176")
    return models


def model_layout(models: dict[str, Model]) -> dict[str, tuple[str, str | None]]:
    """Each local model's place under an upload destination, laid out as the local models
    directory (lid.176.ftz, lm/<lang>.*, wikiref.npz), and its model card (sent along)."""
    layout: dict[str, tuple[str, str | None]] = {}
    for role, model in models.items():
        local = Path(model.url)
        folder = "" if role in ("lid", "wikiref") else "lm/"
        lang = role.split(".")[0]
        card = local.with_suffix(".json") if role == "wikiref" else local.parent / f"{lang}.json"
        layout[role] = (folder + local.name, str(card) if role != "lid" else None)
    return layout


def _plots(out: str, models: dict[str, Model], histograms: dict) -> None:
    """One PNG per language: the histogram of its perplexities and its cut-offs."""
    for lang, bins in histograms["languages"].items():
        scored = {float(low) + HISTOGRAM_BIN / 2: n for low, n in bins.items() if float(low) >= 0}
        if scored:
            cutoffs_file = models[f"{lang}.cutoffs.json"]
            cutoffs = Cutoffs.load(staging.local_copy(cutoffs_file.url, cutoffs_file.sha256))
            with tempfile.TemporaryDirectory() as tmp:  # the output may be on a bucket
                png = Path(tmp) / f"{lang}.perplexity.png"
                plot(png, lang, list(scored), cutoffs, list(scored.values()))
                write_atomically(files.join(out, png.name), png.read_bytes())


def main(argv: list[str] | None = None) -> dict:
    parser = options.parser(__doc__.split("\n\n")[0])
    options.add_wet_inputs(parser, parser.add_mutually_exclusive_group(required=True))
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument("--languages", default="en", help="comma-separated languages kept")
    parser.add_argument("--lid_model", default="models/lid.176.ftz", help="fastText lid.176")
    parser.add_argument("--lid_threshold", type=float, default=0.5, help="language score minimum")
    parser.add_argument("--lm_dir", default="models/lm", help="make lm's models and cut-offs")
    parser.add_argument(
        "--keep_buckets", default="head,middle", help=f"buckets kept, of {','.join(BUCKETS)}"
    )
    parser.add_argument("--wikiref_model", default=None, help="Wikipedia-reference classifier")
    parser.add_argument(
        "--upload_models_to",
        default=None,
        help="a bucket URL (gs://…/models): upload the local models there and read them from it",
    )
    parser.add_argument("--wikiref_threshold", type=float, default=0.25, help="wiki_prob minimum")
    parser.add_argument("--min_length", type=int, default=300, help="characters of raw_content")
    parser.add_argument("--num_shards", type=int, default=4, help="shards per output")
    parser.add_argument(
        "--previous_hashes", default=None, help="hash sets of earlier runs (a glob of .npy files)"
    )
    parser.add_argument(
        "--dedup_shards",
        type=int,
        default=DEFAULT_DEDUP_SHARDS,
        help="hash ranges the line dedup shuffles by; a worker holds one range's (line hash, "
        "document) pairs, 16 bytes each, ~3x that while sorting: at scale use thousands (a "
        "3-billion-page snapshot, ~1.5e11 pairs: 4096 for ~600 MB a range)",
    )
    parser.add_argument("--max_record_bytes", type=int, default=DEFAULT_MAX_RECORD_BYTES)
    parser.add_argument("--write_rejects", action="store_true", help="write dropped documents")
    args, beam_args = parser.parse_known_args(argv)
    preflight.check_inputs(args.wet or ())
    args.languages = args.languages.split(",")
    args.keep_buckets = args.keep_buckets.split(",")
    launcher.setup_logging()
    pipeline_options = options.beam_options(beam_args)
    paths = options.wet_inputs(args)
    models = check_models(args)
    if args.upload_models_to:
        models = staging.upload_models(
            models,
            args.upload_models_to,
            model_layout(models),
            dry_run=launcher.is_dry_run(pipeline_options),
        )

    def own_report(counted: dict, outputs: dict) -> dict:
        languages = counted.pop("languages", {})
        histograms = write_histograms(
            counted.pop("histogram", {}), files.join(args.output, "perplexity_histograms.json")
        )
        _plots(args.output, models, histograms)
        return {
            "buckets": {g: v["kept"] for g, v in counted.items() if "kept" in v},
            "languages_seen": {k.removeprefix("seen_"): v for k, v in languages.items()},
            "wet_files": paths,
            "models": {role: m._asdict() for role, m in models.items()},
        }

    def notes(report: dict) -> list[str]:
        seen = sorted(report["languages_seen"].items(), key=lambda kv: -kv[1])
        return [
            "languages seen: " + ", ".join(f"{k} {v:,}" for k, v in seen[:12]),
            f"{report['documents_per_second']:,} documents/s ({len(paths)} WET files, "
            f"{report['wall_seconds']} s)",
        ]

    job = launcher.Job(
        name=SOURCE,
        output=args.output,
        build=lambda pipeline: build(pipeline, paths, args, models),
        inputs=paths,
        unit="WET files",
        models=models,
        outputs=lambda counted: [
            *(f"documents/{g}" for g, v in sorted(counted.items()) if "kept" in v),
            "hashes",
            "dead_letter",
        ],
        stages=STAGES,
        report=own_report,
        notes=notes,
        dry_run={"wet_files": len(paths), "models": {role: m.url for role, m in models.items()}},
    )
    parameters = {k: v for k, v in vars(args).items() if k != "wet"}
    return launcher.launch(job, parameters, beam_args, pipeline_options)


if __name__ == "__main__":
    launcher.run_module("pipelines.commoncrawl")
