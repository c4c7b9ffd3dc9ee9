"""MinHash signatures (datasketch's, vectorised) and LSH parameters."""

from __future__ import annotations

import numpy as np
from conftest import ROOT
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from filters.minhash import (
    MAX_HASH,
    band_keys,
    candidate_probability,
    jaccard,
    lsh_params,
    shingles,
    signature,
)


def test_shingles_are_word_ngrams_of_the_lowered_text():
    assert shingles("The cat, the HAT!\nand  the bat.", 3) == {
        b"the cat the",
        b"cat the hat",
        b"the hat and",
        b"hat and the",
        b"and the bat",
    }
    assert shingles("Two words", 5) == {b"two words"}
    assert shingles("  ...  ", 5) == set()


def test_signatures_equal_datasketch_bit_for_bit():
    text = (ROOT / "docs/recipe/c4.md").read_text()
    for num_perm, seed in ((128, 1), (256, 7)):
        items = shingles(text, 5)
        reference = MinHash(num_perm=num_perm, seed=seed)
        for item in items:
            reference.update(item)
        ours = signature(items, num_perm, seed)
        assert ours.dtype == np.uint32 and np.array_equal(ours, reference.hashvalues)
    assert (signature(set(), 16) == MAX_HASH).all()


def test_jaccard_estimate_and_bands():
    first = shingles(" ".join(f"w{i}" for i in range(400)), 1)
    second = shingles(" ".join(f"w{i}" for i in range(100, 500)), 1)  # Jaccard 300/500
    estimate = jaccard(signature(first, 512), signature(second, 512))
    assert abs(estimate - 0.6) < 0.06
    keys = band_keys(signature(first, 256), 13, 19)
    assert len(keys) == 13 and all(len(k) == 1 + 19 * 4 for k in keys)
    assert [k[0] for k in keys] == list(range(13))


def test_lsh_parameters_match_datasketch_and_their_curve():
    for threshold, num_perm in ((0.85, 256), (0.9, 256), (0.5, 128)):
        params = lsh_params(threshold, num_perm)
        assert (params.bands, params.rows) == _optimal_param(threshold, num_perm, 0.5, 0.5)
    params = lsh_params(0.85, 256)
    assert candidate_probability(0.95, params.bands, params.rows) > 0.99
    assert candidate_probability(0.6, params.bands, params.rows) < 0.01
