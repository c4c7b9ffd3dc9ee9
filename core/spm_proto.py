"""What a SentencePiece model file holds, read from its protobuf wire format (no protobuf package:
the module SentencePiece ships is generated for a newer protobuf than apache-beam allows).

Two fast paths depend on it: the LLaMA tokenizer's word cache (tokenizer/encode.py) reads the
settings that decide how text is split, and the perplexity scorer's native tokenizer
(native/ascii_unigram.h, docs/recipe/commoncrawl.md §4) stands in for SentencePiece on
printable-ASCII lines only where the model makes that exact, which this module decides.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

# ModelProto.SentencePiece.Type
NORMAL: Final = 1
UNKNOWN: Final = 2
USER_DEFINED: Final = 4
UNIGRAM: Final = 1  # TrainerSpec.ModelType
BPE: Final = 2

PRINTABLE_ASCII: Final = range(0x20, 0x7F)


class ProtoError(ValueError):
    """The bytes are not a well-formed protobuf message."""


@dataclass(frozen=True, slots=True)
class Piece:
    text: bytes
    score: float
    type: int


@dataclass(frozen=True, slots=True)
class SentencePieceModel:
    pieces: list[Piece]
    model_type: int
    byte_fallback: bool
    treat_whitespace_as_suffix: bool
    add_dummy_prefix: bool
    remove_extra_whitespaces: bool
    escape_whitespaces: bool
    precompiled_charsmap: bytes

    def ascii_ineligibility(self) -> str | None:
        """Why SentencePiece's encoding of a printable-ASCII line is not the simple one the
        native tokenizer reproduces (see native/ascii_unigram.h), or None when it is."""
        if self.model_type != UNIGRAM:
            return f"model type {self.model_type} is not unigram"
        if self.byte_fallback:
            return "byte fallback"
        if self.treat_whitespace_as_suffix:
            return "whitespace as suffix"
        if not (
            self.add_dummy_prefix and self.remove_extra_whitespaces and self.escape_whitespaces
        ):
            return "non-default whitespace handling"
        if any(p.type == USER_DEFINED for p in self.pieces):
            return "user-defined pieces"
        if sum(p.type == UNKNOWN for p in self.pieces) != 1:
            return "not exactly one unknown piece"
        if any(p.score != p.score or abs(p.score) == float("inf") for p in self.pieces):
            return "a score is not finite"
        if rules := charsmap_ascii_rules(self.precompiled_charsmap):
            return f"the character map rewrites printable ASCII ({rules[0]!r})"
        return None


def read_model(data: bytes) -> SentencePieceModel:
    """The fields of a serialised ModelProto that encoding depends on (defaults as the .proto)."""
    pieces, trainer, normalizer = [], b"", b""
    for number, value in _fields(data):
        if number == 1 and isinstance(value, bytes):
            pieces.append(_piece(value))
        elif number == 2 and isinstance(value, bytes):
            trainer = value
        elif number == 3 and isinstance(value, bytes):
            normalizer = value
    t = dict(_fields(trainer))
    n = dict(_fields(normalizer))
    return SentencePieceModel(
        pieces=pieces,
        model_type=int(t.get(3, UNIGRAM)),
        byte_fallback=bool(t.get(35, 0)),
        treat_whitespace_as_suffix=bool(t.get(24, 0)),
        add_dummy_prefix=bool(n.get(3, 1)),
        remove_extra_whitespaces=bool(n.get(4, 1)),
        escape_whitespaces=bool(n.get(5, 1)),
        precompiled_charsmap=_bytes(n.get(2, b"")),
    )


def charsmap_ascii_rules(charsmap: bytes) -> list[bytes]:
    """The sources of a precompiled character map's rules that are printable ASCII only.

    The map is a uint32 size, then a darts-clone double array of that many bytes whose keys are
    the rules' sources (normalizer.cc). NFKC's map has rules that start with an ASCII letter
    ("a" and a combining grave accent), but none that a printable-ASCII line can match. Walks
    the array from the root along printable-ASCII labels only, reading units as darts-clone does
    (offset, label, has-leaf bit).
    """
    if not charsmap:
        return []
    if len(charsmap) < 4:
        raise ProtoError("character map is truncated")
    (size,) = struct.unpack_from("<I", charsmap)
    if size % 4 or size > len(charsmap) - 4 or size == 0:
        raise ProtoError("character map's double array has a bad size")
    units = struct.unpack_from(f"<{size // 4}I", charsmap, 4)
    rules, stack, seen = [], [(0, b"")], set()
    while stack:
        node, key = stack.pop()
        if node in seen:  # a malformed array may loop
            continue
        seen.add(node)
        unit = units[node]
        if key and (unit >> 8) & 1:
            rules.append(key)
        offset = (unit >> 10) << ((unit & (1 << 9)) >> 6)
        for byte in PRINTABLE_ASCII:
            child = node ^ offset ^ byte
            if child < len(units) and units[child] & ((1 << 31) | 0xFF) == byte:
                stack.append((child, key + bytes([byte])))
    return sorted(rules)


def _piece(data: bytes) -> Piece:
    text, score, kind = b"", 0.0, NORMAL
    for number, value in _fields(data):
        if number == 1:
            text = _bytes(value)
        elif number == 2:
            if not isinstance(value, bytes) or len(value) != 4:
                raise ProtoError("piece score is not a float")
            (score,) = struct.unpack("<f", value)
        elif number == 3:
            kind = int(value)
    return Piece(text, score, kind)


def _bytes(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise ProtoError("expected a length-delimited field")
    return value


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of each field: an int for varints, bytes for the rest (a fixed32's
    four bytes, a fixed64's eight, a length-delimited field's payload). Groups (a deprecated
    encoding no SentencePiece field uses) are skipped whole, as protobuf skips unknown fields."""
    pos, end, groups = 0, len(data), []
    while pos < end:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 3:
            groups.append(number)
            continue
        if wire == 4:
            if not groups or groups.pop() != number:
                raise ProtoError(f"end of group {number} without its start")
            continue
        value: int | bytes
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if pos + width > end:
                raise ProtoError("truncated fixed-width field")
            value, pos = data[pos : pos + width], pos + width
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > end:
                raise ProtoError("truncated length-delimited field")
            value, pos = data[pos : pos + length], pos + length
        else:
            raise ProtoError(f"unsupported wire type {wire}")
        if not groups:
            yield number, value
    if groups:
        raise ProtoError(f"group {groups[-1]} does not end")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ProtoError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
