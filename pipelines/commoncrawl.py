"""The CommonCrawl pipeline (CCNet, SPEC §1): WET files → deduplicated, language-identified,
perplexity-bucketed documents.

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

import gzip
import json
import logging
import tempfile
import time
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
from apache_beam.utils.shared import Shared

from filters.buckets import BUCKETS, Cutoffs
from filters.langid import LanguageIdentifier
from filters.perplexity import PerplexityScorer
from filters.wikiref import WikirefClassifier
from pipelines import accounting, options, staging
from pipelines.cutoffs import plot
from pipelines.linededup import DEFAULT_DEDUP_SHARDS, LineDedup, WriteHashSet
from pipelines.models import LID
from pipelines.shards import WriteShards, clear_unfinished, document_schema, write_atomically
from pipelines.staging import Model
from pipelines.warc import (
    DEFAULT_MAX_RECORD_BYTES,
    DeadLetter,
    document_id,
    http_blocks,
    iter_records,
    segment_name,
    wet_document,
)

SOURCE = "commoncrawl"
log = logging.getLogger(SOURCE)

DOCUMENT_SCHEMA = document_schema(
    ("digest", pa.string()),
    ("date_download", pa.string()),
    ("source_domain", pa.string()),
    ("language", pa.string()),
    ("language_score", pa.float64()),
    ("perplexity", pa.float64()),
    ("bucket", pa.string()),
    ("wiki_prob", pa.float64()),
    ("nlines", pa.int64()),
    ("original_nlines", pa.int64()),
    ("length", pa.int64()),
    ("original_length", pa.int64()),
    ("line_ids", pa.list_(pa.int32())),
    ("cc_segment", pa.string()),
)
STAGES = ("read", "dedup", "lid", "perplexity", "wikiref", "docdedup")  # report order
HISTOGRAM_BIN = 10.0  # perplexity histogram bins, for the report's plots


class ReadWet(beam.DoFn):
    """A WET file → its documents; dead letters and too-short documents accounted for."""

    def __init__(self, min_length: int, max_record_bytes: int, write_rejects: bool):
        self.min_length, self.max_record_bytes = min_length, max_record_bytes
        self.write_rejects = write_rejects

    def process(self, path: str):
        try:
            yield from self._read(path)
        except OSError as exc:  # a file that cannot be fetched after every retry, or opened
            accounting.count(SOURCE, "read", "input_errors")
            error = f"{type(exc).__name__}: {exc}"
            yield beam.pvalue.TaggedOutput(
                "dead", DeadLetter(path, 0, 0, "unreadable_file", error).to_record()
            )

    def _read(self, path: str):
        segment = segment_name(path)
        for record in iter_records(path, max_record_bytes=self.max_record_bytes):
            if isinstance(record, DeadLetter):
                if record.warc_type == "conversion":
                    accounting.count(SOURCE, "read", "read")
                    accounting.count(SOURCE, "read", f"dropped_{record.reason}")
                else:
                    accounting.count(SOURCE, "read", "input_errors")
                yield beam.pvalue.TaggedOutput("dead", record.to_record())
                continue
            doc = wet_document(record, segment)
            if doc is None:
                continue  # warcinfo and other non-document records
            accounting.count(SOURCE, "read", "read")
            doc["id"] = document_id(segment, doc["warc_record_id"])
            if len(doc["raw_content"]) < self.min_length:
                accounting.count(SOURCE, "read", "dropped_too_short")
                if self.write_rejects:
                    yield beam.pvalue.TaggedOutput("rejects", _reject(doc, "too_short"))
                continue
            yield doc


def _reject(doc: dict, reason: str) -> dict:
    return {"id": doc["id"], "url": doc.get("url"), "reason": reason}


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


class Score(beam.DoFn):
    """Batches of deduplicated documents → language, perplexity, bucket and wiki_prob.

    The models (`models`: role → URL and SHA-256, from `check_models`) load once per worker
    process (`setup`); fastText and the classifier score a whole batch per call, KenLM a
    document at a time (it has no batch API).
    """

    def __init__(self, args, models: dict[str, Model]):
        self.models, self.lid_threshold = dict(models), args.lid_threshold
        self.languages = list(args.languages)
        self.keep_buckets = frozenset(args.keep_buckets)
        self.wikiref_threshold = args.wikiref_threshold
        self.write_rejects = args.write_rejects
        self._shared = Shared()

    def _load(self) -> _Models:
        return _Models(self.models, self.lid_threshold, self.languages, self.wikiref_threshold)

    def setup(self):
        self._loaded = self._shared.acquire(self._load)
        self.lid, self.scorers = self._loaded.lid, self._loaded.scorers
        self.cutoffs, self.wikiref = self._loaded.cutoffs, self._loaded.wikiref

    def _drop(self, doc: dict, stage: str, reason: str):
        accounting.count(SOURCE, stage, f"dropped_{reason}")
        if self.write_rejects:
            yield beam.pvalue.TaggedOutput("rejects", _reject(doc, reason))

    def process(self, batch: list[dict]):
        found = self.lid.identify_batch(
            [LanguageIdentifier.model_input(d["raw_content"].split("\n")) for d in batch]
        )
        scored = []
        for doc, language in zip(batch, found, strict=True):
            accounting.count(SOURCE, "languages", f"seen_{language.language}")
            decision = self.lid.decide(language)
            if not decision.keep:
                yield from self._drop(doc, "lid", decision.reason)
                continue
            lang = language.language
            perplexity = self.scorers[lang].score(doc["raw_content"]).perplexity
            bucket = self.cutoffs[lang].bucket(perplexity)
            yield beam.pvalue.TaggedOutput("histogram", ((lang, _bin(perplexity)), 1))
            if bucket not in self.keep_buckets:
                yield from self._drop(doc, "perplexity", f"bucket_{bucket}")
                continue
            doc.update(
                language=lang,
                language_score=language.score,
                perplexity=perplexity,
                bucket=bucket,
                wiki_prob=None,
            )
            scored.append(doc)
        if self.wikiref is not None and scored:
            probs = self.wikiref.wiki_probs([d["raw_content"] for d in scored])
            for doc, prob in zip(scored, probs, strict=True):
                doc["wiki_prob"] = round(prob, 4)
        for doc in scored:
            if doc["wiki_prob"] is not None and not self.wikiref.decide(doc["wiki_prob"]).keep:
                yield from self._drop(doc, "wikiref", "wikiref")
                continue
            yield doc


def _bin(perplexity: float) -> float:
    return -1.0 if perplexity < 0 else HISTOGRAM_BIN * int(perplexity // HISTOGRAM_BIN)


class FirstByOrder(beam.CombineFn):
    """Exact duplicates (one WET digest): the document first by (cc_segment, id), and a count."""

    def create_accumulator(self):
        return None, 0

    def add_input(self, acc, doc):
        best, n = acc
        if best is None or (doc["cc_segment"], doc["id"]) < (best["cc_segment"], best["id"]):
            best = doc
        return best, n + 1

    def merge_accumulators(self, accumulators):
        best, total = None, 0
        for doc, n in accumulators:
            total += n
            if doc is not None and (
                best is None or (doc["cc_segment"], doc["id"]) < (best["cc_segment"], best["id"])
            ):
                best = doc
        return best, total

    def extract_output(self, acc):
        return acc


def _keep_first(element, write_rejects: bool):
    _, (doc, copies) = element
    if copies > 1:
        accounting.count(SOURCE, "docdedup", "dropped_duplicate_document", copies - 1)
        if write_rejects:
            for _ in range(copies - 1):
                yield beam.pvalue.TaggedOutput("rejects", _reject(doc, "duplicate_document"))
    accounting.count(SOURCE, f"{doc['language']}_{doc['bucket']}", "kept")
    yield {
        **{k: doc.get(k) for k in DOCUMENT_SCHEMA.names},
        "text": doc["raw_content"],
        "source": SOURCE,
    }


def _write_histograms(histograms: list, path: str) -> None:
    table: dict[str, dict[str, int]] = {}
    for (lang, low), n in sorted(histograms):
        table.setdefault(lang, {})[f"{low:g}"] = n
    body = json.dumps({"bin": HISTOGRAM_BIN, "languages": table}, indent=1, sort_keys=True)
    write_atomically(path, body.encode() + b"\n")


def build(pipeline: beam.Pipeline, paths: list[str], args, models: dict[str, Model]) -> None:
    out, n = args.output, args.num_shards
    read = (
        pipeline
        | "WetFiles" >> beam.Create(paths)
        | "Spread" >> beam.Reshuffle()
        | "ReadWet"
        >> beam.ParDo(
            ReadWet(args.min_length, args.max_record_bytes, args.write_rejects)
        ).with_outputs("dead", "rejects", main="documents")
    )
    dedup = read.documents | "LineDedup" >> LineDedup(
        SOURCE, "dedup", previous_hashes=args.previous_hashes, dedup_shards=args.dedup_shards
    )
    scored = (
        dedup["documents"]
        | "Batch" >> beam.BatchElements(min_batch_size=16, max_batch_size=512)
        | "Score"
        >> beam.ParDo(Score(args, models)).with_outputs("histogram", "rejects", main="documents")
    )
    kept = (
        scored.documents
        | "KeyByDigest" >> beam.Map(lambda d: (d["digest"] or d["id"], d))
        | "FirstOfDuplicates" >> beam.CombinePerKey(FirstByOrder())
        | "KeepFirst"
        >> beam.ParDo(_keep_first, args.write_rejects).with_outputs("rejects", main="documents")
    )
    for lang in args.languages:
        for bucket in args.keep_buckets:
            name = f"{lang}_{bucket}"
            (
                kept.documents
                | f"Select_{name}"
                >> beam.Filter(
                    lambda d, lang=lang, b=bucket: (d["language"], d["bucket"]) == (lang, b)
                )
                | f"Write_{name}"
                >> WriteShards(f"{out}/documents/{name}", n, schema=DOCUMENT_SCHEMA)
            )
    dedup["hashes"] | "WriteHashes" >> WriteHashSet(f"{out}/hashes", n)
    (
        scored.histogram
        | "CountBins" >> beam.CombinePerKey(sum)
        | "AllBins" >> beam.combiners.ToList()
        | "WriteHistograms" >> beam.Map(_write_histograms, f"{out}/perplexity_histograms.json")
    )
    read.dead | "WriteDeadLetters" >> WriteShards(
        f"{out}/dead_letter",
        1,
        key="file",
        sort_key=lambda r: (r["file"], r["offset"], r.get("offset_in_member") or 0, r["reason"]),
        fmt="jsonl",
    )
    if args.write_rejects:
        (
            (read.rejects, dedup["dropped"], scored.rejects, kept.rejects)
            | "AllRejects" >> beam.Flatten()
            | "WriteRejects"
            >> WriteShards(
                f"{out}/rejected", 1, sort_key=lambda r: (r["id"], r["reason"]), fmt="jsonl"
            )
        )


def snapshot_wet_paths(snapshot: str, segments: str, base: str) -> list[str]:
    """The WET files `start:end` (end excluded) of a snapshot's `wet.paths.gz`, as URLs."""
    listing = f"{base.rstrip('/')}/crawl-data/{snapshot}/wet.paths.gz"
    lines = gzip.decompress(b"".join(http_blocks(listing))).decode().split()
    start, _, end = segments.partition(":")
    chosen = lines[int(start or 0) : int(end) if end else None]
    if not chosen:
        raise SystemExit(f"{listing}: no WET file in segments {segments!r} of {len(lines)}")
    return [f"{base.rstrip('/')}/{line}" for line in chosen]


def check_models(args) -> dict[str, Model]:
    """The files Score loads, by role, local or remote, each with the SHA-256 its model card
    records (None without one). Fails before the run, with the command that makes what is
    missing."""
    lid = str(args.lid_model)
    models = {"lid": Model(lid, LID["sha256"] if staging.basename(lid) == LID["name"] else None)}
    missing = [] if staging.exists(lid) else [lid]
    for lang in args.languages:
        card = staging.read_json(staging.join(args.lm_dir, f"{lang}.json")) or {}
        for suffix in ("sp.model", "arpa.bin", "cutoffs.json"):
            name = f"{lang}.{suffix}"
            url = staging.join(args.lm_dir, name)
            models[name] = Model(url, card.get("files", {}).get(name, {}).get("sha256"))
            if not staging.exists(url):
                missing.append(f"{url} (make lm LANG={lang})")
    if args.wikiref_model:
        wikiref = str(args.wikiref_model)
        card = staging.read_json(staging.with_suffix(wikiref, ".json")) or {}
        models["wikiref"] = Model(wikiref, card.get("sha256"))
        if not staging.exists(wikiref):
            missing.append(f"{wikiref} (make wikiref)")
    if missing:
        raise SystemExit("missing models: " + ", ".join(missing) + "; `make models` for lid.176")
    return models


def upload_models(models: dict[str, Model], destination: str, dry_run: bool) -> dict[str, Model]:
    """Local models and their cards → `destination`, laid out as the local models directory
    (lid.176.ftz, lm/<lang>.*, wikiref.npz); remote ones stay where they are. A dry run only
    names where they would go."""
    files: dict[str, str] = {}
    moved: dict[str, Model] = {}
    for role, model in models.items():
        if staging.is_remote(model.url):
            moved[role] = model
            continue
        local = Path(model.url)
        folder = "" if role in ("lid", "wikiref") else "lm/"
        files[folder + local.name] = model.url
        moved[role] = Model(staging.join(destination, folder + local.name), model.sha256)
        lang = role.split(".")[0]
        card = local.with_suffix(".json") if role == "wikiref" else local.parent / f"{lang}.json"
        if role != "lid" and card.is_file():
            files[folder + card.name] = str(card)
    if dry_run:
        log.info("dry run: the models are not uploaded to %s", destination)
    else:
        staging.publish(files, destination)
    return moved


def check_dataflow_paths(runner: str, paths: list[str], output: str, models: dict[str, Model]):
    """Dataflow workers see nothing of this machine's disk: fail now, not on the workers."""
    if runner.lower().removesuffix("runner") != "dataflow":
        return
    everything = [*paths, output, *(m.url for m in models.values())]
    local = [p for p in everything if not staging.is_remote(p)]
    if local:
        raise SystemExit(
            f"{runner} workers cannot read local paths: {', '.join(local)}. Use gs:// URLs "
            "(--upload_models_to gs://…/models uploads the models; make commoncrawl BUCKET=… does)"
        )


def _plots(out: str, models: dict[str, Model]) -> None:
    path = staging.join(out, "perplexity_histograms.json")
    histograms = (staging.read_json(path) or {}).get("languages", {})
    for lang, bins in histograms.items():
        scored = {float(low) + HISTOGRAM_BIN / 2: n for low, n in bins.items() if float(low) >= 0}
        if scored:
            cutoffs_file = models[f"{lang}.cutoffs.json"]
            cutoffs = Cutoffs.load(staging.local_copy(cutoffs_file.url, cutoffs_file.sha256))
            with tempfile.TemporaryDirectory() as tmp:  # the output may be on a bucket
                png = Path(tmp) / f"{lang}.perplexity.png"
                plot(png, lang, list(scored), cutoffs, list(scored.values()))
                write_atomically(staging.join(out, png.name), png.read_bytes())


def main(argv: list[str] | None = None) -> dict:
    parser = options.parser(__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--wet", nargs="+", help="WET files or globs (local, gs://, s3://)")
    source.add_argument("--snapshot", help="a Common Crawl snapshot, e.g. CC-MAIN-2019-18")
    parser.add_argument("--segments", default="0:1", help="with --snapshot: WET files start:end")
    parser.add_argument(
        "--cc_base_url", default="https://data.commoncrawl.org", help="where snapshots are read"
    )
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
    args.languages = args.languages.split(",")
    args.keep_buckets = args.keep_buckets.split(",")
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    pipeline_options = options.beam_options(beam_args)
    paths = (
        snapshot_wet_paths(args.snapshot, args.segments, args.cc_base_url)
        if args.snapshot
        else options.expand(args.wet, "WET file")
    )
    dry_run = bool(pipeline_options.get_all_options().get("dry_run"))
    models = check_models(args)
    if args.upload_models_to:
        models = upload_models(models, args.upload_models_to, dry_run)
    check_dataflow_paths(options.runner_name(pipeline_options), paths, args.output, models)
    if not dry_run:
        clear_unfinished(args.output, top_level=("report.json",))

    started = time.time()
    pipeline = beam.Pipeline(options=pipeline_options)
    build(pipeline, paths, args, models)
    result = pipeline.run()
    if dry_run:
        return {
            "dry_run": True,
            "wet_files": len(paths),
            "models": {role: m.url for role, m in models.items()},
            "job": getattr(result, "job", None),  # what a Dataflow dry run would have submitted
        }
    result.wait_until_finish()
    wall = time.time() - started

    counted = accounting.counters(result, SOURCE)
    languages = counted.pop("languages", {})
    order = [s for s in STAGES if s in counted] + sorted(g for g in counted if g not in STAGES)
    groups = {g: counted[g] for g in order}
    total = accounting.totals(groups)
    buckets = {g: v["kept"] for g, v in groups.items() if "kept" in v}
    outputs = {
        name: accounting.read_manifest(f"{args.output}/{name}")
        for name in [f"documents/{b}" for b in sorted(buckets)] + ["hashes", "dead_letter"]
    }
    _plots(args.output, models)
    report = {
        "source": SOURCE,
        "totals": total,
        "by_stage": groups,
        "invariant": accounting.invariant(total),
        "buckets": buckets,
        "languages_seen": {k.removeprefix("seen_"): v for k, v in languages.items()},
        "outputs": {k: v for k, v in outputs.items() if v},
        "wet_files": paths,
        "models": {role: m._asdict() for role, m in models.items()},
        "parameters": {k: v for k, v in vars(args).items() if k != "wet"},
        "runner": options.runner_name(pipeline_options),
        "beam_args": beam_args,
        "wall_seconds": round(wall, 3),
        "documents_per_second": round(total.get("read", 0) / wall, 1) if wall else None,
    }
    seen = sorted(report["languages_seen"].items(), key=lambda kv: -kv[1])
    accounting.print_stages(
        f"{SOURCE}: {args.output}",
        groups,
        outputs,
        [
            "languages seen: " + ", ".join(f"{k} {v:,}" for k, v in seen[:12]),
            f"{report['documents_per_second']:,} documents/s ({len(paths)} WET files, "
            f"{report['wall_seconds']} s)",
        ],
    )
    return accounting.finish(args.output, report)


if __name__ == "__main__":
    # Run the imported module, not __main__, so that Beam pickles its classes by an importable
    # name that worker processes can resolve.
    from pipelines.commoncrawl import main as module_main

    module_main()
