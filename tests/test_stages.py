"""Filters as stages: the pure `apply` and the Beam transform that counts and routes rejects."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from filters.base import KEEP, Decision, Filter, MinLength, apply
from pipelines import accounting
from pipelines.stages import ApplyFilters


class Vowel(Filter):
    """Keeps texts starting with a vowel; counts first letters; batch API."""

    name = "vowel"

    def decide_batch(self, docs):
        out = []
        for doc in docs:
            self.count("letters", doc["text"][:1] or "none")
            out.append(KEEP if doc["text"][:1] in "aeiou" else Decision.drop("consonant"))
        return out


class Tag(Filter):
    """Adds a field to the documents it keeps."""

    name = "tag"

    def decide(self, doc):
        doc["tagged"] = True
        return KEEP if "x" not in doc["text"] else Decision.drop("has_x")


DOCS = [
    {"id": "1", "text": "apple", "url": "u1", "lang": "en"},
    {"id": "2", "text": "banana", "url": "u2", "lang": "en"},
    {"id": "3", "text": "", "url": "u3", "lang": "fr"},
    {"id": "4", "text": "oxen", "url": "u4", "lang": "fr"},
    {"id": "5", "text": "egg", "url": "u5", "lang": "fr"},
]


def _fresh():
    return [dict(d) for d in DOCS]


def test_apply_runs_filters_in_order_and_names_each_drop():
    kept, dropped, failed = apply([MinLength(1), Vowel(), Tag()], _fresh())
    assert failed == []
    assert [d["id"] for d in kept] == ["1", "5"]
    assert all(d["tagged"] for d in kept)
    assert [(d["id"], f.name, dec.reason) for d, f, dec in dropped] == [
        ("3", "length", "too_short"),
        ("2", "vowel", "consonant"),
        ("4", "tag", "has_x"),
    ]


def test_filter_counts_are_taken_once():
    vowel = Vowel()
    vowel.decide_batch(_fresh()[:2])
    assert vowel.take_counts() == {("letters", "a"): 1, ("letters", "b"): 1}
    assert vowel.take_counts() == {}


def test_min_length_reason_and_a_filter_that_miscounts():
    assert MinLength(3, reason="empty").decide({"text": "ab"}) == Decision.drop("empty")

    class Broken(Filter):
        name = "broken"

        def decide_batch(self, docs):
            return []

    kept, dropped, failed = apply([Broken()], _fresh()[:2])
    assert (kept, dropped) == ([], [])
    assert [str(e) for _, _, e in failed] == ["broken: 0 decisions for 1 documents"] * 2


class Fragile(Filter):
    """A batch filter with a bug that one document triggers."""

    name = "fragile"

    def decide_batch(self, docs):
        if any("x" in d["text"] for d in docs):
            raise RuntimeError("boom")
        return [KEEP for _ in docs]


def test_a_filter_that_raises_costs_the_document_not_the_batch():
    kept, dropped, failed = apply([Fragile(), MinLength(4)], _fresh())
    assert [d["id"] for d in kept] == ["1", "2"]  # the batch was retried one by one
    assert [(d["id"], f.name, r.reason) for d, f, r in dropped] == [
        ("3", "length", "too_short"),
        ("5", "length", "too_short"),
    ]
    assert [(d["id"], f.name, str(e)) for d, f, e in failed] == [("4", "fragile", "boom")]


def test_apply_filters_dead_letters_a_document_its_filter_raised_on():
    with beam.Pipeline(runner="FnApiRunner") as pipeline:
        out = (
            pipeline
            | beam.Create(_fresh())
            | beam.BatchElements(min_batch_size=5, max_batch_size=5)
            | ApplyFilters("test_fragile", _fragile, batched=True, write_rejects=True)
        )
        assert_that(out.documents | beam.Map(lambda d: d["id"]), equal_to(["1", "2", "3", "5"]))
        assert_that(
            out.dead,
            equal_to(
                [
                    {
                        "file": "4",
                        "offset": 0,
                        "id": "4",
                        "stage": "fragile",
                        "reason": "filter_error",
                        "error": "RuntimeError: boom",
                    }
                ]
            ),
            label="dead",
        )
        assert_that(
            out.rejects,
            equal_to([{"id": "4", "url": "u4", "reason": "filter_error"}]),
            label="rejects",
        )
    counted = accounting.counters(pipeline.result, "test_fragile")
    assert counted == {"fragile": {"dropped_filter_error": 1}}


def _fragile():
    return [Fragile()]


def _filters():
    return [MinLength(1), Vowel(), Tag()]


def _load():
    return "model"


def _filters_with(model):
    assert model == "model"
    return _filters()


@pytest.mark.parametrize(
    ("batched", "group", "groups"),
    [
        (False, None, {"length", "vowel", "tag"}),
        (True, "stage", {"stage"}),
        (False, lambda d: d["lang"], {"en", "fr"}),
    ],
)
def test_apply_filters_counts_every_drop_and_routes_rejects(batched, group, groups):
    with beam.Pipeline(runner="FnApiRunner") as pipeline:
        docs = pipeline | beam.Create(_fresh())
        if batched:
            docs = docs | beam.BatchElements(min_batch_size=5, max_batch_size=5)
        out = docs | ApplyFilters(
            "test_stages",
            _filters_with,
            load=_load,
            group=group,
            batched=batched,
            write_rejects=True,
        )
        assert_that(out.documents | beam.Map(lambda d: d["id"]), equal_to(["1", "5"]))
        assert_that(
            out.rejects,
            equal_to(
                [
                    {"id": "3", "url": "u3", "reason": "too_short"},
                    {"id": "2", "url": "u2", "reason": "consonant"},
                    {"id": "4", "url": "u4", "reason": "has_x"},
                ]
            ),
            label="rejects",
        )
    counted = accounting.counters(pipeline.result, "test_stages")
    drops = {name: n for g, names in counted.items() if g != "letters" for name, n in names.items()}
    assert drops == {"dropped_too_short": 1, "dropped_consonant": 1, "dropped_has_x": 1}
    assert set(counted) - {"letters"} == groups
    assert counted["letters"] == {"a": 1, "b": 1, "e": 1, "o": 1}


def test_first_by_picks_the_same_copy_in_any_arrival_order_and_names_the_others():
    from pipelines.stages import FirstBy

    copies = [{"id": i, "order": o} for i, o in (("b", 2), ("a", 1), ("c", 3), ("d", 1.5))]
    combine = FirstBy(lambda d: d["order"], others=True)
    for arrival in (copies, copies[::-1], copies[1:] + copies[:1]):
        halves = [arrival[:2], arrival[2:]]
        accs = [combine.create_accumulator() for _ in halves]
        for i, half in enumerate(halves):
            for doc in half:
                accs[i] = combine.add_input(accs[i], doc)
        best, n, others = combine.extract_output(combine.merge_accumulators(accs))
        assert (best["id"], n, others) == ("a", 4, ["b", "c", "d"])
    assert FirstBy(lambda d: d["order"]).extract_output(
        FirstBy(lambda d: d["order"]).add_input((None, 0, []), copies[0])
    ) == (copies[0], 1, [])
