"""Near-duplicate removal as a Beam transform: clusters, the kept member, counts."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from pipelines.neardup import NearDedup, components

BASE = " ".join(f"word{i}" for i in range(300))


def _variant(edits: list[int]) -> str:
    words = BASE.split()
    for i in edits:
        words[i] = f"edited{i}"
    return " ".join(words)


DOCS = [
    {"id": "a", "text": BASE},
    {"id": "b", "text": _variant([10])},  # one word changed: near a
    {"id": "c", "text": _variant([10, 200])},  # near b (and a)
    {"id": "d", "text": " ".join(f"other{i}" for i in range(300))},  # unrelated
    {"id": "e", "text": _variant(list(range(0, 300, 3)))},  # a third of the words changed
]


def test_components_are_transitive_and_keep_the_first():
    edges = [((1, "x"), (2, "y"), 0.9), ((2, "y"), (3, "z"), 0.88), ((5, "p"), (9, "q"), 1.0)]
    assert components(edges) == [
        {
            "kept": "x",
            "members": ["x", "y", "z"],
            "size": 3,
            "pairs": [["x", "y", 0.9], ["y", "z", 0.88]],
        },
        {"kept": "p", "members": ["p", "q"], "size": 2, "pairs": [["p", "q", 1.0]]},
    ]


def test_near_duplicates_are_clustered_and_all_but_the_first_dropped():
    with beam.Pipeline(runner="FnApiRunner") as pipeline:
        out = (
            pipeline
            | beam.Create(DOCS)
            | NearDedup("test_neardup", "near", lambda d: d["id"], write_rejects=True)
        )
        assert_that(
            out["documents"] | beam.Map(lambda d: d["id"]), equal_to(["a", "d", "e"]), "kept"
        )
        assert_that(
            out["clusters"] | beam.Map(lambda c: (c["kept"], c["members"])),
            equal_to([("a", ["a", "b", "c"])]),
            "clusters",
        )
        assert_that(
            out["rejects"] | beam.Map(lambda r: (r["id"], r["reason"], r["kept"])),
            equal_to([("b", "near_duplicate", "a"), ("c", "near_duplicate", "a")]),
            "rejects",
        )
