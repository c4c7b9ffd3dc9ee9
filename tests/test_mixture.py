"""mixtures/mixture.py: llama1.yaml holds Table 1 exactly, and a bad mixture file is refused with
a message naming the file and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from mixtures.mixture import (
    MIXTURES_DIR,
    SOURCES,
    MixtureError,
    available,
    load_mixture,
    mixture_path,
)

TABLE_1 = {  # source: (sampling proportion, epochs, disk size in bytes)
    "commoncrawl": (0.670, 1.10, 3.3e12),
    "c4": (0.150, 1.06, 783e9),
    "github": (0.045, 0.64, 328e9),
    "wikipedia": (0.045, 2.45, 83e9),
    "books": (0.045, 2.23, 85e9),
    "arxiv": (0.025, 1.06, 92e9),
    "stackexchange": (0.020, 1.03, 78e9),
}


def test_llama1_is_table_1():
    mixture = load_mixture("llama1")
    assert mixture.name == "llama1"
    assert mixture.path == MIXTURES_DIR / "llama1.yaml"
    assert list(mixture.sources) == list(SOURCES)
    assert mixture.weights == {name: row[0] for name, row in TABLE_1.items()}
    for name, (_, epochs, disk) in TABLE_1.items():
        source = mixture.sources[name]
        assert (source.name, source.paper_epochs, source.paper_disk_bytes) == (name, epochs, disk)
    assert sum(mixture.weights.values()) == pytest.approx(1.0, abs=1e-12)
    assert mixture.budget_tokens == 1.4e12
    assert mixture.model_budgets == {
        "llama-7b": 1.0e12,
        "llama-13b": 1.0e12,
        "llama-33b": 1.4e12,
        "llama-65b": 1.4e12,
    }
    assert (mixture.max_epochs, mixture.tolerance) == (3.0, 0.01)


def test_budget_per_model():
    mixture = load_mixture("llama1")
    assert mixture.budget() == 1.4e12
    assert mixture.budget("llama-7b") == mixture.budget("llama-13b") == 1.0e12
    assert mixture.budget("llama-65b") == 1.4e12
    assert mixture.budget("llama-125m") == 1.4e12  # no entry: the default


def test_names_and_paths():
    assert mixture_path("llama1") == MIXTURES_DIR / "llama1.yaml"
    assert mixture_path("mine.yaml") == Path("mine.yaml")
    assert mixture_path("configs/mine") == Path("configs/mine")
    assert "llama1" in available()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mix.yaml"
    path.write_text(text, encoding="utf-8")
    return path


BUDGET = "budget_tokens: 1.0e12\n"
GOOD_SOURCES = "sources:\n  commoncrawl: {weight: 0.6}\n  c4: {weight: 0.4}\n"


def test_a_minimal_mixture_gets_defaults(tmp_path):
    # PyYAML reads `1e12` (no dot) as a string: numbers given as strings are accepted.
    mixture = load_mixture(write(tmp_path, "budget_tokens: 1e12\n" + GOOD_SOURCES))
    assert mixture.name == "mix" and mixture.budget_tokens == 1e12
    assert mixture.weights == {"commoncrawl": 0.6, "c4": 0.4}
    assert (mixture.max_epochs, mixture.tolerance, mixture.model_budgets) == (3.0, 0.01, {})
    assert mixture.sources["c4"].paper_epochs is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            BUDGET + "sources:\n  commoncrawl: {weight: 0.5}\n  c4: {weight: 0.4}\n",
            "source weights sum to 0.900000, not 1; commoncrawl=0.5, c4=0.4",
        ),
        (
            BUDGET + "sources:\n  commoncrawl: {weight: 0.6}\n  reddit: {weight: 0.4}",
            "unknown source 'reddit'; sources are commoncrawl, c4, github,",
        ),
        (
            BUDGET + "sources:\n  commoncrawl: {weight: 1}\n  c4: {paper_epochs: 1}",
            "source 'c4' needs a weight",
        ),
        (
            BUDGET + "sources:\n  commoncrawl: {weight: 1}\n  c4: {weight: -0.1}",
            "source 'c4' weight -0.1 is not in (0, 1]",
        ),
        (
            BUDGET + "sources:\n  commoncrawl: {weight: 1}\n  c4: {weight: abc}",
            "c4.weight must be a number, got 'abc'",
        ),
        (
            BUDGET + "sources:\n  commoncrawl: {weight: yes}",
            "commoncrawl.weight must be a number, got True",
        ),
        (
            BUDGET + "sources:\n  commoncrawl: {weight: .nan}",
            "commoncrawl.weight must be a finite number",
        ),
        (
            BUDGET + "sources:\n  commoncrawl: {weight: 1, epochs: 2}",
            "source 'commoncrawl' has unknown fields ['epochs']",
        ),
        (
            BUDGET + "max_epoch: 5\n" + GOOD_SOURCES,
            "unknown fields ['max_epoch']; fields are name, description, budget_tokens,",
        ),
        (GOOD_SOURCES, "budget_tokens must be a number, got None"),
        ("budget_tokens: -5\n" + GOOD_SOURCES, "budget_tokens must be a finite positive number"),
        (
            BUDGET + "model_budgets: [1, 2]\n" + GOOD_SOURCES,
            "model_budgets must be a mapping of model name → tokens",
        ),
        (
            BUDGET + "model_budgets: {llama-7b: 0}\n" + GOOD_SOURCES,
            "model_budgets.llama-7b must be a finite positive number",
        ),
        (BUDGET + "tolerance: x\n" + GOOD_SOURCES, "tolerance must be a number"),
        (BUDGET + "sources: [commoncrawl]\n", "needs a `sources:` mapping"),
        ("", "needs a `sources:` mapping"),
        ("sources: {commoncrawl: {weight: 1}\n", "not valid YAML"),
    ],
)
def test_bad_mixtures_name_the_file_and_the_problem(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(MixtureError) as error:
        load_mixture(path)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)


def test_a_missing_mixture_lists_the_known_ones(tmp_path):
    with pytest.raises(MixtureError, match=r"no mixture 'nope' \(.*nope\.yaml does not exist\)"):
        load_mixture("nope")
    path = tmp_path / "absent.yaml"
    with pytest.raises(MixtureError) as error:
        load_mixture(path)
    assert f"{path} does not exist" in str(error.value) and "'llama1'" in str(error.value)
