"""A patient HTTP reader for `https://data.commoncrawl.org/...`: a body streamed in blocks,
resumed with Range requests and retried with backoff (docs/recipe/commoncrawl.md §1).

CCNet gave up after three tries and lost whole shards; a read here gives up only after
`Retry.tries` failures in a row without progress.
"""

from __future__ import annotations

import http.client
import random
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from core.files import CHUNK


@dataclass(frozen=True, slots=True)
class Retry:
    """How patiently an HTTP read is retried: CCNet gave up after 3 tries and lost whole shards.

    A try that delivers new bytes resets the count, so a long download survives any number of
    interruptions that each make progress.
    """

    tries: int = 10  # tries in a row without progress before giving up
    base: float = 1.0  # the first backoff, seconds; doubled after each failure up to cap
    cap: float = 60.0  # the longest sleep, Retry-After included
    timeout: float = 60.0  # seconds a connect or a read may stall


DEFAULT_RETRY = Retry()


_RETRY_STATUS = frozenset({408, 429, *range(500, 600)})
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class FetchError(OSError):
    """An HTTP read that cannot succeed (4xx) or ran out of tries; the message names the URL."""


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


def _body_range(response: http.client.HTTPResponse, delivered: int) -> tuple[int, int | None]:
    """(bytes of this body to drop, the file's size if known) for a resumed or restarted read."""
    if response.status == 206:
        m = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
        if m is None or int(m.group(1)) != delivered:
            got = response.headers.get("Content-Range")
            raise ConnectionError(f"asked for bytes {delivered}- but got Content-Range {got!r}")
        return 0, None if m.group(3) == "*" else int(m.group(3))
    length = response.headers.get("Content-Length")
    return delivered, int(length) if length and length.isdigit() else None


def http_blocks(
    url: str,
    *,
    retry: Retry = DEFAULT_RETRY,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    chunk: int = CHUNK,
) -> Iterator[bytes]:
    """The body of `url`, streamed in blocks, retried until it has been delivered exactly once.

    Retries 408, 429, 5xx, connection errors, timeouts and bodies shorter than announced, sleeping
    a full-jitter exponential backoff (at least Retry-After, both capped at retry.cap). A resumed
    read asks for `Range: bytes=N-`; a server that answers 200 instead is read from the start and
    its first N bytes are dropped.
    """
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError(f"{url}: only http:// and https:// URLs are fetched")
    rng = rng or random.Random()  # noqa: S311 (retry jitter)
    delivered, size, failures = 0, None, 0
    while True:
        headers = {"Accept-Encoding": "identity", "User-Agent": "llama-corpus-warc/0.1"}
        if delivered:
            headers["Range"] = f"bytes={delivered}-"
        wait: float | None = None
        try:
            request = urllib.request.Request(url, headers=headers)  # noqa: S310 (http(s), checked)
            with urllib.request.urlopen(request, timeout=retry.timeout) as response:  # noqa: S310
                skip, total = _body_range(response, delivered)
                if size is not None and total is not None and total != size:
                    raise FetchError(f"{url}: its size changed from {size} to {total} bytes")
                size = total if total is not None else size
                while block := response.read(chunk):
                    if skip:
                        dropped = min(skip, len(block))
                        block, skip = block[dropped:], skip - dropped
                    if block:
                        delivered += len(block)
                        failures = 0
                        yield block
                if skip or (size is not None and delivered < size):
                    raise ConnectionError(f"the body ended after {delivered} of {size} bytes")
                return
        except FetchError:
            raise
        except urllib.error.HTTPError as exc:
            if exc.code not in _RETRY_STATUS:
                raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
            error, wait = f"HTTP {exc.code} {exc.reason}", _retry_after(exc.headers["Retry-After"])
        except (OSError, http.client.HTTPException) as exc:  # resets, timeouts, short bodies
            error = f"{type(exc).__name__}: {exc}"
        failures += 1
        if failures >= retry.tries:
            raise FetchError(f"{url}: gave up after {failures} tries in a row; last: {error}")
        backoff = rng.uniform(0, min(retry.cap, retry.base * 2 ** (failures - 1)))
        sleep(min(max(backoff, wait or 0.0), retry.cap))
