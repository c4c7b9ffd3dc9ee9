"""Nothing is lost silently: counters per named reason, the read = kept + dropped check, reports.

Pipelines count with `count(source, group, name)`: Beam Metrics counters in the namespace of the
source, named `<group>/<name>` (a group is a language, a stage, ...). Names are `read`, `kept` and
`dropped_<reason>`; anything else (`input_errors`, ...) is reported but not part of the invariant.
After the run the launcher turns the counters into `report.json` and a summary table.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter

import core.files
import core.manifest
from core.deadletter import DeadLetter
from pipelines import progress

_COUNTERS: dict[tuple[str, str], Any] = {}


def count(source: str, group: str, name: str, n: int = 1) -> None:
    key = (source, f"{group}/{name}")
    counter = _COUNTERS.get(key)
    if counter is None:
        counter = _COUNTERS[key] = Metrics.counter(*key)
    counter.inc(n)
    if name == "read":
        progress.add(read=n)


def count_dead(source: str, group: str, dead: DeadLetter) -> dict[str, Any]:
    """A reader's dead letter: a recognised document counts as read and dropped under the
    letter's reason, anything else as an input error. Returns its `dead_letter/` record."""
    if dead.document:
        count(source, group, "read")
        count(source, group, f"dropped_{dead.reason}")
    else:
        count(source, group, "input_errors")
    return dead.to_record()


def counters(result, source: str) -> dict[str, dict[str, int]]:
    """{group: {name: value}} from a finished pipeline's committed counters."""
    groups: dict[str, dict[str, int]] = defaultdict(dict)
    query = result.metrics().query(MetricsFilter().with_namespace(source))
    for item in query["counters"]:
        group, _, name = item.key.metric.name.partition("/")
        value = item.committed if item.committed is not None else item.attempted
        groups[group][name] = groups[group].get(name, 0) + int(value)
    return {g: dict(sorted(v.items())) for g, v in sorted(groups.items())}


def totals(groups: dict[str, dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for values in groups.values():
        for name, value in values.items():
            out[name] += value
    return dict(sorted(out.items()))


def invariant(values: dict[str, int]) -> dict[str, Any]:
    read = values.get("read", 0)
    accounted = values.get("kept", 0) + sum(
        v for k, v in values.items() if k.startswith("dropped_")
    )
    return {"read": read, "kept_plus_dropped": accounted, "holds": read == accounted}


def read_manifest(directory: str) -> dict | None:
    body = core.manifest.read_manifest(directory)
    return None if body is None else {**body, "directory": directory}


def finish(output: str, report: dict) -> dict:
    """Write `<output>/report.json`; a run that lost documents exits non-zero after writing it."""
    core.files.write_json(core.files.join(output, "report.json"), report)
    if not report["invariant"]["holds"]:
        raise SystemExit(f"{output}: read != kept + dropped: {report['invariant']}")
    return report


def _outputs_table(outputs: dict[str, Any]):
    from rich.table import Table

    files = Table(title="outputs")
    for column in ("output", "rows", "bytes", "shards", "directory"):
        numeric = column in ("rows", "bytes", "shards")
        files.add_column(column, justify="right" if numeric else "left")
    for name, manifest in outputs.items():
        if manifest:
            files.add_row(
                name,
                f"{manifest['rows']:,}",
                f"{manifest['bytes']:,}",
                str(manifest["num_shards"]),
                manifest["directory"],
            )
    return files


def print_summary(
    title: str, groups: dict[str, dict[str, int]], outputs: dict[str, Any], notes: list = ()
) -> None:
    """The table a user reads at the end of a run: counts per group (language), then outputs."""
    from rich.console import Console
    from rich.table import Table

    all_values = totals(groups)
    names = ["read", "kept", *sorted(k for k in all_values if k not in ("read", "kept"))]
    table = Table(title=title)
    table.add_column("count")
    for group in groups:
        table.add_column(group, justify="right")
    table.add_column("total", justify="right", style="bold")
    for name in names:
        cells = [f"{groups[g].get(name, 0):,}" for g in groups]
        table.add_row(name, *cells, f"{all_values.get(name, 0):,}")
    console = Console()
    console.print(table)
    console.print(_outputs_table(outputs))
    for note in notes:
        console.print(note)


def print_stages(
    title: str, stages: dict[str, dict[str, int]], outputs: dict[str, Any], notes: list
) -> None:
    """The end-of-run table of a staged pipeline: one row per stage and count, then outputs."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("stage", "count", "documents"):
        table.add_column(column, justify="right" if column == "documents" else "left")
    for stage, values in stages.items():
        for name, value in values.items():
            table.add_row(stage, name, f"{value:,}")
    all_values = totals(stages)
    check = invariant(all_values)
    table.add_row("total", "read", f"{check['read']:,}", style="bold")
    table.add_row("total", "kept + dropped", f"{check['kept_plus_dropped']:,}", style="bold")
    console = Console()
    console.print(table)
    console.print(_outputs_table(outputs))
    for note in notes:
        console.print(note)
