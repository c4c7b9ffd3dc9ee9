"""The GitHub pipeline (docs/recipe/github.md): source files of permissively licensed
repositories → deduplicated, cleaned, filtered code documents.

    python -m pipelines.github --input 'export/*.jsonl.gz' --output out/github \\
        --direct_num_workers=2 --direct_running_mode=multi_processing

Inputs (--kind, guessed by default): the BigQuery `github_repos` export (JSON lines or Parquet:
repo_name, path, content, license), The Stack-style Parquet (content, max_stars_repo_name,
max_stars_repo_path, max_stars_repo_licenses, ...), or local repository trees whose licence is
detected from their LICENSE/COPYING file. Stages, each drop counted under its reason
(report.json: read = kept + dropped):
  read     files decoded as UTF-8; binary, invalid UTF-8 and oversized files are dead letters
  license  MIT, BSD and Apache only
  path     RedPajama's extension whitelist; licence files and certificates skipped
  dedup    exact duplicates by md5 of the raw content, over the whole run: the first by
           (repo, path, input) is kept; then one file per repository and path
  header   licence/copyright headers removed (shebangs, encoding lines, #include/#define kept);
           files that were nothing else dropped
  quality  longest line > 1,000, mean line > 100, alphanumeric fraction < 0.25, alphabetic
           characters per token < 1.5, empty
  near_dedup with --near_dedup (beyond LLaMA): near-duplicate files by MinHash LSH
Outputs under --output: documents/, dead_letter/, rejected/ (--write_rejects), clusters/
(--near_dedup), report.json.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from operator import itemgetter

import apache_beam as beam

from core import files, preflight
from core.deadletter import DeadLetter
from core.schema import document_schema
from filtermodels.lid import NEOX
from filters.base import Filter
from filters.code import CodeFilter, HeaderFilter, PathFilter, neox_counter
from filters.licenses import LicenseFilter, spdx_of
from pipelines import accounting, launcher, options, staging
from pipelines.neardup import NearDedup
from pipelines.reading import ReadInputs
from pipelines.shards import WriteDeadLetters, WriteRejects, WriteShards
from pipelines.stages import ApplyFilters, FirstBy, each, first_of_duplicates
from pipelines.staging import Model
from readers.github import (
    DEFAULT_MAX_FILE_BYTES,
    KINDS,
    CodeFile,
    detect_kind,
    read_code,
    read_repository,
    repositories,
)

SOURCE = "github"
log = logging.getLogger(SOURCE)

DOCUMENT_SCHEMA = document_schema(SOURCE)
STAGES = ("read", "license", "path", "dedup", "header", "quality", "near_dedup", "written")
# Counters that are not documents: kept files per language, licence headers removed.
LANGUAGE_GROUP, HEADER_GROUP = "languages", "headers"


def read_work(max_file_bytes: int, work: tuple[str, str, str]):
    """A work item (an input file, or one repository of a tree) → its files as documents."""
    kind, path, name = work
    if kind == "repository":
        items = read_repository(name, path, max_file_bytes)
    else:
        items = read_code(path, kind, max_file_bytes)
    for item in items:
        yield item if isinstance(item, DeadLetter) else code_document(item)


def code_document(item: CodeFile) -> dict:
    return {
        "id": f"{SOURCE}/{item.repo_name}/{item.path}",
        "repo_name": item.repo_name,
        "path": item.path,
        "content": item.text,
        "license": item.license,
        "size": item.size,
        "content_hash": item.content_md5,
        "input": item.source_file,
    }


def _load_counter(tokenizer: Model) -> Callable[[str], int]:
    """GPT-NeoX's token counter, once per worker process (copied to local disk when remote)."""
    return neox_counter(staging.local_copy(tokenizer.url, tokenizer.sha256))


def _quality_filters(count_tokens: Callable[[str], int]) -> list[Filter]:
    return [CodeFilter(count_tokens)]


def license_text(license: str | list[str] | None) -> str | None:
    """The licence column: an SPDX id (or the input's expression) for one licence; for several
    (a repository's list, all permissive once kept), all of them, as an AND expression."""
    if isinstance(license, str):
        return spdx_of(license) or license
    if license:
        return " AND ".join(sorted({spdx_of(x) or x for x in license}))
    return None


def _order(doc: dict) -> tuple[str, str, str]:
    return doc["repo_name"], doc["path"], doc["input"]


class _FirstOf(beam.PTransform):
    """Documents with one `field` value → the first of them by `_order`; the others dropped."""

    def __init__(self, field: str, reason: str, write_rejects: bool):
        super().__init__()
        self.field, self.reason, self.write_rejects = field, reason, write_rejects

    def expand(self, documents):
        return (
            documents
            | "Key" >> beam.Map(lambda doc, field=self.field: (doc[field], doc))
            | "First" >> beam.CombinePerKey(FirstBy(_order, others=self.write_rejects))
            | "Keep"
            >> beam.ParDo(
                first_of_duplicates, SOURCE, "dedup", self.reason, self.write_rejects
            ).with_outputs("rejects", main="documents")
        )


def document(doc: dict) -> dict:
    """The written document (checked against the schema by the writer)."""
    accounting.count(SOURCE, "written", "kept")
    accounting.count(SOURCE, LANGUAGE_GROUP, doc["language"] or "unknown")
    return {
        "id": doc["id"],
        "text": doc["text"],
        "source": SOURCE,
        "url": f"https://github.com/{doc['repo_name']}/blob/HEAD/{doc['path']}",
        "title": None,
        **{name: doc[name] for name in DOCUMENT_SCHEMA.names[5:]},
        "license": license_text(doc["license"]),
    }


def work_items(paths: list[str], kind: str) -> list[tuple[str, str, str]]:
    """(kind, path, repository name) per work item: an input file, or one repository of a
    tree, so that workers share a large tree. A path of unknown kind stops the run here."""
    items = []
    for path in paths:
        try:
            found = detect_kind(path) if kind == "auto" else kind
        except ValueError as exc:
            raise SystemExit(f"{exc} (--kind {'|'.join(KINDS)})") from None
        if found == "tree":
            items.extend(("repository", d, name) for name, d in repositories(path))
        else:
            items.append((found, path, ""))
    return items


def build(
    pipeline: beam.Pipeline, items: list[tuple[str, str, str]], args, tokenizer: Model
) -> None:
    out, rejects = args.output, args.write_rejects
    stage = partial(ApplyFilters, SOURCE, write_rejects=rejects)
    read = (
        pipeline
        | "Inputs" >> beam.Create(items)
        | "Spread" >> beam.Reshuffle()
        | "ReadCode"
        >> beam.ParDo(
            ReadInputs(SOURCE, partial(read_work, args.max_file_bytes), path_of=itemgetter(1))
        ).with_outputs("dead", main="documents")
    )
    licensed = read.documents | "License" >> stage(each(LicenseFilter))
    wanted = licensed.documents | "Path" >> stage(each(PathFilter))
    unique = wanted.documents | "ExactDedup" >> _FirstOf("content_hash", "duplicate", rejects)
    one_per_path = unique.documents | "OnePerPath" >> _FirstOf("id", "same_path", rejects)
    cleaned = one_per_path.documents | "Header" >> stage(each(HeaderFilter))
    load = partial(_load_counter, tokenizer)
    good = cleaned.documents | "Quality" >> stage(_quality_filters, load=load)
    final, near = good.documents, None
    if args.near_dedup:
        near = good.documents | "NearDedup" >> NearDedup(
            SOURCE,
            "near_dedup",
            _order,
            threshold=args.near_dedup_threshold,
            num_perm=args.near_dedup_perm,
            ngram=args.near_dedup_ngram,
            write_rejects=rejects,
        )
        final = near["documents"]
        near["clusters"] | "WriteClusters" >> WriteShards(
            f"{out}/clusters", 1, key="kept", fmt="jsonl"
        )
    (
        final
        | "Document" >> beam.Map(document)
        | "Write" >> WriteShards(f"{out}/documents", args.num_shards, schema=DOCUMENT_SCHEMA)
    )
    stages = (licensed, wanted, cleaned, good)
    (read.dead, *(s.dead for s in stages)) | "DeadLetters" >> WriteDeadLetters(f"{out}/dead_letter")
    if rejects:
        rejected = (unique.rejects, one_per_path.rejects, *(s.rejects for s in stages))
        if near:
            rejected += (near["rejects"],)
        rejected | "Rejects" >> WriteRejects(f"{out}/rejected")


def main(argv: list[str] | None = None) -> dict:
    parser = options.parser(__doc__.split("\n\n")[0])
    parser.add_argument(
        "--input",
        nargs="+",
        required=True,
        help="BigQuery exports (.jsonl[.gz], .parquet), The Stack Parquet files, or "
        "directories of repositories (local, gs://; globs)",
    )
    parser.add_argument("--kind", choices=("auto", *KINDS), default="auto", help="input format")
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument(
        "--max_file_bytes",
        type=int,
        default=DEFAULT_MAX_FILE_BYTES,
        help="larger files are dead letters (BigQuery's github_repos holds files up to 1 MB)",
    )
    parser.add_argument(
        "--tokenizer",
        default=f"models/{NEOX['name']}",
        help="tokenizer.json of the alphabetic-characters-per-token rule: GPT-NeoX-20B's, as "
        "RedPajama (make models)",
    )
    parser.add_argument(
        "--near_dedup",
        action="store_true",
        help="beyond LLaMA: drop near-duplicate files (MinHash LSH on word 5-grams, as The "
        "Stack), keeping the first by repository and path; clusters go to clusters/",
    )
    parser.add_argument(
        "--near_dedup_threshold", type=float, default=0.85, help="estimated Jaccard similarity"
    )
    parser.add_argument("--near_dedup_perm", type=int, default=256, help="MinHash permutations")
    parser.add_argument("--near_dedup_ngram", type=int, default=5, help="words per shingle")
    parser.add_argument("--num_shards", type=int, default=4, help="shards of documents/")
    parser.add_argument("--write_rejects", action="store_true", help="write dropped files")
    args, beam_args = parser.parse_known_args(argv)
    preflight.check_inputs(args.input)
    launcher.setup_logging()
    pipeline_options = options.beam_options(beam_args)
    paths = options.expand_with_directories(args.input, "input")
    items = work_items(paths, args.kind)
    tokenizer = Model(
        args.tokenizer, NEOX["sha256"] if args.tokenizer.endswith(NEOX["name"]) else None
    )
    if not files.exists(tokenizer.url):
        raise SystemExit(f"missing: {tokenizer.url} (make models)")

    def own_report(counted: dict, outputs: dict) -> dict:
        languages = counted.pop(LANGUAGE_GROUP, {})
        headers = counted.pop(HEADER_GROUP, {})
        return {
            "inputs": paths,
            "work_items": len(items),
            "languages": dict(sorted(languages.items(), key=lambda kv: (-kv[1], kv[0]))),
            "headers_removed": headers.get("removed", 0),
            "models": {"tokenizer": tokenizer._asdict()},
        }

    def notes(report: dict) -> list[str]:
        top = list(report["languages"].items())[:10]
        return [
            "languages kept: " + ", ".join(f"{k} {v:,}" for k, v in top),
            f"{report['documents_per_second']:,} files/s ({report['wall_seconds']} s)",
        ]

    job = launcher.Job(
        name=SOURCE,
        output=args.output,
        build=lambda pipeline: build(pipeline, items, args, tokenizer),
        inputs=paths,
        unit="inputs",
        models={"tokenizer": tokenizer},
        total_items=len(items),
        outputs=(
            "documents",
            "dead_letter",
            *(("clusters",) * args.near_dedup),
            *(("rejected",) * args.write_rejects),
        ),
        stages=STAGES,
        report=own_report,
        notes=notes,
        dry_run={"work_items": len(items)},
    )
    parameters = {k: v for k, v in vars(args).items() if k != "input"}
    return launcher.launch(job, parameters, beam_args, pipeline_options)


if __name__ == "__main__":
    launcher.run_module("pipelines.github")
