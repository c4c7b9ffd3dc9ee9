"""Mixture definitions: which sources a model trains on, in what proportion, for how many tokens.

A mixture is a YAML file (`mixtures/<name>.yaml`, or any path). Loading validates it and fails with
a message naming the file and the fix, because a wrong mixture silently skews a whole training run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml

# The corpus's sources (docs/design.md, "Documents"): a mixture may use any subset of them.
SOURCES = ("commoncrawl", "c4", "github", "wikipedia", "books", "arxiv", "stackexchange")
MIXTURES_DIR = Path(__file__).resolve().parent
WEIGHT_SUM_TOLERANCE = 1e-6
FIELDS = (
    "name",
    "description",
    "budget_tokens",
    "model_budgets",
    "max_epochs",
    "tolerance",
    "sources",
)


MAX_FILE_BYTES = 1 << 20  # a mixture is a few hundred bytes: refuse to parse a large file


class MixtureError(ValueError):
    """A mixture file that cannot be used as written."""


class _Loader(yaml.SafeLoader):
    """SafeLoader without aliases: a mixture needs none, and a 300-byte file of lists of aliases
    of lists (a "billion laughs") is gigabytes once a field is turned into a string."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed", mark)
        return super().compose_node(parent, index)


@dataclass(frozen=True)
class Source:
    name: str
    weight: float
    paper_epochs: float | None = None
    paper_disk_bytes: float | None = None


@dataclass(frozen=True)
class Mixture:
    name: str
    sources: dict[str, Source]
    budget_tokens: float
    model_budgets: dict[str, float]
    max_epochs: float
    tolerance: float
    path: Path
    description: str = ""

    @property
    def weights(self) -> dict[str, float]:
        return {name: source.weight for name, source in self.sources.items()}

    def budget(self, model: str | None = None) -> float:
        """Training tokens for `model` (the paper trained 7B/13B on fewer), else the default."""
        return self.model_budgets.get(model, self.budget_tokens) if model else self.budget_tokens


def mixture_path(name_or_path: str | Path) -> Path:
    """`llama1` → mixtures/llama1.yaml; anything with a suffix or a slash is a path."""
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or "/" in text:
        return Path(text)
    return MIXTURES_DIR / f"{text}.yaml"


def available() -> list[str]:
    return sorted(p.stem for p in MIXTURES_DIR.glob("*.yaml"))


def load_mixture(name_or_path: str | Path) -> Mixture:
    path = mixture_path(name_or_path)
    if not path.is_file():
        raise MixtureError(
            f"no mixture {name_or_path!r} ({path} does not exist); known: {available()}"
        )
    with path.open("rb") as fh:
        data = fh.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise MixtureError(f"{path}: over {MAX_FILE_BYTES} bytes, not a mixture file")
    try:
        loader = _Loader(data.decode("utf-8"))
        try:
            spec = loader.get_single_data()
        finally:
            loader.dispose()
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: nesting too deep for the composer
        raise MixtureError(f"{path}: not valid YAML (UTF-8): {str(exc)[:300]}") from None
    if (
        not isinstance(spec, dict)
        or not isinstance(spec.get("sources"), dict)
        or not spec["sources"]
    ):
        raise MixtureError(f"{path}: needs a `sources:` mapping of source name → {{weight: …}}")
    unknown = sorted(str(key) for key in spec if key not in FIELDS)
    if unknown:  # a misspelt key would otherwise silently fall back to its default
        raise MixtureError(f"{path}: unknown fields {unknown}; fields are {', '.join(FIELDS)}")
    sources = {name: _source(path, name, fields) for name, fields in spec["sources"].items()}
    total = sum(s.weight for s in sources.values())
    if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
        raise MixtureError(
            f"{path}: source weights sum to {total:.6f}, not 1; "
            + ", ".join(f"{s.name}={s.weight}" for s in sources.values())
        )
    budget = _number(path, "budget_tokens", spec.get("budget_tokens"), positive=True)
    models = spec.get("model_budgets") or {}
    if not isinstance(models, dict):
        raise MixtureError(f"{path}: model_budgets must be a mapping of model name → tokens")
    model_budgets = {
        str(model): _number(path, f"model_budgets.{model}", value, positive=True)
        for model, value in models.items()
    }
    return Mixture(
        name=str(spec.get("name", path.stem)),
        sources=sources,
        budget_tokens=budget,
        model_budgets=model_budgets,
        max_epochs=_number(path, "max_epochs", spec.get("max_epochs", 3.0), positive=True),
        tolerance=_number(path, "tolerance", spec.get("tolerance", 0.01), positive=True),
        path=path,
        description=str(spec.get("description", "")),
    )


def _source(path: Path, name: str, fields) -> Source:
    if name not in SOURCES:
        raise MixtureError(f"{path}: unknown source {name!r}; sources are {', '.join(SOURCES)}")
    if not isinstance(fields, dict) or "weight" not in fields:
        raise MixtureError(
            f"{path}: source {name!r} needs a weight (e.g. `{name}: {{weight: 0.1}}`)"
        )
    unknown = set(fields) - {"weight", "paper_epochs", "paper_disk_bytes"}
    if unknown:
        raise MixtureError(f"{path}: source {name!r} has unknown fields {sorted(unknown)}")
    weight = _number(path, f"{name}.weight", fields["weight"], positive=False)
    if not 0 < weight <= 1:
        raise MixtureError(f"{path}: source {name!r} weight {weight} is not in (0, 1]")
    optional = {
        k: _number(path, f"{name}.{k}", fields.get(k), positive=True, optional=True)
        for k in ("paper_epochs", "paper_disk_bytes")
    }
    return Source(name=name, weight=weight, **optional)


def _number(path: Path, key: str, value, *, positive: bool, optional: bool = False):
    if value is None and optional:
        return None
    if isinstance(value, bool):  # YAML `yes`/`true` would otherwise read as 1.0
        raise MixtureError(f"{path}: {key} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int of 400 digits
        raise MixtureError(f"{path}: {key} must be a number, got {value!r}") from None
    if not math.isfinite(number) or (positive and number <= 0):
        raise MixtureError(
            f"{path}: {key} must be a finite {'positive ' if positive else ''}number"
        )
    return number
