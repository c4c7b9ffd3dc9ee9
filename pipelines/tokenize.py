"""The tokenize pipeline: each source's documents (Parquet) → token shards (Arrow IPC) + manifest.

    python -m pipelines.tokenize --input out --output out/tokens \\
        --tokenizer models/tokenizer/llama1.model --mixture llama1 --num_shards 4 \\
        --direct_num_workers=2 --direct_running_mode=multi_processing

Sources: --sources, or the --mixture's sources that have documents under --input (the others are
reported as missing), or every source that has documents. A source's documents are
`<input>/<source>/documents/**/part-*.parquet` (columns `id` and `text`; others are ignored),
and `<input>/<source>/report.json` must exist: a source whose pipeline did not finish (a killed
run leaves whole shards, but not all of them) is refused before anything runs (exit status 2).

Row groups are read and encoded in parallel (tokenizer/encode.py: the model is loaded once per
worker and documents are encoded in batches). A document goes to shard blake2b(id) mod N; a
shard's documents are sorted by id and written through a temporary name, every shard of the N
(empty ones too), so the same documents give byte-identical shards on any runner. After all
shards of a source, files of an earlier run with another shard count are deleted and the
source's _manifest.json is written, last. Decoding a document's tokens gives its text back exactly
(identity normalisation, byte fallback), except that a literal "▁" (U+2581) comes back as a space:
SentencePiece reads it as one. Outputs, under --output:
  <source>/part-SSSSS-of-NNNNN.arrow  `id: string, tokens: list<uint16>` (tokenizer/shards.py)
  <source>/_manifest.json documents, tokens, UTF-8 bytes, per-shard counts and sha256, tokenizer
  dead_letter/            unreadable files and row groups, invalid rows (no id, null text)
  report.json             read / kept / dropped_<reason> per source, tokens, bytes, timings
"""

from __future__ import annotations

import json
import logging

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from core import files as core_files
from core import preflight
from core.files import write_atomically
from core.manifest import LEGACY_MANIFEST, MANIFEST, NOT_SOURCES
from mixtures.mixture import SOURCES, MixtureError, load_mixture
from pipelines import accounting, launcher, options, progress
from pipelines.shards import (
    WriteDeadLetters,
    remove_stale,
    shard_name,
    shard_of,
)
from pipelines.staging import Model
from tokenizer.encode import Encoder
from tokenizer.shards import manifest, shard_bytes, shard_entry

NAMESPACE = "tokenize"
SUFFIX = ".arrow"
DEAD_LETTER = "dead_letter"
log = logging.getLogger(NAMESPACE)


def document_files(input_dir: str, source: str) -> list[str]:
    """`<input>/<source>/documents/` Parquet parts, at the top or in subdirectories (buckets)."""
    base = FileSystems.join(input_dir, source, "documents")
    patterns = [FileSystems.join(base, "part-*.parquet"), FileSystems.join(base, "**.parquet")]
    found = {
        m.path
        for result in FileSystems.match(patterns)
        for m in result.metadata_list
        if m.path.rsplit("/", 1)[-1].startswith("part-")
    }
    return sorted(found)


def _open(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _dead(source: str, path: str, reason: str, error: str, row_group=None, row=None, doc_id=None):
    return {
        "source": source,
        "file": path,
        "row_group": row_group,
        "row": row,
        "id": doc_id,
        "reason": reason,
        "error": error,
    }


def _dead_letter_order(record: dict) -> tuple:
    position = tuple(-1 if record[k] is None else record[k] for k in ("row_group", "row"))
    return (record["source"], record["file"], *position, record["reason"], record["error"])


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


class ListRowGroups(beam.DoFn):
    """(source, file) → (source, file, row group) work items; an unusable file is a dead letter."""

    def process(self, item: tuple[str, str]):
        source, path = item
        try:
            with _open(path) as fh:
                parquet = pq.ParquetFile(fh)
                schema, groups = parquet.schema_arrow, parquet.num_row_groups
        except Exception as exc:  # any unreadable file costs that file, not the run
            accounting.count(NAMESPACE, source, "input_errors")
            error = f"{type(exc).__name__}: {exc}"
            yield beam.pvalue.TaggedOutput("dead", _dead(source, path, "unreadable_file", error))
            return
        wrong = [
            c for c in ("id", "text") if c not in schema.names or not _is_text(schema.field(c).type)
        ]
        if wrong:
            accounting.count(NAMESPACE, source, "input_errors")
            error = f"no string column {' or '.join(wrong)} in schema {schema}"
            yield beam.pvalue.TaggedOutput("dead", _dead(source, path, "bad_schema", error))
            return
        progress.add(total=groups)
        for group in range(groups):
            yield source, path, group


class ReadAndEncode(beam.DoFn):
    """A row group → ((source, shard), (id, uint16 token bytes, UTF-8 bytes)) per document."""

    def __init__(self, model_path: str, sha256: str, num_shards: int, batch: int, threads: int):
        self.model_path, self.sha256, self.num_shards = model_path, sha256, num_shards
        self.batch, self.threads = batch, threads

    def setup(self):
        with _open(self.model_path) as fh:
            model = fh.read()
        self.encoder = Encoder(model, name=self.model_path, num_threads=self.threads)
        if self.encoder.sha256 != self.sha256:
            raise RuntimeError(f"{self.model_path} changed during the run (sha256 differs)")

    def process(self, item: tuple[str, str, int]):
        source, path, group = item
        try:
            with _open(path) as fh:
                table = pq.ParquetFile(fh).read_row_group(group, columns=["id", "text"])
        except Exception as exc:  # a damaged row group costs its rows, not the run
            accounting.count(NAMESPACE, source, "input_errors")
            error = f"{type(exc).__name__}: {exc}"
            dead = _dead(source, path, "unreadable_row_group", error, group)
            yield beam.pvalue.TaggedOutput("dead", dead)
            return
        ids = table.column("id").to_pylist()
        texts = table.column("text").to_pylist()
        sizes = pc.binary_length(table.column("text")).to_pylist()
        accounting.count(NAMESPACE, source, "read", len(ids))
        batch: list[tuple[str, str, int]] = []
        for row, (doc_id, text, size) in enumerate(zip(ids, texts, sizes, strict=True)):
            if not doc_id or text is None:
                reason, error = ("no_id", "no id") if not doc_id else ("null_text", "text is null")
                accounting.count(NAMESPACE, source, "dropped_invalid")
                dead = _dead(source, path, reason, error, group, row, doc_id)
                yield beam.pvalue.TaggedOutput("dead", dead)
            elif not text:
                accounting.count(NAMESPACE, source, "dropped_empty")
            else:
                batch.append((doc_id, text, size))
                if len(batch) >= self.batch:
                    yield from self._encode(source, batch)
                    batch = []
        yield from self._encode(source, batch)
        progress.add(done=1)

    def _encode(self, source: str, batch: list[tuple[str, str, int]]):
        tokens = self.encoder.encode([text for _, text, _ in batch])
        for (doc_id, _, size), ids in zip(batch, tokens, strict=True):
            yield (source, shard_of(doc_id, self.num_shards)), (doc_id, ids.tobytes(), size)


class WriteTokenShard(beam.DoFn):
    """A shard's documents (sorted by id, one per id) → its Arrow file; emits its manifest entry."""

    def __init__(self, output: str, num_shards: int):
        self.output, self.num_shards = output, num_shards

    def process(self, element):
        (source, shard), values = element
        documents = sorted(v for v in values if v is not None)
        ids: list[str] = []
        arrays: list[np.ndarray] = []
        text_bytes = 0
        for doc_id, tokens, size in documents:
            if ids and ids[-1] == doc_id:  # the same id twice: the first in sort order stays
                accounting.count(NAMESPACE, source, "dropped_duplicate")
                continue
            ids.append(doc_id)
            arrays.append(np.frombuffer(tokens, dtype=np.uint16))
            text_bytes += size
        data = shard_bytes(ids, arrays)
        path = shard_name(FileSystems.join(self.output, source), shard, self.num_shards, SUFFIX)
        write_atomically(path, data)
        accounting.count(NAMESPACE, source, "kept", len(ids))
        tokens = sum(len(a) for a in arrays)
        yield source, shard_entry(path, len(ids), tokens, text_bytes, data=data)


def finish_source(source: str, entries, output: str, num_shards: int, tokenizer: dict) -> dict:
    """After every shard of a source: delete other runs' shards, then write _manifest.json."""
    directory = FileSystems.join(output, source)
    remove_stale(directory, num_shards, SUFFIX)
    body = manifest(source, tokenizer, sorted(entries, key=lambda e: e["file"]))
    data = json.dumps(body, indent=1, sort_keys=True).encode() + b"\n"
    write_atomically(FileSystems.join(directory, MANIFEST), data)
    return body


def build(pipeline: beam.Pipeline, files: dict[str, list[str]], tokenizer: dict, args) -> None:
    n = args.num_shards
    items = [(source, path) for source in sorted(files) for path in files[source]]
    groups = (
        pipeline
        | "Files" >> beam.Create(items)
        | "RowGroups" >> beam.ParDo(ListRowGroups()).with_outputs("dead", main="groups")
    )
    encode = ReadAndEncode(args.tokenizer, tokenizer["sha256"], n, args.batch, args.threads)
    encoded = (
        groups.groups
        | "Spread" >> beam.Reshuffle()
        | "ReadAndEncode" >> beam.ParDo(encode).with_outputs("dead", main="documents")
    )
    # One empty marker per shard, so that every shard of every source is written.
    shards = [((source, shard), None) for source in sorted(files) for shard in range(n)]
    (
        (encoded.documents, pipeline | "EveryShard" >> beam.Create(shards))
        | "WithEveryShard" >> beam.Flatten()
        | "GroupByShard" >> beam.GroupByKey()
        | "WriteShards" >> beam.ParDo(WriteTokenShard(args.output, n))
        | "GroupBySource" >> beam.GroupByKey()
        | "Manifests" >> beam.Map(lambda kv: finish_source(*kv, args.output, n, tokenizer))
    )
    (groups.dead, encoded.dead) | "DeadLetters" >> WriteDeadLetters(
        FileSystems.join(args.output, DEAD_LETTER), _dead_letter_order
    )


def choose_sources(args) -> tuple[dict[str, list[str]], list[str]]:
    """{source: document files} to tokenize, and the wanted sources that have no documents."""
    if args.sources:
        wanted, explicit = args.sources.split(","), True
    elif args.mixture:
        try:
            wanted, explicit = list(load_mixture(args.mixture).sources), False
        except MixtureError as exc:
            raise SystemExit(str(exc)) from None
    else:
        wanted, explicit = list(SOURCES), False
    files = {source: document_files(args.input, source) for source in wanted}
    missing = [source for source, paths in files.items() if not paths]
    if missing and explicit:
        where = ", ".join(FileSystems.join(args.input, s, "documents") for s in missing)
        raise SystemExit(f"no documents (part-*.parquet) under {where}: run `make {missing[0]}`")
    if len(missing) == len(files):
        raise SystemExit(
            f"no documents of any of {', '.join(wanted)} under {args.input}/<source>/documents: "
            "run a source's pipeline first (`make wikipedia`, `make commoncrawl`)"
        )
    return {s: p for s, p in files.items() if p}, missing


def check_other_sources(output: str, sources: list[str], sha256: str) -> None:
    """Refuse to add shards of one tokenizer next to another source's shards of a different one."""
    patterns = [FileSystems.join(output, "*", name) for name in (MANIFEST, LEGACY_MANIFEST)]
    for match in (m for found in FileSystems.match(patterns) for m in found.metadata_list):
        other = match.path.rsplit("/", 2)[-2]
        if other in NOT_SOURCES:
            continue
        body = core_files.read_json(match.path) or {}
        theirs = body.get("tokenizer", {}).get("sha256")
        if other not in sources and theirs != sha256:
            raise SystemExit(
                f"{match.path}: {other} was tokenized by {body.get('tokenizer', {}).get('path')} "
                f"(sha256 {str(theirs)[:12]}…), not this tokenizer ({sha256[:12]}…); token shards "
                f"of one corpus must share a tokenizer: add --sources {other},{','.join(sources)} "
                "to re-tokenize it too, or write to another --output"
            )


def load_tokenizer(path: str) -> tuple[Encoder, dict]:
    if not FileSystems.exists(path):
        raise SystemExit(f"{path}: no such tokenizer model; train it with `make tokenizer`")
    with _open(path) as fh:
        model = fh.read()
    try:
        encoder = Encoder(model, name=path)
    except (ValueError, RuntimeError, OSError) as exc:
        raise SystemExit(f"{path}: not a usable SentencePiece model ({exc})") from None
    return encoder, {"path": path, "sha256": encoder.sha256, "vocab_size": encoder.vocab_size}


def _outputs(output: str, manifests: dict[str, dict]) -> dict[str, dict]:
    """What the end-of-run table lists: each source's shards (file bytes), the dead letters."""
    outputs = {}
    for source, body in manifests.items():
        directory = FileSystems.join(output, source)
        pattern = FileSystems.join(directory, f"part-*{SUFFIX}")
        files = FileSystems.match([pattern])[0].metadata_list
        outputs[source] = {
            "rows": body.get("documents", 0),
            "bytes": sum(m.size_in_bytes for m in files),
            "num_shards": body.get("num_shards", 0),
            "directory": directory,
        }
    outputs[DEAD_LETTER] = accounting.read_manifest(FileSystems.join(output, DEAD_LETTER))
    return outputs


def _tokens_table(sources: dict[str, dict]):
    from rich.table import Table

    table = Table(title="tokens")
    for column in ("source", "documents", "tokens", "text bytes", "bytes/token"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for source, body in sources.items():
        per = body["bytes"] / body["tokens"] if body.get("tokens") else 0.0
        cells = [f"{body.get(k) or 0:,}" for k in ("documents", "tokens", "bytes")]
        table.add_row(source, *cells, f"{per:.2f}")
    return table


def main(argv: list[str] | None = None) -> dict:
    parser = options.parser(__doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, help="directory holding <source>/documents/")
    parser.add_argument("--output", required=True, help="token shard directory (out/tokens)")
    parser.add_argument("--tokenizer", required=True, help="SentencePiece .model (make tokenizer)")
    parser.add_argument("--sources", help="comma-separated sources (each must have documents)")
    parser.add_argument(
        "--mixture", help="take the sources of this mixture (name or YAML path) that have documents"
    )
    parser.add_argument(
        "--num_shards",
        type=int,
        default=4,
        help="token shards per source (a worker holds one shard's tokens, 2 bytes each, to write "
        "it: pick N for shards of at most about 1 GB)",
    )
    parser.add_argument("--batch", type=int, default=1024, help="documents per encoder call")
    parser.add_argument("--threads", type=int, default=1, help="encoder threads per worker")
    args, beam_args = parser.parse_known_args(argv)
    if args.num_shards < 1:
        parser.error("--num_shards must be at least 1")
    preflight.check_inputs([args.input])
    launcher.setup_logging()
    pipeline_options = options.beam_options(beam_args)
    encoder, tokenizer = load_tokenizer(args.tokenizer)
    files, missing = choose_sources(args)
    for source in files:  # a killed or failed run's documents may be missing shards
        if not core_files.exists(FileSystems.join(args.input, source, launcher.REPORT)):
            raise preflight.PreflightError(
                f"{FileSystems.join(args.input, source)}: no {launcher.REPORT}, so its pipeline "
                f"did not finish and its documents may be partial: run `make {source}`"
            )
    if missing:
        log.warning("no documents for %s under %s: not tokenized", ", ".join(missing), args.input)
    log.info(
        "%s; tokenizer %s (%d pieces, word cache %s)",
        ", ".join(f"{s}: {len(p)} files" for s, p in files.items()),
        args.tokenizer,
        encoder.vocab_size,
        "on" if encoder.word_cache else "off: plain batch encoding",
    )
    if not launcher.is_dry_run(pipeline_options):
        check_other_sources(args.output, list(files), tokenizer["sha256"])

    def own_report(counted: dict, outputs: dict) -> dict:
        manifests = {
            s: core_files.read_json(FileSystems.join(args.output, s, MANIFEST)) or {}
            for s in sorted(files)
        }
        return {
            "sources": {
                s: {k: m.get(k) for k in ("documents", "tokens", "bytes", "num_shards")}
                for s, m in manifests.items()
            },
            "outputs": _outputs(args.output, manifests),
            "missing_sources": missing,
            "tokenizer": tokenizer,
            "tokens": sum(m.get("tokens", 0) for m in manifests.values()),
        }

    # The token manifests of the sources this run rewrites go before it (not other sources').
    job = launcher.Job(
        name=NAMESPACE,
        output=args.output,
        build=lambda pipeline: build(pipeline, files, tokenizer, args),
        inputs=[path for paths in files.values() for path in paths],
        unit="row groups",
        total_items=0,  # the row groups are counted as the files are opened
        groups_key="by_source",
        rate="tokens_per_second",
        rate_of=lambda total, report: report["tokens"],
        report=own_report,
        notes=lambda report: [_tokens_table(report["sources"])],
        dry_run={"sources": sorted(files)},
        clear=[FileSystems.join(args.output, d) for d in [DEAD_LETTER, *files]],
        named_source=False,
        models={"tokenizer": Model(args.tokenizer, tokenizer["sha256"])},
    )
    return launcher.launch(job, vars(args), beam_args, pipeline_options)


if __name__ == "__main__":
    launcher.run_module("pipelines.tokenize")
