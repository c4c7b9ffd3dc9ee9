"""`NearDedup`: near-duplicate documents found with MinHash LSH, one kept per cluster.

Each document's signature (filters.minhash) is cut into LSH bands; documents that share a band
meet in one group of the shuffle, and its pairs (or, in a group over `MAX_PAIRS_GROUP`, every
member with the group's first) are candidates. Two measures decide which candidates are edges:
- "jaccard" (GitHub files, as The Stack): the signatures' estimate of the Jaccard similarity of
  the shingle sets, at or over the threshold, with LSH laid out for that threshold;
- "containment" (books, LLaMA's "more than 90% content overlap"): the exact share of the smaller
  document's shingles found in the larger, from both sets brought together per candidate pair,
  so an abridged edition is found though its Jaccard similarity is low. LSH is then laid out to
  catch, with probability 0.99, every pair at the threshold whose smaller member is at least
  `min_size_ratio` of the larger (their Jaccard similarity is at least
  t·r / (1 + r − t·r)).
Clusters are the connected components of the edges (union-find), and the member first by
`order` is kept; the others are dropped as `near_duplicate`. The clusters (members, kept, each
edge's measure) are an output of their own, since users ask which documents were merged. The
components are computed where all edges meet: edges only (two ids and a number each), never the
documents; a collection whose duplicate pairs do not fit one worker needs a distributed
components step instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import apache_beam as beam
import numpy as np

from filters.minhash import (
    LshParams,
    band_keys,
    containment,
    hash_set,
    jaccard,
    lsh_for_recall,
    lsh_params,
    shingles,
    signature_and_set,
)
from pipelines import accounting

MAX_PAIRS_GROUP = 64  # a band shared by more documents is checked against its first member only


@dataclass(frozen=True)
class Shingling:
    field: str  # the document's text field
    ngram: int  # words per shingle of the signatures
    overlap_ngram: int  # words per shingle of the exact overlap (containment)
    num_perm: int
    seed: int
    bands: int
    rows: int


class _Sign(beam.DoFn):
    """A document → (band key, member) per band; with `sets`, also its shingle set ("sets")."""

    def __init__(self, how: Shingling, order: Callable[[dict], Any], sets: bool):
        self.how, self.order, self.sets = how, order, sets

    def process(self, doc: dict):
        how = self.how
        text = doc[how.field]
        sig, hashes = signature_and_set(shingles(text, how.ngram), how.num_perm, how.seed)
        member = (self.order(doc), doc["id"], sig.tobytes())
        for key in band_keys(sig, how.bands, how.rows):
            yield key, member
        if self.sets:
            if how.overlap_ngram != how.ngram:
                hashes = hash_set(shingles(text, how.overlap_ngram))
            yield beam.pvalue.TaggedOutput("sets", (doc["id"], hashes.tobytes()))


def _edges(element, threshold: float | None):
    """Pairs of one band's documents: ((order, id), (order, id), estimate), those whose Jaccard
    estimate reaches `threshold` (all of them when it is None: another measure decides)."""
    _, members = element
    members = sorted(set(members))
    if len(members) < 2:
        return
    sigs = [np.frombuffer(sig, dtype=np.uint32) for _, _, sig in members]
    if len(members) <= MAX_PAIRS_GROUP:
        pairs: Iterable[tuple[int, int]] = combinations(range(len(members)), 2)
    else:
        pairs = ((0, j) for j in range(1, len(members)))
    for i, j in pairs:
        estimate = jaccard(sigs[i], sigs[j])
        if threshold is None or estimate >= threshold:
            yield members[i][:2], members[j][:2], round(estimate, 4)


def _to_members(edge):
    a, b, _ = edge
    return [(a[1], edge), (b[1], edge)]


def _sets_to_edges(element):
    """One document's shingle set, sent to each candidate pair it is in."""
    _, joined = element
    for hashes in joined["set"]:
        for a, b, _ in joined["edges"]:
            yield (a, b), hashes


def _containment_edge(element, threshold: float):
    (a, b), sets = element
    first, second = (np.frombuffer(x, dtype=np.uint64) for x in sets)
    overlap = containment(first, second)
    if overlap >= threshold:
        yield a, b, round(overlap, 4)


class _Containment(beam.PTransform):
    """Candidate pairs → the pairs whose smaller document the larger contains to `threshold`."""

    def __init__(self, threshold: float):
        super().__init__()
        self.threshold = threshold

    def expand(self, inputs):
        candidates, sets = inputs
        return (
            {"edges": candidates | "ByMember" >> beam.FlatMap(_to_members), "set": sets}
            | "JoinSets" >> beam.CoGroupByKey()
            | "SetsToPairs" >> beam.FlatMap(_sets_to_edges)
            | "GroupByPair" >> beam.GroupByKey()
            | "Measure" >> beam.FlatMap(_containment_edge, self.threshold)
        )


def components(edges: list[tuple[tuple, tuple, float]]) -> list[dict]:
    """Union-find over the edges: one cluster per component, its members in order, the first
    kept, and the edges that joined them."""
    parent: dict[tuple, tuple] = {}

    def find(x: tuple) -> tuple:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, _ in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)  # the root is the member first in order
    clusters: dict[tuple, dict] = {}
    for a, b, estimate in sorted(edges):
        root = find(a)
        cluster = clusters.setdefault(root, {"kept": root[1], "members": set(), "pairs": []})
        cluster["members"].update((a, b))
        cluster["pairs"].append([a[1], b[1], estimate])
    return [
        {
            "kept": c["kept"],
            "members": [member_id for _, member_id in sorted(c["members"])],
            "size": len(c["members"]),
            "pairs": c["pairs"],
        }
        for _, c in sorted(clusters.items())
    ]


class _Apply(beam.DoFn):
    def __init__(self, source: str, stage: str, write_rejects: bool):
        self.source, self.stage, self.write_rejects = source, stage, write_rejects

    def process(self, element):
        _, joined = element
        kept_instead = list(joined["kept"])
        for doc in joined["doc"]:
            if not kept_instead:
                yield doc
                continue
            accounting.count(self.source, self.stage, "dropped_near_duplicate")
            if self.write_rejects:
                reject = {"id": doc["id"], "reason": "near_duplicate", "kept": kept_instead[0]}
                yield beam.pvalue.TaggedOutput("rejects", reject)


def layout(threshold: float, measure: str, min_size_ratio: float, num_perm: int) -> LshParams:
    """LSH bands and rows: datasketch's optimum for a Jaccard threshold; for containment, the
    layout that catches a pair at the threshold with the smallest size ratio allowed."""
    if measure == "jaccard":
        return lsh_params(threshold, num_perm)
    t, r = threshold, min_size_ratio
    return lsh_for_recall(t * r / (1 + r - t * r), num_perm)


class NearDedup(beam.PTransform):
    """Documents → {"documents": one per near-duplicate cluster and every unclustered one,
    "clusters": one dict per cluster, "rejects": the dropped (with `write_rejects`)}.

    `order(doc)` ranks a cluster's members (the first is kept); it must be total: end it with
    the id. `threshold` applies to `measure` ("jaccard" or "containment"); signatures take word
    `ngram` shingles, the exact containment word `overlap_ngram` ones (default: the same): short
    ones keep an edited copy's overlap near its share of unedited words."""

    def __init__(
        self,
        source: str,
        stage: str,
        order: Callable[[dict], Any],
        *,
        threshold: float = 0.85,
        measure: str = "jaccard",
        min_size_ratio: float = 0.5,
        num_perm: int = 256,
        ngram: int = 5,
        overlap_ngram: int | None = None,
        seed: int = 1,
        field: str = "text",
        write_rejects: bool = False,
    ):
        super().__init__()
        if measure not in ("jaccard", "containment"):
            raise ValueError(f"measure: jaccard or containment, not {measure!r}")
        self.source, self.stage, self.order, self.threshold = source, stage, order, threshold
        self.measure, self.write_rejects = measure, write_rejects
        self.params = layout(threshold, measure, min_size_ratio, num_perm)
        overlap = overlap_ngram or ngram
        bands, rows = self.params.bands, self.params.rows
        self.how = Shingling(field, ngram, overlap, num_perm, seed, bands, rows)

    def expand(self, documents):
        sets = self.measure == "containment"
        signed = documents | "Sign" >> beam.ParDo(_Sign(self.how, self.order, sets)).with_outputs(
            "sets", main="bands"
        )
        candidates = (
            signed.bands
            | "GroupByBand" >> beam.GroupByKey()
            | "Candidates" >> beam.FlatMap(_edges, None if sets else self.threshold)
            | "UniqueCandidates" >> beam.Distinct()
        )
        edges = (
            (candidates, signed.sets) | "Containment" >> _Containment(self.threshold)
            if sets
            else candidates
        )
        clusters = (
            edges | "AllEdges" >> beam.combiners.ToList() | "Components" >> beam.FlatMap(components)
        )
        dropped = clusters | "Dropped" >> beam.FlatMap(
            lambda c: ((member, c["kept"]) for member in c["members"] if member != c["kept"])
        )
        applied = (
            {"doc": documents | "ById" >> beam.Map(lambda d: (d["id"], d)), "kept": dropped}
            | "Join" >> beam.CoGroupByKey()
            | "Apply"
            >> beam.ParDo(_Apply(self.source, self.stage, self.write_rejects)).with_outputs(
                "rejects", main="documents"
            )
        )
        return {"documents": applied.documents, "clusters": clusters, "rejects": applied.rejects}
