"""The arXiv pipeline (docs/recipe/arxiv.md): arXiv LaTeX sources → one document per paper, from
its first section to its bibliography, user macros expanded.

    python -m pipelines.arxiv --input 'src/arXiv_src_*.tar' --output out/arxiv \\
        --direct_num_workers=2 --direct_running_mode=multi_processing

Inputs: arXiv's monthly bulk source tars (members: one `.gz` per paper, a tar of its files or a
single `.tex`), papers' `.gz` files, or directories of papers. Extraction never touches the disk
and refuses absolute paths, `..`, links, too many members and more than --max_paper_bytes
decompressed (a gzip bomb stops at the bound): each refusal is a counted dead letter. Stages
(report.json: read = kept + dropped):
  read      papers read; refused archives as dead letters
  assemble  the main file (the one with \\documentclass) with \\input/\\include/\\subfile inlined
            (a missing file or a cycle counted, not fatal); no main file: `no_main`
  clean     comments removed, the preamble and the bibliography dropped, appendices kept
            (--drop_appendix drops them), user macros expanded with bounds; nothing from a
            sectioning command on: `no_section`
Counted beside (not documents): sources not in UTF-8 (decoded as Latin-1), include and macro
problems. Outputs under --output: documents/, dead_letter/, rejected/ (--write_rejects),
report.json.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from functools import partial

import apache_beam as beam

from core import preflight
from core.deadletter import DeadLetter
from core.schema import document_schema
from filters.base import KEEP, Decision, Filter
from filters.latex import TEX_SUFFIXES, assemble, clean, decode
from pipelines import accounting, launcher, options
from pipelines.reading import ReadInputs
from pipelines.shards import WriteDeadLetters, WriteRejects, WriteShards
from pipelines.stages import ApplyFilters
from readers.arxiv import DEFAULT_MAX_MEMBERS, DEFAULT_MAX_PAPER_BYTES, Paper, read_arxiv

SOURCE = "arxiv"
log = logging.getLogger(SOURCE)

DOCUMENT_SCHEMA = document_schema(SOURCE)
STAGES = ("read", "assemble", "clean", "written")
PROBLEMS = "latex"  # counters that are not documents: includes, macros, encodings


def read_papers(max_paper_bytes: int, max_members: int, path: str):
    """An input → its papers as documents, or dead letters."""
    for item in read_arxiv(path, max_paper_bytes, max_members):
        yield item if isinstance(item, DeadLetter) else paper_document(item)


def paper_document(paper: Paper) -> dict:
    """A paper's sources decoded (leniently: a non-UTF-8 file is counted) and its metadata."""
    sources, latin = {}, 0
    for name, data in paper.files.items():
        if name.lower().endswith(TEX_SUFFIXES):
            sources[name], not_utf8 = decode(data)
            latin += not_utf8
    return {
        "id": f"{SOURCE}/{paper.arxiv_id}",
        "arxiv_id": paper.arxiv_id,
        "version": paper.version,
        "month": paper.month,
        "timestamp": datetime.fromtimestamp(paper.timestamp, UTC) if paper.timestamp else None,
        "sources": sources,
        "not_utf8_files": latin,
    }


class Assemble(Filter):
    """The paper's main file with its includes inlined, as `text`."""

    name = "assemble"

    def decide(self, doc: dict) -> Decision:
        if doc.pop("not_utf8_files"):
            self.count(PROBLEMS, "not_utf8_paper")
        assembled = assemble(doc.pop("sources"))
        for problem, n in assembled.problems.items():
            self.count(PROBLEMS, problem, n)
        if assembled.main is None:
            return Decision.drop("no_main")
        doc["text"], doc["main_file"] = assembled.text, assembled.main
        return KEEP


class Clean(Filter):
    """Comments, preamble and bibliography out, macros expanded; appendices kept or not."""

    name = "clean"

    def __init__(self, keep_appendix: bool = True):
        self.keep_appendix = keep_appendix

    def decide(self, doc: dict) -> Decision:
        problems: Counter = Counter()
        doc["text"] = clean(doc["text"], self.keep_appendix, problems)
        for problem, n in problems.items():
            self.count(PROBLEMS, problem, n)
        return KEEP if doc["text"].strip() else Decision.drop("no_section")


def _filters(keep_appendix: bool) -> list[Filter]:
    return [Assemble(), Clean(keep_appendix)]


def document(doc: dict) -> dict:
    accounting.count(SOURCE, "written", "kept")
    return {
        "id": doc["id"],
        "text": doc["text"],
        "source": SOURCE,
        "url": f"https://arxiv.org/abs/{doc['arxiv_id']}",
        "title": None,
        "arxiv_id": doc["arxiv_id"],
        "version": doc["version"],
        "month": doc["month"],
        "timestamp": doc["timestamp"],
        "main_file": doc["main_file"],
    }


def build(pipeline: beam.Pipeline, paths: list[str], args) -> None:
    out, rejects = args.output, args.write_rejects
    read = (
        pipeline
        | "Inputs" >> beam.Create(paths)
        | "Spread" >> beam.Reshuffle()
        | "ReadPapers"
        >> beam.ParDo(
            ReadInputs(
                SOURCE,
                partial(read_papers, args.max_paper_bytes, args.max_members),
                errors=(OSError, ValueError),  # ValueError: not a tar, .gz or directory
            )
        ).with_outputs("dead", main="papers")
    )
    papers = read.papers | "SpreadPapers" >> beam.Reshuffle()  # a monthly tar's, over workers
    cleaned = papers | "Clean" >> ApplyFilters(
        SOURCE, partial(_filters, not args.drop_appendix), write_rejects=rejects
    )
    (
        cleaned.documents
        | "Document" >> beam.Map(document)
        | "Write" >> WriteShards(f"{out}/documents", args.num_shards, schema=DOCUMENT_SCHEMA)
    )
    (read.dead, cleaned.dead) | "DeadLetters" >> WriteDeadLetters(f"{out}/dead_letter")
    if rejects:
        (cleaned.rejects,) | "Rejects" >> WriteRejects(f"{out}/rejected")


def main(argv: list[str] | None = None) -> dict:
    parser = options.parser(__doc__.split("\n\n")[0])
    parser.add_argument(
        "--input",
        nargs="+",
        required=True,
        help="monthly source tars (arXiv_src_*.tar), papers' .gz files or directories of papers",
    )
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument("--drop_appendix", action="store_true", help="drop appendices too")
    parser.add_argument(
        "--max_paper_bytes",
        type=int,
        default=DEFAULT_MAX_PAPER_BYTES,
        help="a paper larger than this, decompressed, is refused (a dead letter)",
    )
    parser.add_argument(
        "--max_members", type=int, default=DEFAULT_MAX_MEMBERS, help="files in one paper, at most"
    )
    parser.add_argument("--num_shards", type=int, default=4, help="shards of documents/")
    parser.add_argument("--write_rejects", action="store_true", help="write dropped papers")
    args, beam_args = parser.parse_known_args(argv)
    preflight.check_inputs(args.input)
    launcher.setup_logging()
    pipeline_options = options.beam_options(beam_args)
    paths = options.expand_with_directories(args.input, "input")

    def own_report(counted: dict, outputs: dict) -> dict:
        return {"inputs": paths, "latex": counted.pop(PROBLEMS, {})}

    job = launcher.Job(
        name=SOURCE,
        output=args.output,
        build=partial(build, paths=paths, args=args),
        inputs=paths,
        unit="inputs",
        outputs=("documents", "dead_letter", *(("rejected",) * args.write_rejects)),
        stages=STAGES,
        report=own_report,
        dry_run={"inputs": len(paths)},
    )
    parameters = {k: v for k, v in vars(args).items() if k != "input"}
    return launcher.launch(job, parameters, beam_args, pipeline_options)


if __name__ == "__main__":
    launcher.run_module("pipelines.arxiv")
