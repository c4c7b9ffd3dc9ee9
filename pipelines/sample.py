"""Build the bundled sample corpus, deterministically and offline, from registry packages.

Wikipedia: the real English and Bulgarian dump excerpts shipped as test data in the `gensim`
wheel, as single-stream dumps and as multistream copies (bz2 streams of 100 pages plus the
`-multistream-index.txt.bz2` index, the layout Wikimedia publishes), so the parallel reader runs
on the sample exactly as on a full dump.

    python -m pipelines.sample --out data/sample
"""

from __future__ import annotations

import argparse
import bz2
import hashlib
import json
import logging
import subprocess
import sys
import zipfile
from pathlib import Path

from pipelines.wikidump import split_dump, write_multistream

log = logging.getLogger("sample")

GENSIM = ("gensim", "4.4.0")
_TEST_DATA = "gensim/test/test_data/"
# (member of the gensim wheel, sample name, how the member is encoded)
WIKI_DUMPS = [
    (
        "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
        "enwiki-sample",
        "utf-8",
    ),
    ("enwiki-table-markup.xml.bz2", "enwiki-tables-sample", "utf-8"),
    ("bgwiki-latest-pages-articles-shortened.xml.bz2", "bgwiki-sample", "utf-16"),
]
PAGES_PER_STREAM = 100


def fetch_wheel(name: str, version: str, cache: Path) -> Path:
    """The wheel from the package registry (pip's configured index), downloaded once."""
    pattern = f"{name.replace('-', '_')}-{version}-*.whl"  # wheel names spell "-" as "_"
    found = sorted(cache.glob(pattern))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        cmd += ["--only-binary", ":all:", "-d", str(cache), f"{name}=={version}"]
        log.info("downloading %s==%s from the package registry", name, version)
        subprocess.run(cmd, check=True)
        pattern = f"{name.replace('-', '_')}-{version}-*.whl"  # wheel names spell "-" as "_"
    found = sorted(cache.glob(pattern))
    if not found:
        raise SystemExit(f"pip did not produce a wheel for {name}=={version} in {cache}")
    return found[0]


def _to_utf8(raw: bytes, encoding: str) -> bytes:
    """Real dumps are UTF-8 with LF; gensim's Bulgarian excerpt is UTF-16 with CRLF."""
    if encoding == "utf-8":
        return raw
    return raw.decode(encoding).replace("\r\n", "\n").encode("utf-8")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_wikipedia(wheel: Path, out: Path) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    with zipfile.ZipFile(wheel) as zf:
        for member, name, encoding in WIKI_DUMPS:
            xml = _to_utf8(bz2.decompress(zf.read(_TEST_DATA + member)), encoding)
            single = out / f"{name}-pages-articles.xml.bz2"
            single.write_bytes(bz2.compress(xml, 9))
            multi = out / f"{name}-pages-articles-multistream.xml.bz2"
            index = out / f"{name}-pages-articles-multistream-index.txt.bz2"
            write_multistream(xml, str(multi), str(index), PAGES_PER_STREAM)
            pages = len(split_dump(xml)[1])
            for path in (single, multi, index):
                origin = f"{wheel.name}:{_TEST_DATA}{member}"
                entry = {"file": f"wikipedia/{path.name}", "sha256": _sha256(path)}
                entries.append({**entry, "from": origin, "pages": pages})
            log.info("wikipedia: %s (%d pages)", name, pages)
    return entries


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="data/sample", help="sample directory")
    parser.add_argument("--cache", default=".cache/downloads", help="downloaded packages")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    out = Path(args.out)
    wheel = fetch_wheel(*GENSIM, Path(args.cache))
    files = build_wikipedia(wheel, out / "wikipedia")
    manifest = {"sources": {"gensim": f"{GENSIM[0]}=={GENSIM[1]}"}, "files": files}
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    log.info("sample written to %s (%d files)", out, len(files))


if __name__ == "__main__":
    main()
