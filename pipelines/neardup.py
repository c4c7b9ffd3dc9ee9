"""`NearDedup`: near-duplicate documents found with MinHash LSH, one kept per cluster.

Each document's signature (filters.minhash) is cut into LSH bands; documents that share a band
meet in one group of the shuffle, where every pair (or, in a group over `MAX_PAIRS_GROUP`, every
member against the group's first) whose signatures estimate a Jaccard similarity at or over the
threshold becomes an edge. Clusters are the connected components of the edges (union-find), and
the member first by `order` is kept; the others are dropped as `near_duplicate`. The clusters
(members, kept, each edge's estimate) are an output of their own, since users ask which
documents were merged. The components are computed where all edges meet: edges only (two ids
and a number each), never the documents; a collection whose duplicate pairs do not fit one
worker needs a distributed components step instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import apache_beam as beam
import numpy as np

from filters.minhash import band_keys, jaccard, lsh_params, shingles, signature
from pipelines import accounting

MAX_PAIRS_GROUP = 64  # a band shared by more documents is checked against its first member only


@dataclass(frozen=True)
class Shingling:
    field: str  # the document's text field
    ngram: int  # words per shingle
    num_perm: int
    seed: int
    bands: int
    rows: int


class _Sign(beam.DoFn):
    def __init__(self, how: Shingling, order: Callable[[dict], Any]):
        self.how, self.order = how, order

    def process(self, doc: dict):
        how = self.how
        sig = signature(shingles(doc[how.field], how.ngram), how.num_perm, how.seed)
        member = (self.order(doc), doc["id"], sig.tobytes())
        for key in band_keys(sig, how.bands, how.rows):
            yield key, member


def _edges(element, threshold: float):
    """Verified pairs of one band's documents: ((order, id), (order, id), estimate)."""
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
        if estimate >= threshold:
            yield members[i][:2], members[j][:2], round(estimate, 4)


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


class NearDedup(beam.PTransform):
    """Documents → {"documents": one per near-duplicate cluster and every unclustered one,
    "clusters": one dict per cluster, "rejects": the dropped (with `write_rejects`)}.

    `order(doc)` ranks a cluster's members (the first is kept); it must be total: end it with
    the id. `threshold` is the estimated Jaccard similarity of word `ngram` shingles."""

    def __init__(
        self,
        source: str,
        stage: str,
        order: Callable[[dict], Any],
        *,
        threshold: float = 0.85,
        num_perm: int = 256,
        ngram: int = 5,
        seed: int = 1,
        field: str = "text",
        write_rejects: bool = False,
    ):
        super().__init__()
        self.source, self.stage, self.order, self.threshold = source, stage, order, threshold
        self.write_rejects = write_rejects
        self.params = lsh_params(threshold, num_perm)
        self.how = Shingling(field, ngram, num_perm, seed, self.params.bands, self.params.rows)

    def expand(self, documents):
        clusters = (
            documents
            | "Sign" >> beam.ParDo(_Sign(self.how, self.order))
            | "GroupByBand" >> beam.GroupByKey()
            | "Edges" >> beam.FlatMap(_edges, self.threshold)
            | "UniqueEdges" >> beam.Distinct()
            | "AllEdges" >> beam.combiners.ToList()
            | "Components" >> beam.FlatMap(components)
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
