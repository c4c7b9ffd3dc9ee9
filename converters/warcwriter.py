"""A deterministic WARC/1.0 writer: one gzip member per record, as Common Crawl writes them.

The same records give byte-identical files (record ids from uuid5, gzip mtime 0), so the
bundled sample and the tests' inputs are reproducible.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import uuid
from collections.abc import Mapping
from typing import BinaryIO

from apache_beam.io.filesystems import CompressionTypes, FileSystems

_TRAILER = b"\r\n\r\n"


def block_digest(block: bytes) -> str:
    """`sha1:` + base32 of the block's SHA-1, as Common Crawl writes WARC-Block-Digest."""
    return "sha1:" + base64.b32encode(hashlib.sha1(block, usedforsecurity=False).digest()).decode(
        "ascii"
    )


def record_id(warc_type: str, uri: str, date: str) -> str:
    """A deterministic WARC-Record-ID, so that the same input gives byte-identical files."""
    name = "\n".join((warc_type, uri, date))
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}>"


class WarcWriter:
    """Writes WARC/1.0 records, one gzip member each (Common Crawl's layout), deterministically."""

    def __init__(self, target: str | BinaryIO, *, compresslevel: int = 6) -> None:
        self._owned = isinstance(target, str)
        self._out: BinaryIO = (
            FileSystems.create(target, compression_type=CompressionTypes.UNCOMPRESSED)
            if isinstance(target, str)
            else target
        )
        self._level = compresslevel

    def __enter__(self) -> WarcWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owned:
            self._out.close()

    def write(
        self,
        warc_type: str,
        block: bytes,
        *,
        date: str,
        content_type: str,
        uri: str | None = None,
        refers_to: str | None = None,
        language: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> str:
        """Write one record; returns its WARC-Record-ID."""
        extra = extra or {}
        rid = record_id(warc_type, uri if uri is not None else extra.get("WARC-Filename", ""), date)
        fields = [("WARC-Type", warc_type)]
        if uri is not None:
            fields.append(("WARC-Target-URI", uri))
        fields += [("WARC-Date", date), ("WARC-Record-ID", rid)]
        if refers_to is not None:
            fields.append(("WARC-Refers-To", refers_to))
        fields += list(extra.items())
        fields.append(("WARC-Block-Digest", block_digest(block)))
        if language is not None:
            fields.append(("WARC-Identified-Content-Language", language))
        fields += [("Content-Type", content_type), ("Content-Length", str(len(block)))]
        for name, value in fields:
            if any(c in name + value for c in "\r\n"):
                raise ValueError(f"line break in WARC header {name}: {value!r}")
        head = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields) + "\r\n"
        member = head.encode("utf-8") + block + _TRAILER
        self._out.write(gzip.compress(member, compresslevel=self._level, mtime=0))
        return rid

    def warcinfo(self, fields: Mapping[str, str], *, date: str, filename: str | None = None) -> str:
        block = "".join(f"{k}: {v}\r\n" for k, v in fields.items()).encode("utf-8")
        extra = {"WARC-Filename": filename} if filename is not None else None
        return self.write(
            "warcinfo", block, date=date, content_type="application/warc-fields", extra=extra
        )

    def response(self, uri: str, http: bytes, *, date: str, language: str | None = None) -> str:
        """An HTTP response (status line, headers, payload: the bytes as fetched)."""
        content_type = "application/http; msgtype=response"
        return self.write(
            "response", http, date=date, content_type=content_type, uri=uri, language=language
        )

    def conversion(
        self,
        uri: str,
        text: str,
        *,
        date: str,
        refers_to: str | None = None,
        language: str | None = None,
    ) -> str:
        """Extracted text, as in a WET file (Common Crawl ends each text with "\\n")."""
        return self.write(
            "conversion",
            text.encode("utf-8"),
            date=date,
            content_type="text/plain",
            uri=uri,
            refers_to=refers_to,
            language=language,
        )
