"""Checks before a run starts: its inputs exist, its output can be written, its models load.

A run that would fail on its first document (a missing dump, an output directory it cannot
create) or in a worker (a truncated model) fails here instead, before anything is read or
cleared, with one line that names the file and, for a model, the make target that rebuilds it.
Remote paths (gs://, https://) are not checked: the workers read those, and listing a bucket
here would not prove that they can.

Models are told apart by their names, as `make` lays them out (models/lid.176.ftz,
models/lm/<lang>.sp.model, .arpa.bin, .cutoffs.json, models/wikiref.npz, tokenizer .model and
tokenizer.json). A model whose card gives its SHA-256 is hashed first: fastText "loads" a
truncated .ftz (reading past its end for a minute) instead of failing.
"""

from __future__ import annotations

import glob
import json
import os
import uuid
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from core import files

KENLM_MAGIC = b"mmap lm http://kheafield.com/code format version 5\n\0"
WIKIREF_ARRAYS = frozenset({"weights", "bias", "features", "ngrams"})
MAX_JSON_BYTES = 256 << 20  # a cut-offs file or a tokenizer.json; anything larger is not one


class PreflightError(Exception):
    """A run that cannot succeed, found before it starts; the message names the file."""


def check_inputs(paths: Iterable[str]) -> None:
    """Each local path exists, each local glob matches something. Patterns with `**` are left
    to Beam's matching (options.expand), whose `**` also crosses directories inside a name."""
    for path in paths:
        if files.is_remote(path) or "**" in path:
            continue
        if not (glob.glob(path) if glob.has_magic(path) else os.path.exists(path)):
            raise PreflightError(f"{path}: no such input")


def check_output(directory: str) -> None:
    """The output directory can be created and written: a probe file is written and removed
    (named as a temporary file, so a run deletes one a crash left)."""
    if files.is_remote(directory):
        return
    probe = os.path.join(directory, f"{files.TMP_PREFIX}preflight-{uuid.uuid4().hex}")
    try:
        os.makedirs(directory, exist_ok=True)
        with open(probe, "wb") as fh:
            fh.write(b"probe")
        os.unlink(probe)
    except OSError as exc:
        raise PreflightError(
            f"{directory}: the output directory is not writable ({exc.strerror or exc})"
        ) from None


def rebuild_target(path: str) -> str:
    """The make target that rebuilds the model at `path`."""
    name = os.path.basename(path)
    lang = name.split(".")[0]
    if name.endswith((".arpa.bin", ".sp.model", ".cutoffs.json")):
        return f"make lm LM_LANG={lang}"
    if name.endswith(".npz"):
        return "make wikiref"
    if name.endswith(".model"):
        return "make tokenizer"
    return "make models"


def check_model(path: str, sha256: str | None = None) -> None:
    """The model at `path` is a file of its kind that loads (and has `sha256`, when given)."""
    if files.is_remote(path):
        return
    name = os.path.basename(path)
    rebuild = rebuild_target(path)
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        raise PreflightError(f"{path}: model missing or empty; rebuild it: {rebuild}")
    kenlm = name.endswith(".arpa.bin")
    # KenLM checks the size its header promises; hashing its GBs on every run is not cheap.
    if sha256 and not kenlm and (found := files.file_sha256(path)) != sha256:
        raise PreflightError(
            f"{path}: sha256 {found[:12]}… is not its model card's {sha256[:12]}… (truncated "
            f"or replaced); rebuild it: {rebuild}"
        )
    try:
        if kenlm:
            _kenlm(path)
        elif name.endswith((".ftz", ".bin")):
            _fasttext(path)
        elif name.endswith(".model"):
            _sentencepiece(path)
        elif name.endswith(".npz"):
            _wikiref(path)
        elif name.endswith(".json"):
            _json(path)
    except PreflightError as exc:
        raise PreflightError(f"{path}: {exc}; rebuild it: {rebuild}") from None
    except (OSError, ValueError, RuntimeError, KeyError, zipfile.BadZipFile) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PreflightError(f"{path}: does not load ({reason}); rebuild it: {rebuild}") from None


def check_models(models: Mapping[str, tuple[str, str | None]]) -> None:
    """`check_model` on each (path, sha256) by role."""
    for path, sha256 in models.values():
        check_model(path, sha256)


def _kenlm(path: str) -> None:
    with open(path, "rb") as fh:
        head = fh.read(len(KENLM_MAGIC))
    if head != KENLM_MAGIC:
        start = head[:12].decode("utf-8", "replace")
        raise PreflightError(
            f"not a KenLM binary (it starts with {start!r}; build_binary makes one from an ARPA "
            "file)"
        )
    import kenlm

    config = kenlm.Config()
    config.load_method = kenlm.LoadMethod.LAZY  # maps the file: checks its size, reads nothing
    kenlm.Model(path, config)


def _fasttext(path: str) -> None:
    import fasttext

    fasttext.FastText.eprint = lambda *_: None  # its load-time deprecation notice
    fasttext.load_model(path)


def _sentencepiece(path: str) -> None:
    import sentencepiece

    sentencepiece.SentencePieceProcessor(model_file=path)


def _wikiref(path: str) -> None:
    import numpy as np

    with np.load(path, allow_pickle=False) as arrays:
        missing = WIKIREF_ARRAYS - set(arrays.files)
        if missing:
            raise PreflightError(f"not a wikiref classifier (no {', '.join(sorted(missing))})")
        for key in sorted(WIKIREF_ARRAYS):  # each read whole: a truncated member fails its CRC
            if arrays[key].size == 0:
                raise PreflightError(f"not a wikiref classifier ({key} is empty)")


def _json(path: str) -> None:
    if os.path.getsize(path) > MAX_JSON_BYTES:
        raise PreflightError(f"larger than {MAX_JSON_BYTES} bytes: not a model's JSON")
    json.loads(Path(path).read_bytes())
