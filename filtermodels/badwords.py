"""C4's bad-words list: LDNOOBW's English file at commit 25e679f0 (377 entries), the one TFDS's C4
used, rebuilt from the npm package `naughty-words` 1.1.0 and checked against its known SHA-256.

That package's `en.json` is the commit's list, in order, plus one later entry ("fag", index 131),
which is removed. The tarball and the result are both checked, so a changed registry answer
fails loudly instead of silently changing which pages C4 drops.

    python -m filtermodels.badwords --out models    # writes models/badwords/en.txt and en.json
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import tarfile
from pathlib import Path

from core.files import bytes_sha256, write_atomically
from readers.registry import download, npm_url

log = logging.getLogger("models")

PACKAGE, VERSION = "naughty-words", "1.1.0"
TARBALL_SHA256 = "8cf368fa1c45290ce477b49c412b4844ded496e97bb580be30e23a23b64dbdcd"
MEMBER = "package/en.json"
LATER_ENTRY = (131, "fag")  # (index, word) added to LDNOOBW's en after the commit C4 used
WORDS_SHA256 = "a506cbcf8a31935b122299f3bb1d32be6db3d0ad498765d28f365dfc4f4d7b8c"
SOURCE = (
    "LDNOOBW List-of-Dirty-Naughty-Obscene-and-Otherwise-Bad-Words, file en, "
    "commit 25e679f03d96baa721cde20db9944649e8d0a844"
)
MAX_TARBALL_BYTES = 1 << 20  # the real one is 24 kB
MAX_MEMBER_BYTES = 1 << 20  # en.json is 5 kB


class BadWordsError(ValueError):
    """The fetched list is not the one C4 used, or a user's list is unusable."""


def tarball_url(registry: str | None = None) -> str:
    """The package's tarball on `registry`, else $NPM_CONFIG_REGISTRY, else the npm registry."""
    return npm_url(PACKAGE, VERSION, registry)


def words_bytes(words: list[str]) -> bytes:
    """The list as LDNOOBW's file holds it: one word a line, a final newline."""
    return ("\n".join(words) + "\n").encode("utf-8")


def words_from_tarball(
    data: bytes,
    tarball_sha256: str = TARBALL_SHA256,
    words_sha256: str = WORDS_SHA256,
    later_entry: tuple[int, str] = LATER_ENTRY,
) -> list[str]:
    """C4's list from the package tarball: `en.json` read in memory (nothing extracted to disk)
    without its later entry, each step checked."""
    if (got := bytes_sha256(data)) != tarball_sha256:
        raise BadWordsError(f"tarball sha256 {got}, expected {tarball_sha256}")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        try:
            member = tar.getmember(MEMBER)
        except KeyError:
            raise BadWordsError(f"the tarball has no {MEMBER}") from None
        if not member.isfile() or member.size > MAX_MEMBER_BYTES:
            raise BadWordsError(f"{MEMBER}: not a regular file under {MAX_MEMBER_BYTES} bytes")
        fh = tar.extractfile(member)
        if fh is None:
            raise BadWordsError(f"{MEMBER}: no body in the archive")
        words = json.loads(fh.read(MAX_MEMBER_BYTES))
    index, word = later_entry
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise BadWordsError(f"{MEMBER}: not a list of strings")
    if len(words) <= index or words[index] != word:
        raise BadWordsError(f"{MEMBER}: entry {index} is not {word!r}")
    del words[index]
    if (got := bytes_sha256(words_bytes(words))) != words_sha256:
        raise BadWordsError(f"word list sha256 {got}, expected {words_sha256}")
    return words


def load_words(path: str | Path) -> list[str]:
    """A word list file: one word a line, UTF-8, blank lines ignored, surrounding spaces removed.
    Entries are joined into a regex unescaped, as TFDS did (filters.c4.badwords_pattern)."""
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    words = [word for line in lines if (word := line.strip())]
    if not words:
        raise BadWordsError(f"{path}: no words")
    return words


def fetch_badwords(out: Path, registry: str | None = None) -> Path:
    """`out/badwords/en.txt` (and its card `en.json`), downloaded unless already there and
    intact."""
    target = out / "badwords" / "en.txt"
    if target.exists() and bytes_sha256(target.read_bytes()) == WORDS_SHA256:
        return target
    url = tarball_url(registry)
    words = words_from_tarball(download(url, MAX_TARBALL_BYTES))
    data = words_bytes(words)
    card = {
        "name": "badwords/en.txt",
        "sha256": bytes_sha256(data),
        "entries": len(words),
        "source": SOURCE,
        "version": f"{PACKAGE}@{VERSION} without entry {LATER_ENTRY[0]} ({LATER_ENTRY[1]!r})",
        "from": url,
        "tarball_sha256": TARBALL_SHA256,
    }
    # the card first: a list that is there and intact always has its card beside it
    write_atomically(target.with_suffix(".json"), (json.dumps(card, indent=2) + "\n").encode())
    write_atomically(target, data)
    log.info("wrote %s (%d words) from %s", target, len(words), url)
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="models", help="model directory")
    parser.add_argument("--registry", help="npm registry (default: $NPM_CONFIG_REGISTRY or npm's)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    fetch_badwords(Path(args.out), args.registry)


if __name__ == "__main__":
    main()
