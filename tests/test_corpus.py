"""The corpus table: a pipeline's report beside what its tokens give the mixture."""

from __future__ import annotations

import json

from mixtures.corpus import corpus, main, source_row


def test_a_row_joins_the_report_and_the_audit():
    report = {"totals": {"read": 10, "kept": 6, "dropped_empty": 1, "dropped_bad": 3}}
    audited = {"weight": 0.045, "drawn_tokens": 2000.0, "tokens": 500, "documents": 6,
               "epochs": 4.0, "paper_epochs": 2.23, "status": "ok"}  # fmt: skip
    assert source_row("books", report, audited) == {
        "source": "books",
        "weight": 0.045,
        "pipeline_ran": True,
        "read": 10,
        "kept": 6,
        "dropped": {"bad": 3, "empty": 1},
        "documents": 6,
        "tokens": 500,
        "served_share": 0.25,
        "epochs": 4.0,
        "paper_epochs": 2.23,
        "status": "ok",
    }
    missing = source_row(
        "arxiv", None, {"weight": 0.025, "drawn_tokens": 10.0, "status": "missing"}
    )
    assert (missing["pipeline_ran"], missing["read"], missing["served_share"]) == (False, None, 0.0)


def test_every_source_of_the_mixture_in_order(tmp_path, capsys):
    (tmp_path / "c4").mkdir()
    (tmp_path / "c4/report.json").write_text(json.dumps({"totals": {"read": 3, "kept": 3}}))
    audit = {"parameters": {"budget_tokens": 1e6}, "sources": {"c4": {"tokens": 9, "weight": 0.15}}}
    body = corpus("llama1", tmp_path, audit)
    assert [r["source"] for r in body["sources"]] == [
        "commoncrawl", "c4", "github", "wikipedia", "books", "arxiv", "stackexchange"
    ]  # fmt: skip
    assert body["budget_tokens"] == 1e6 and body["sources"][1]["kept"] == 3
    (tmp_path / "audit").mkdir()
    (tmp_path / "audit/audit.json").write_text(json.dumps(audit))
    main(["--mixture", "llama1", "--data", str(tmp_path)])
    assert json.loads((tmp_path / "audit/corpus.json").read_text()) == body
    assert "corpus: llama1" in capsys.readouterr().out
    main(["--list"])
    assert capsys.readouterr().out.split() == [r["source"] for r in body["sources"]]
