"""Perplexity cut-offs and buckets."""

from __future__ import annotations

import pytest

from filters.buckets import Cutoffs, compute_cutoffs


def test_percentiles_by_hand():
    # 11 values 100..200: the 30th percentile is at rank 3 (130), the 60th at rank 6 (160).
    cutoffs = compute_cutoffs("en", [float(v) for v in range(200, 99, -10)] + [-1.0])
    assert cutoffs == Cutoffs("en", 130.0, 160.0, 11)


def test_interpolation_between_ranks():
    # 4 values: rank 0.9 and 1.8 → 10 + 0.9 * 10 = 19, 20 + 0.8 * 20 = 36.
    assert compute_cutoffs("de", [10.0, 20.0, 40.0, 80.0]) == Cutoffs("de", 19.0, 36.0, 4)


def test_bucket_edges():
    cutoffs = Cutoffs("en", 340.0, 520.0, 1000)  # CCNet's English table, for scale
    assert [cutoffs.bucket(p) for p in (0.0, 339.9, 340.0, 519.9, 520.0, 5000.0, -1.0)] == [
        "head",
        "head",
        "middle",
        "middle",
        "tail",
        "tail",
        "all",
    ]


def test_save_and_load(tmp_path):
    cutoffs = Cutoffs("bg", 450.5, 680.0, 12)
    cutoffs.save(tmp_path / "bg.cutoffs.json")
    assert Cutoffs.load(tmp_path / "bg.cutoffs.json") == cutoffs


def test_nothing_scored_is_an_error():
    with pytest.raises(ValueError, match="no scored document"):
        compute_cutoffs("hr", [-1.0, -1.0])
