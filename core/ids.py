"""Stable 64-bit hashes of document ids: which shard a document goes to, which bucket it falls in.

One function for every place that needs it (document shards, token shards, the training loader's
validation split, line dedup's document keys), so that they agree on any machine and any runner.
"""

from __future__ import annotations

import hashlib


def id_hash(key: str) -> int:
    """The first 8 bytes of BLAKE2b(key), little-endian, as an unsigned integer."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little")


def signed_id_hash(key: str) -> int:
    """`id_hash` as a signed 64-bit integer (an int64 array column)."""
    value = id_hash(key)
    return value - (1 << 64) if value >= 1 << 63 else value


def shard_of(key: str, num_shards: int) -> int:
    return id_hash(key) % num_shards


def shard_file(shard: int, num_shards: int, suffix: str) -> str:
    return f"part-{shard:05d}-of-{num_shards:05d}{suffix}"
