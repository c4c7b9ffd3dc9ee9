"""Train a language's SentencePiece + 5-gram KenLM pair, which CommonCrawl perplexity is scored by.

CCNet's recipe on the Wikipedia pipeline's output: the opening paragraphs of up to 1M articles
(whole articles where a language has too few openings), normalised as the scorer normalises, one
training sentence per line; a unigram SentencePiece model (vocabulary 65,536, character coverage
0.9995, hard limit); the text tokenised with it into `lmplz -o 5 --discount_fallback`, then
`build_binary`. Writes <out>/<lang>.sp.model, .sp.vocab, .arpa.bin and a model card <lang>.json.

    python -m filtermodels.lm --lang en --wikipedia out/wikipedia --out models/lm
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import sentencepiece

from core.files import file_sha256, write_atomically
from core.spm import largest_vocab, sentencepiece_bytes, vocab_text
from filters.text_normalizer import normalize_for_lm

log = logging.getLogger("lm")

ORDER: Final = 5
# `--text auto` trains on openings when at least this many documents have one (CCNet used 1M).
AUTO_MIN_OPENINGS: Final = 10_000
SP_SETTINGS: Final[dict[str, Any]] = {
    "model_type": "unigram",
    "character_coverage": 0.9995,
    "hard_vocab_limit": True,
    # The trained model depends on the thread count (the EM splits sentences by thread), so it
    # is fixed here, not taken from the machine: the same text gives the same model anywhere.
    "num_threads": 16,
}
LMPLZ_MEMORY: Final = "20%"
# SentencePiece's message: "Vocabulary size too high (65536). Please set it to a value <= 1046."
_ENCODE_BATCH: Final = 10_000


class LMError(Exception):
    """A failure the user can act on; `main` exits non-zero with its message."""


def find_tool(name: str) -> str:
    """KenLM's binaries: `make setup` installs them next to the virtualenv's python."""
    beside = Path(sys.executable).parent / name
    if os.access(beside, os.X_OK):
        return str(beside)
    on_path = shutil.which(name)
    if on_path is None:
        raise LMError(
            f"KenLM's `{name}` is neither in {beside.parent} nor on PATH: run `make setup`"
        )
    return on_path


def _dataset(wikipedia: Path, kind: str) -> ds.Dataset | None:
    files = sorted((wikipedia / kind).glob("part-*.parquet"))
    return ds.dataset([str(f) for f in files], format="parquet") if files else None


def _of_language(lang: str) -> ds.Expression:
    return (pc.field("language") == lang) & (pc.field("text") != "")


def read_documents(dataset: ds.Dataset, lang: str, max_docs: int) -> pa.Table:
    """The first `max_docs` non-empty texts of `lang` in id order (id, text), sharding aside.

    Two passes keep memory to the selected texts: ids alone find the cut-off id, then only
    texts up to it are read.
    """
    ids = dataset.to_table(columns=["id"], filter=_of_language(lang)).sort_by("id")["id"]
    if len(ids) == 0:
        return pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())})
    last = ids[min(max_docs, len(ids)) - 1].as_py()
    selected = dataset.to_table(
        columns=["id", "text"], filter=_of_language(lang) & (pc.field("id") <= last)
    )
    return selected.sort_by("id").slice(0, max_docs)


def write_training_text(documents: pa.Table, path: Path) -> dict[str, int]:
    """One normalised, non-empty line per training sentence: the unit the scorer scores."""
    counts = {"documents": 0, "lines": 0, "characters": 0}
    with path.open("w", encoding="utf-8") as out:
        for text in documents["text"].to_pylist():
            lines = [line for line in normalize_for_lm(text).split("\n") if line]
            if lines:
                out.write("\n".join(lines) + "\n")
                counts["documents"] += 1
                counts["lines"] += len(lines)
                counts["characters"] += sum(map(len, lines))
    return counts


def train_sentencepiece(text: Path, vocab_size: int) -> tuple[bytes, int]:
    """The model and its vocabulary size, shrunk to SentencePiece's maximum for a small corpus."""
    try:
        return sentencepiece_bytes(text, vocab_size=vocab_size, **SP_SETTINGS), vocab_size
    except RuntimeError as err:
        allowed = largest_vocab(err)
        if allowed is None:
            raise LMError(f"SentencePiece training failed: {err}") from err
    log.warning(
        "the training text is too small for a vocabulary of %d pieces: SentencePiece allows at "
        "most %d, so the model gets %d (requested %d)",
        vocab_size, allowed, allowed, vocab_size,
    )  # fmt: skip
    try:
        return sentencepiece_bytes(text, vocab_size=allowed, **SP_SETTINGS), allowed
    except RuntimeError as err:
        raise LMError(f"SentencePiece training with vocab_size={allowed} failed: {err}") from err


def _batches(lines: Iterable[str]) -> Iterator[list[str]]:
    while batch := [line.rstrip("\n") for line in itertools.islice(lines, _ENCODE_BATCH)]:
        yield batch


def tokenize(model: bytes, text: Path, tokens: Path) -> dict[str, int]:
    """Pieces joined by spaces, a line per sentence: what the scorer hands KenLM."""
    sp = sentencepiece.SentencePieceProcessor(model_proto=model)
    counts = {"sentences": 0, "tokens": 0}
    with text.open(encoding="utf-8") as src, tokens.open("w", encoding="utf-8") as out:
        for batch in _batches(src):
            encoded = sp.encode(batch, out_type=str, num_threads=SP_SETTINGS["num_threads"])
            for pieces in encoded:
                if pieces:  # the scorer skips lines without a token as well
                    out.write(" ".join(pieces) + "\n")
                    counts["sentences"] += 1
                    counts["tokens"] += len(pieces)
    return counts


def _run(cmd: list[str], what: str, **kwargs: Any) -> None:
    # KenLM's lmplz/build_binary from the build folder: an argument list, never a shell.
    proc = subprocess.run(cmd, stderr=subprocess.PIPE, text=True, **kwargs)  # noqa: S603
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise LMError(f"{what} failed (exit {proc.returncode}): {shlex.join(cmd)}\n{tail}")


def _choose_text(wikipedia: Path, lang: str, text: str) -> tuple[str, ds.Dataset]:
    articles = _dataset(wikipedia, "documents")
    openings = _dataset(wikipedia, "openings")
    if text == "auto":
        have = openings.count_rows(filter=_of_language(lang)) if openings else 0
        text = "openings" if have >= AUTO_MIN_OPENINGS else "articles"
        log.info(
            "--text auto: %d documents in %s have an opening (%d needed): training on %s",
            have, lang, AUTO_MIN_OPENINGS, text,
        )  # fmt: skip
    dataset = openings if text == "openings" else articles
    if dataset is None:
        kind = "openings" if text == "openings" else "documents"
        raise LMError(
            f"no Parquet files in {wikipedia / kind} (part-*.parquet): run the Wikipedia "
            "pipeline first (make wikipedia) or point --wikipedia at its output"
        )
    return text, dataset


def train(
    wikipedia: Path, lang: str, out: Path, text: str, max_docs: int, vocab_size: int
) -> dict[str, Any]:
    """Trains the pair into `out` and returns the model card it writes there as <lang>.json."""
    if not wikipedia.is_dir():
        raise LMError(f"{wikipedia}: no such directory (the Wikipedia pipeline's output)")
    lmplz, build_binary = find_tool("lmplz"), find_tool("build_binary")
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    try:
        chosen, dataset = _choose_text(wikipedia, lang, text)
        documents = read_documents(dataset, lang, max_docs)
        if len(documents) == 0:
            present = pc.unique(dataset.to_table(columns=["language"])["language"]).to_pylist()
            raise LMError(
                f"no {chosen} with language {lang!r} under {wikipedia} "
                f"(languages there: {', '.join(sorted(map(str, present))) or 'none'})"
            )
    except (pa.ArrowException, OSError) as err:
        raise LMError(f"cannot read the Wikipedia output under {wikipedia}: {err}") from err
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{lang}.lm-", dir=out) as tmp_name:
        tmp = Path(tmp_name)
        corpus = write_training_text(documents, tmp / "text.txt")
        del documents  # up to gigabytes of articles, not needed while SentencePiece trains
        seconds["read"] = time.perf_counter() - start
        log.info("%s: %d %s, %d lines, %d characters", lang, corpus["documents"], chosen,
                 corpus["lines"], corpus["characters"])  # fmt: skip

        start = time.perf_counter()
        model, actual_vocab = train_sentencepiece(tmp / "text.txt", vocab_size)
        (tmp / "sp.model").write_bytes(model)
        (tmp / "sp.vocab").write_text(vocab_text(model), encoding="utf-8")
        seconds["sentencepiece"] = time.perf_counter() - start
        log.info("sentencepiece: %d pieces in %.1f s", actual_vocab, seconds["sentencepiece"])

        start = time.perf_counter()
        tokens = tokenize(model, tmp / "text.txt", tmp / "tokens.txt")
        seconds["tokenize"] = time.perf_counter() - start
        log.info("tokenised: %d sentences, %d tokens", tokens["sentences"], tokens["tokens"])

        start = time.perf_counter()
        lmplz_cmd = [lmplz, "-o", str(ORDER), "--discount_fallback", "-S", LMPLZ_MEMORY,
                     "-T", f"{tmp}{os.sep}"]  # fmt: skip
        with (tmp / "tokens.txt").open("rb") as src, (tmp / "lm.arpa").open("wb") as arpa:
            _run(lmplz_cmd, "lmplz", stdin=src, stdout=arpa)
        seconds["lmplz"] = time.perf_counter() - start
        log.info("lmplz: %d-gram ARPA in %.1f s", ORDER, seconds["lmplz"])

        start = time.perf_counter()
        binary_cmd = [build_binary, str(tmp / "lm.arpa"), str(tmp / "arpa.bin")]
        _run(binary_cmd, "build_binary", stdout=subprocess.DEVNULL)
        (tmp / "lm.arpa").unlink()
        seconds["build_binary"] = time.perf_counter() - start
        log.info("build_binary: %.1f s", seconds["build_binary"])

        files = {}
        for suffix in ("sp.model", "sp.vocab", "arpa.bin"):
            name = f"{lang}.{suffix}"
            path = tmp / suffix
            files[name] = {"sha256": file_sha256(path), "bytes": path.stat().st_size}
            os.replace(path, out / name)
        card = {
            "language": lang,
            "wikipedia": str(wikipedia),
            "text_requested": text,
            "text": chosen,
            "max_docs": max_docs,
            **corpus,
            "vocab_size_requested": vocab_size,
            "vocab_size": actual_vocab,
            "order": ORDER,
            "sentencepiece": {**SP_SETTINGS, "version": sentencepiece.__version__},
            "kenlm": {
                **tokens,
                # The temporary directory is gone once this returns: name it, not its path.
                "lmplz": shlex.join(lmplz_cmd).replace(tmp_name, "$TMP")
                + " < $TMP/tokens.txt > $TMP/lm.arpa",
                "build_binary": shlex.join(binary_cmd).replace(tmp_name, "$TMP"),
            },
            "files": files,
            "seconds": {step: round(s, 3) for step, s in seconds.items()},
        }
        write_atomically(out / f"{lang}.json", (json.dumps(card, indent=1) + "\n").encode())
    return card


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lang", required=True, help="language code, as in the `language` column")
    parser.add_argument("--wikipedia", type=Path, required=True, help="Wikipedia pipeline output")
    parser.add_argument("--out", type=Path, default=Path("models/lm"), help="model directory")
    parser.add_argument(
        "--text",
        choices=["openings", "articles", "auto"],
        default="auto",
        help=f"openings (CCNet), whole articles, or openings when >= {AUTO_MIN_OPENINGS:,} exist",
    )
    parser.add_argument("--max_docs", type=int, default=1_000_000, help="documents, in id order")
    parser.add_argument("--vocab_size", type=int, default=65536, help="SentencePiece vocabulary")
    args = parser.parse_args(argv)
    if args.max_docs < 1 or args.vocab_size < 1:
        parser.error("--max_docs and --vocab_size must be positive")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        card = train(args.wikipedia, args.lang, args.out, args.text, args.max_docs, args.vocab_size)
    except LMError as err:
        raise SystemExit(f"filtermodels.lm: error: {err}") from None
    print(
        f"{card['language']}: {card['documents']:,} {card['text']}, {card['lines']:,} lines, "
        f"{card['characters']:,} characters\n"
        f"  sentencepiece: {card['vocab_size']:,} pieces (requested "
        f"{card['vocab_size_requested']:,})\n"
        f"  kenlm: order {ORDER}, {card['kenlm']['tokens']:,} tokens\n"
        f"  wrote {', '.join(card['files'])} and {card['language']}.json to {args.out}"
    )


if __name__ == "__main__":
    main()
