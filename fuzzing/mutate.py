"""Byte mutations of seed inputs as Hypothesis strategies, so failures shrink to few edits."""

from __future__ import annotations

import gzip
from collections.abc import Sequence

from hypothesis import strategies as st

OPS = ("flip", "insert", "delete", "duplicate", "truncate")


@st.composite
def mutated(
    draw: st.DrawFn,
    base: st.SearchStrategy[bytes],
    fragments: Sequence[bytes] = (),
    max_edits: int = 6,
) -> bytes:
    """`base` with up to `max_edits` edits at drawn positions: a flipped byte, inserted bytes
    (drawn, or a fragment the parser treats specially), a deleted or duplicated span, a cut."""
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(0, max_edits))):
        op = draw(st.sampled_from(OPS))
        i = draw(st.integers(0, len(data)))
        if op == "flip" and i < len(data):
            data[i] ^= draw(st.integers(1, 255))
        elif op == "insert":
            pick = fragments and draw(st.booleans())
            data[i:i] = (
                draw(st.sampled_from(fragments))
                if pick
                else draw(st.binary(min_size=1, max_size=16))
            )
        elif op == "delete":
            del data[i : i + draw(st.integers(1, 64))]
        elif op == "duplicate":
            j = draw(st.integers(0, len(data)))
            data[i:i] = data[j : j + draw(st.integers(1, 512))]
        elif op == "truncate":
            del data[i:]
    return bytes(data)


def mutated_text(
    base: st.SearchStrategy[str], fragments: Sequence[str] = (), max_edits: int = 8
) -> st.SearchStrategy[str]:
    """Text mutants: the UTF-8 bytes mutated, then decoded with U+FFFD for broken sequences."""
    encoded = base.map(lambda s: s.encode("utf-8"))
    raw = mutated(encoded, [f.encode("utf-8") for f in fragments], max_edits)
    return raw.map(lambda b: b.decode("utf-8", "replace"))


def gz(data: bytes) -> bytes:
    """One gzip member with a fixed mtime, so that equal input gives equal bytes."""
    return gzip.compress(data, 6, mtime=0)
