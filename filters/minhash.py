"""MinHash signatures and LSH banding for near-duplicate detection, vectorised, without Beam.

Signatures are datasketch's (2.x, its default `affine32` scheme) bit for bit: each shingle is
hashed with `sha1_hash32` (the first 4 bytes of its SHA-1, little-endian), pre-mixed with the
32-bit MurmurHash3 finalizer, then permuted as `a * h + b mod 2^32` with datasketch's `a`, `b` for
the seed; the signature is the minimum per permutation. datasketch does this one shingle per
`update` call; here all of a document's shingles go through NumPy at once, in blocks, so a
signature costs a SHA-1 per shingle and a few vector operations.

Shingles are word n-grams of the lower-cased text, words being runs of letters, digits and `_`
(`\\w+`): whitespace, punctuation and line wrapping do not change them.

LSH: a signature of `bands * rows` values is cut into bands; two documents whose signatures agree
on a whole band become candidates. A pair of Jaccard similarity s is a candidate with probability
1 - (1 - s^rows)^bands; `lsh_params` picks the (bands, rows) that minimise the false-positive
and false-negative areas around a threshold, as datasketch's `MinHashLSH` does.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import numpy as np

MAX_HASH = np.uint32(0xFFFFFFFF)  # an empty document's signature value
_WORD = re.compile(r"\w+")
_BLOCK = 4096  # shingles per vectorised step: a block of 4096 x 256 uint32 is 4 MiB


def shingles(text: str, n: int = 5) -> set[bytes]:
    """The document's word n-grams (UTF-8, words joined by one space); a document shorter than
    n words is one shingle of all its words."""
    words = _WORD.findall(text.lower())
    if len(words) <= n:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1)}


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


@cache
def permutations(num_perm: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutation parameters (a odd, b), for `num_perm` and `seed`."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint64).astype(np.uint32)
    return a, b


def _sha1s(items: Iterable[bytes]) -> list[bytes]:
    return [hashlib.sha1(item, usedforsecurity=False).digest() for item in items]


def _hash32(digests: list[bytes]) -> np.ndarray:
    """datasketch's sha1_hash32: the first 4 bytes of each SHA-1, little-endian."""
    return np.frombuffer(b"".join(d[:4] for d in digests), dtype="<u4").astype(np.uint32)


def _signature(hashed: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    a, b = permutations(num_perm, seed)
    out = np.full(num_perm, MAX_HASH, dtype=np.uint32)
    hashed = _fmix32(hashed)
    with np.errstate(over="ignore"):
        for start in range(0, len(hashed), _BLOCK):
            block = hashed[start : start + _BLOCK, None]
            np.minimum(out, (block * a + b).min(axis=0), out=out)
    return out


def signature(items: Iterable[bytes], num_perm: int = 256, seed: int = 1) -> np.ndarray:
    """The MinHash signature (uint32, `num_perm` values) of a set of byte strings."""
    return _signature(_hash32(_sha1s(items)), num_perm, seed)


def hash_set(items: Iterable[bytes]) -> np.ndarray:
    """A set as its sorted, unique 64-bit hashes (SHA-1 bytes 4-12), for exact overlaps."""
    return _wide(_sha1s(items))


def _wide(digests: list[bytes]) -> np.ndarray:
    return np.unique(np.frombuffer(b"".join(d[4:12] for d in digests), dtype="<u8"))


def signature_and_set(
    items: Iterable[bytes], num_perm: int = 256, seed: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """The signature and `hash_set` of the same items, from one SHA-1 each."""
    digests = _sha1s(items)
    return _signature(_hash32(digests), num_perm, seed), _wide(digests)


def containment(first: np.ndarray, second: np.ndarray) -> float:
    """|A ∩ B| / |smaller of A, B| of two sorted, unique hash arrays: how much of the smaller
    document the larger holds (1.0 for an excerpt of the other)."""
    smaller = min(len(first), len(second))
    if smaller == 0:
        return 0.0
    return len(np.intersect1d(first, second, assume_unique=True)) / smaller


def jaccard(first: np.ndarray, second: np.ndarray) -> float:
    """The signatures' estimate of the sets' Jaccard similarity: the share of equal values."""
    return float(np.count_nonzero(first == second)) / len(first)


def candidate_probability(s: float | np.ndarray, bands: int, rows: int) -> float | np.ndarray:
    """Probability that a pair of Jaccard similarity `s` shares at least one band."""
    return 1.0 - (1.0 - np.power(s, rows)) ** bands


@dataclass(frozen=True)
class LshParams:
    bands: int
    rows: int
    false_positive: float  # area under the candidate curve below the threshold
    false_negative: float  # area above the curve's complement past the threshold


def _area(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2)


def lsh_for_recall(similarity: float, num_perm: int, recall: float = 0.99) -> LshParams:
    """The layout with the most rows per band (the fewest chance candidates) under which a pair
    of Jaccard `similarity` is still a candidate with probability `recall` or more."""
    below = np.linspace(0.0, similarity, 201)
    above = np.linspace(similarity, 1.0, 201)
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if candidate_probability(similarity, bands, rows) >= recall:
            fp = _area(candidate_probability(below, bands, rows), below)
            fn = _area(1.0 - candidate_probability(above, bands, rows), above)
            return LshParams(bands, rows, fp, fn)
    raise ValueError(f"no layout of {num_perm} permutations reaches recall {recall}")


def lsh_params(threshold: float, num_perm: int, fp_weight: float = 0.5) -> LshParams:
    """The (bands, rows) with bands * rows <= num_perm minimising the weighted false-positive
    and false-negative areas around `threshold` (datasketch's rule, trapezoid integration)."""
    below = np.linspace(0.0, threshold, 201)
    above = np.linspace(threshold, 1.0, 201)
    best: LshParams | None = None
    best_error = float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            fp = _area(candidate_probability(below, bands, rows), below)
            fn = _area(1.0 - candidate_probability(above, bands, rows), above)
            error = fp * fp_weight + fn * (1.0 - fp_weight)
            if error < best_error:
                best, best_error = LshParams(bands, rows, fp, fn), error
    if best is None:
        raise ValueError(f"no LSH layout fits {num_perm} permutations")
    return best


def band_keys(sig: np.ndarray, bands: int, rows: int) -> list[bytes]:
    """One key per band: the band's index and its values, as bytes."""
    return [bytes([band]) + sig[band * rows : (band + 1) * rows].tobytes() for band in range(bands)]
