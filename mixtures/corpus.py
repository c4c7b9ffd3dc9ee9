"""The corpus table (`make corpus`): per source of a mixture, what its pipeline read, kept and
dropped (its report.json) next to what its token shards give the mixture (the auditor's
audit.json): documents, tokens, the share of the source's draw they serve without repeating a
token, and the epochs the budget implies against LLaMA's Table 1.

    python -m mixtures.corpus --mixture llama1 --data out --audit out/audit/audit.json
    python -m mixtures.corpus --mixture llama1 --list    # the mixture's sources, for make
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from core.files import write_atomically
from mixtures.mixture import load_mixture

TOP_REASONS = 3  # drop reasons shown in the table (all are in corpus.json)


def source_row(name: str, report: dict | None, audited: dict) -> dict[str, Any]:
    """One source: its pipeline's counts (None when it has not run) and its tokens' place in
    the mixture."""
    totals = (report or {}).get("totals", {})
    dropped = {k.removeprefix("dropped_"): v for k, v in totals.items() if k.startswith("dropped_")}
    drawn, tokens = audited.get("drawn_tokens"), audited.get("tokens") or 0
    return {
        "source": name,
        "weight": audited.get("weight"),
        "pipeline_ran": report is not None,
        "read": totals.get("read"),
        "kept": totals.get("kept"),
        "dropped": dict(sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0]))),
        "documents": audited.get("documents"),
        "tokens": tokens,
        "served_share": min(1.0, tokens / drawn) if drawn else None,
        "epochs": audited.get("epochs"),
        "paper_epochs": audited.get("paper_epochs"),
        "status": audited.get("status"),
    }


def corpus(mixture_name: str, data: Path, audit: dict) -> dict[str, Any]:
    mixture = load_mixture(mixture_name)
    rows = []
    for name in mixture.sources:
        path = data / name / "report.json"
        report = json.loads(path.read_text()) if path.exists() else None
        rows.append(source_row(name, report, audit["sources"].get(name, {})))
    budget = audit.get("parameters", {}).get("budget_tokens")
    return {"mixture": mixture.name, "budget_tokens": budget, "sources": rows}


def _number(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def print_table(body: dict[str, Any], console: Console) -> None:
    table = Table(title=f"corpus: {body['mixture']}")
    for column in ("source", "weight", "read", "kept", "dropped (top)", "documents", "tokens",
                   "served", "epochs", "Table 1"):  # fmt: skip
        table.add_column(
            column, justify="left" if column in ("source", "dropped (top)") else "right"
        )
    for row in body["sources"]:
        top = list(row["dropped"].items())[:TOP_REASONS]
        table.add_row(
            row["source"],
            f"{row['weight']:.1%}" if row["weight"] is not None else "—",
            _number(row["read"]),
            _number(row["kept"]),
            ", ".join(f"{k} {v:,}" for k, v in top) or ("—" if row["pipeline_ran"] else "not run"),
            _number(row["documents"]),
            _number(row["tokens"]),
            f"{row['served_share']:.2e}" if row["served_share"] is not None else "—",
            f"{row['epochs']:.3g}" if row["epochs"] is not None else "∞",
            _number(row["paper_epochs"], 2),
        )
    console.print(table)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mixture", default="llama1", help="a mixture name or YAML path")
    parser.add_argument("--list", action="store_true", help="print the mixture's sources")
    parser.add_argument("--data", type=Path, default=Path("out"), help="the pipelines' output")
    parser.add_argument("--audit", type=Path, default=None, help="the auditor's audit.json")
    parser.add_argument("--out", type=Path, default=None, help="corpus.json (default: beside it)")
    args = parser.parse_args(argv)
    if args.list:
        print(" ".join(load_mixture(args.mixture).sources))
        return
    audit_path = args.audit or args.data / "audit" / "audit.json"
    if not audit_path.exists():
        raise SystemExit(f"{audit_path}: no audit; run make audit first")
    body = corpus(args.mixture, args.data, json.loads(audit_path.read_text()))
    out = args.out or audit_path.with_name("corpus.json")
    write_atomically(out, (json.dumps(body, indent=1) + "\n").encode())
    print_table(body, Console(width=160))


if __name__ == "__main__":
    main()
