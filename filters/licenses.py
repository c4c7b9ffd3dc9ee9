"""LLaMA-1's licence rule: keep projects under MIT, BSD and Apache licences.

Inputs name licences three ways: BigQuery's `github_repos.licenses` keys ("mit", "bsd-3-clause",
GitHub's licence detector), The Stack's lists of SPDX ids, and PyPI's classifiers and free text.
`spdx_of` maps all three to SPDX ids (current ones: "gpl-2.0" -> "GPL-2.0-only"), `is_permissive`
decides on one name, a list or an SPDX expression, and `detect_license` reads a LICENSE/COPYING
file for local repositories.

PERMISSIVE follows LLaMA's three families. RedPajama's query kept `mit%`, `bsd%` and `apache%`
of BigQuery's keys, which holds two BSD licences (bsd-2-clause, bsd-3-clause). Of the other BSD
ids we keep those that only ask for the notice to be kept (0BSD, BSD-1-Clause, the patent and
"Clear" variants, LBNL) and leave out BSD-4-Clause, whose advertising clause binds every later
user, and the field-of-use variants (No-Nuclear...). ISC, Unlicense, CC0 and the PSF licence are
permissive too but not among LLaMA's three, so they go ("license_not_permissive").
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from itertools import pairwise
from pathlib import Path
from typing import Any, Final, NamedTuple

from filters.base import KEEP, Decision, Filter

PERMISSIVE: Final = frozenset({
    "MIT", "MIT-0",
    "0BSD", "BSD-1-Clause", "BSD-2-Clause", "BSD-2-Clause-Patent", "BSD-3-Clause",
    "BSD-3-Clause-Clear", "BSD-3-Clause-LBNL",
    "Apache-1.0", "Apache-1.1", "Apache-2.0",
})  # fmt: skip

# SPDX ids retired for clearer ones: the bare GNU ids did not say "only" or "or later"; GitHub's
# detector and the plain licence texts do not say either, and "only" is what the text grants.
_RENAMED: Final[dict[str, str]] = {
    **{
        f"{g}-{v}": f"{g}-{v}-only"
        for g, vs in (
            ("GPL", ("1.0", "2.0", "3.0")),
            ("LGPL", ("2.0", "2.1", "3.0")),
            ("AGPL", ("1.0", "3.0")),
            ("GFDL", ("1.1", "1.2", "1.3")),
        )
        for v in vs
    },
    "BSD-2-Clause-FreeBSD": "BSD-2-Clause",
    "BSD-2-Clause-NetBSD": "BSD-2-Clause",
}

# Names no SPDX id spells: normalised (`_key`) -> SPDX id. "BSD" alone is most often the 3-clause
# text on PyPI; an unversioned GNU licence means any version, so "1.0/2.0-or-later" per SPDX.
_ALIASES: Final[dict[str, str]] = {
    "mit": "MIT", "expat": "MIT", "mit x11": "MIT", "x11": "X11", "mit 0": "MIT-0",
    "bsd": "BSD-3-Clause", "new bsd": "BSD-3-Clause", "modified bsd": "BSD-3-Clause",
    "revised bsd": "BSD-3-Clause", "bsd 3": "BSD-3-Clause", "bsd 3 clause": "BSD-3-Clause",
    "3 clause bsd": "BSD-3-Clause", "bsd3": "BSD-3-Clause", "bsd 2": "BSD-2-Clause",
    "bsd 2 clause": "BSD-2-Clause", "2 clause bsd": "BSD-2-Clause", "bsd2": "BSD-2-Clause",
    "simplified bsd": "BSD-2-Clause", "freebsd": "BSD-2-Clause", "zero clause bsd": "0BSD",
    "0bsd": "0BSD", "bsd 0 clause": "0BSD",
    "apache": "Apache-2.0", "apache 2": "Apache-2.0", "apache 2.0": "Apache-2.0",
    "apache2": "Apache-2.0", "asl 2.0": "Apache-2.0", "al 2.0": "Apache-2.0",
    "apache 1.1": "Apache-1.1", "apache 1.0": "Apache-1.0",
    "isc": "ISC", "iscl": "ISC", "unlicense": "Unlicense", "cc0": "CC0-1.0", "cc0 1.0": "CC0-1.0",
    "psf": "PSF-2.0", "psfl": "PSF-2.0", "python foundation": "PSF-2.0",
    "mpl 2.0": "MPL-2.0", "mozilla public 2.0": "MPL-2.0", "mpl 1.1": "MPL-1.1",
    "mozilla public 1.1": "MPL-1.1", "epl 1.0": "EPL-1.0", "epl 2.0": "EPL-2.0",
    "eclipse public 1.0": "EPL-1.0", "eclipse public 2.0": "EPL-2.0",
    "artistic 2.0": "Artistic-2.0", "boost": "BSL-1.0", "zlib libpng": "Zlib-acknowledgement",
    "gpl": "GPL-1.0-or-later", "gnu gpl": "GPL-1.0-or-later",
    "gnu general public": "GPL-1.0-or-later", "lgpl": "LGPL-2.0-or-later",
    "gnu lgpl": "LGPL-2.0-or-later", "gnu lesser general public": "LGPL-2.0-or-later",
    "gnu library or lesser general public lgpl": "LGPL-2.0-or-later",
    "agpl": "AGPL-3.0-or-later",
}  # fmt: skip


def _gnu_aliases() -> dict[str, str]:
    """ "GPL v2", "GPLv2+", "GNU General Public License v3 or later" (a PyPI classifier) ..."""
    aliases = {}
    for family, long_names, versions in (
        ("GPL", ("gnu general public",), ("1.0", "2.0", "3.0")),
        (
            "LGPL",
            ("gnu lesser general public", "gnu library general public"),
            ("2.0", "2.1", "3.0"),
        ),
        ("AGPL", ("gnu affero general public",), ("1.0", "3.0")),
    ):
        short = family.lower()
        for version in versions:
            only, later = f"{family}-{version}-only", f"{family}-{version}-or-later"
            for v in {version, version.removesuffix(".0")}:
                for name in (f"{short} {v}", f"{short}{v}", f"gnu {short} {v}",
                             *(f"{n} {v}" for n in long_names)):  # fmt: skip
                    aliases[name] = only
                    aliases[f"{name}+"] = aliases[f"{name} or later"] = later
    return aliases


_ALIASES.update(_gnu_aliases())


@cache
def _spdx_db() -> dict[str, Any]:
    """The SPDX licence list of the `spdx` package (PyPI spdx==2.5.1, CC0): ids and texts."""
    data = Path(str(files("spdx"))) / "data"
    with open(data / "db.json", encoding="utf-8") as f:
        return {"data": data, "licenses": json.load(f)["licenses"]}


@cache
def _ids() -> dict[str, str]:
    """Lower-cased SPDX id -> current SPDX id, for every id of the list and the current GNU ids."""
    ids = {}
    for record in _spdx_db()["licenses"]:
        ids[record["id"].lower()] = _RENAMED.get(record["id"], record["id"])
    for new in (*_RENAMED.values(), *PERMISSIVE, "PSF-2.0"):
        ids[new.lower()] = new
    for old, new in _RENAMED.items():
        if new.endswith("-only"):
            ids[f"{old.lower()}+"] = ids[f"{new[:-5].lower()}-or-later"] = new[:-5] + "-or-later"
    return ids


_PAREN: Final = re.compile(r"\(([^()]*)\)")


def _key(name: str) -> str:
    key = name.lower().replace("licence", "license")
    key = re.sub(r"\b(?:the|license[sd]?|version|software|v(?=\d))\b|\bv(?=\d)", " ", key)
    key = re.sub(r"(?<=gpl)v(?=\d)", " ", key)  # "GPLv3"
    key = re.sub(r"[^a-z0-9.+]+", " ", key)
    return re.sub(r"\s+", " ", key).strip(" .")


def spdx_of(name: str) -> str | None:
    """The SPDX id a licence name means, or None for a name it cannot place."""
    name = name.strip()
    if "::" in name:  # a PyPI classifier: "License :: OSI Approved :: MIT License"
        name = name.rsplit("::", 1)[1].strip()
    if not name:
        return None
    ids = _ids()
    if name.lower() in ids:
        return ids[name.lower()]
    for candidate in (_PAREN.sub(" ", name), *_PAREN.findall(name)):
        if candidate.strip().lower() in ids:
            return ids[candidate.strip().lower()]
        key = _key(candidate)
        if key in _ALIASES:
            return _ALIASES[key]
        if key.replace(" ", "-") in ids:
            return ids[key.replace(" ", "-")]
    return None


# An SPDX expression's operators; the leaves between them are licence names (free text allowed:
# "MIT or Apache 2.0"). "/" joins alternatives in older package metadata ("MIT/Apache-2.0").
_OPERATOR: Final = re.compile(r"(\(|\)|/|\bOR\b|\bAND\b|\bWITH\b)", re.IGNORECASE)


def _verdict_of_name(name: str) -> bool | None:
    spdx_id = spdx_of(name)
    return None if spdx_id is None else spdx_id in PERMISSIVE


def _combine(op: str, verdicts: list[bool | None]) -> bool | None:
    """OR: one permissive choice is enough; AND: every part must be. None: undecidable."""
    if op == "OR":
        return True if True in verdicts else (None if None in verdicts else False)
    return False if False in verdicts else (None if None in verdicts else True)


class _Parser:
    def __init__(self, tokens: list[str]):
        self.tokens, self.at = tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> str | None:
        token = self.peek()
        self.at += 1
        return token

    def expression(self) -> bool | None:  # or-list of and-lists
        verdicts = [self.conjunction()]
        while (self.peek() or "").upper() in ("OR", "/"):
            self.take()
            verdicts.append(self.conjunction())
        return _combine("OR", verdicts)

    def conjunction(self) -> bool | None:
        verdicts = [self.atom()]
        while (self.peek() or "").upper() == "AND":
            self.take()
            verdicts.append(self.atom())
        return _combine("AND", verdicts)

    def atom(self) -> bool | None:
        token = self.take()
        if token == "(":  # noqa: S105 (a licence-expression token)
            verdict = self.expression()
            if self.take() != ")":
                raise ValueError("unbalanced parentheses")
        elif token is None or token.upper() in ("OR", "AND", "WITH", "/", ")"):
            raise ValueError(f"a licence expected, got {token!r}")
        else:
            verdict = _verdict_of_name(token)
        if (self.peek() or "").upper() == "WITH":  # an exception only adds permissions
            self.take()
            self.take()
        return verdict


def _expression_verdict(text: str) -> bool | None:
    if spdx_of(text) is not None:  # "MIT/X11", "GPL-2.0+" are names, not expressions
        return _verdict_of_name(text)
    tokens = [t.strip() for t in _OPERATOR.split(text) if t.strip()]
    try:
        parser = _Parser(tokens)
        verdict = parser.expression()
    except ValueError:
        return None
    return verdict if parser.peek() is None else None


def license_verdict(licenses: str | Sequence[str] | None) -> bool | None:
    """True: permissive. False: a licence outside PERMISSIVE. None: no licence, or one that
    cannot be placed. A list is a repository's licences (The Stack lists every licence file it
    found): all must be permissive, since a GPL file among MIT ones still binds its code."""
    if licenses is None:
        return None
    if isinstance(licenses, str):
        return _expression_verdict(licenses) if licenses.strip() else None
    verdicts = [license_verdict(item) for item in licenses]
    return _combine("AND", verdicts) if verdicts else None


def is_permissive(licenses: str | Sequence[str] | None) -> bool:
    return license_verdict(licenses) is True


class LicenseFilter(Filter):
    """Keeps documents whose doc["license"] (a name, a list, an SPDX expression) is permissive."""

    name = "license"

    def decide(self, doc: dict[str, Any]) -> Decision:
        verdict = license_verdict(doc.get("license"))
        if verdict is None:
            return Decision.drop("license_unknown")
        return KEEP if verdict else Decision.drop("license_not_permissive")


# ---- detect_license: a text matcher for LICENSE files ----

# Reference texts (the `spdx` package's templates) -> the id reported. Permissive ones, and the
# usual copyleft and other licences, so that a GPL text is recognised as GPL and never matches a
# permissive template by default.
_REFERENCES: Final[dict[str, str]] = {
    "MIT": "MIT", "ISC": "ISC", "0BSD": "0BSD", "BSD-2-Clause": "BSD-2-Clause",
    "BSD-3-Clause": "BSD-3-Clause", "BSD-3-Clause-Clear": "BSD-3-Clause-Clear",
    "BSD-4-Clause": "BSD-4-Clause", "Apache-1.1": "Apache-1.1", "Apache-2.0": "Apache-2.0",
    "Unlicense": "Unlicense", "CC0-1.0": "CC0-1.0", "Zlib": "Zlib", "BSL-1.0": "BSL-1.0",
    "Python-2.0": "Python-2.0", "Artistic-2.0": "Artistic-2.0",
    "GPL-2.0": "GPL-2.0-only", "GPL-3.0": "GPL-3.0-only", "LGPL-2.0": "LGPL-2.0-only",
    "LGPL-2.1": "LGPL-2.1-only", "LGPL-3.0": "LGPL-3.0-only", "AGPL-3.0": "AGPL-3.0-only",
    "MPL-1.1": "MPL-1.1", "MPL-2.0": "MPL-2.0", "EPL-1.0": "EPL-1.0",
}  # fmt: skip

THRESHOLD: Final = 0.9  # share of a reference's word pairs the file must contain
_TIE: Final = 0.02  # scores this close are a tie, won by the longer (more specific) reference
_MAX_CHARS: Final = 1 << 20  # a licence file is kilobytes; longer input is cut there


class LicenseMatch(NamedTuple):
    spdx_id: str
    score: float  # share of the reference's word pairs found in the text, 0..1


# SPDX Matching Guidelines, B.6: equivalent words. Punctuation, quotes, dashes, bullets and
# numbering (B.4, B.5, B.7, B.8) carry no word, so word pairs ignore them.
_EQUIVALENT: Final[tuple[tuple[str, str], ...]] = (
    ("licence", "license"), ("acknowledgement", "acknowledgment"), ("analogue", "analog"),
    ("per cent", "percent"), ("sub-license", "sublicense"), ("sub license", "sublicense"),
    ("copyright owner", "copyright holder"), ("non-commercial", "noncommercial"),
    ("authorised", "authorized"), ("organisation", "organization"), ("offence", "offense"),
    ("favour", "favor"), ("labelled", "labeled"), ("practise", "practice"),
    ("whilst", "while"), ("wilful", "willful"),
)  # fmt: skip
# A template's own copyright line (B.11: it varies per project), its variable and optional parts,
# and what follows its terms (the "How to apply" appendix of Apache and the GNU licences, which
# SPDX marks optional and many LICENSE files leave out: it is matched on its own, `_NOTICES`).
_TEMPLATE_COPYRIGHT: Final = re.compile(
    r"^[^\n]*\bcopyright\b[^\n]*<<var[^\n]*$|^\s*copyright\b.*$", re.I | re.M
)
_TEMPLATE_VAR: Final = re.compile(r"<<var;.*?>>", re.DOTALL)
_TEMPLATE_OPTIONAL: Final = re.compile(r"<<beginOptional.*?<<endOptional>>", re.DOTALL)
_END_OF_TERMS: Final = re.compile(r"END OF TERMS AND CONDITIONS", re.IGNORECASE)
_WORD: Final = re.compile(r"[a-z0-9]+")
_BREAK: Final = "\x00"  # where a template variable was: no word pair spans it
_COPYLEFT: Final = ("GPL-", "LGPL-", "AGPL-", "MPL-", "EPL-")


def _words(text: str) -> list[str]:
    text = text.lower()
    for variant, canonical in _EQUIVALENT:
        text = text.replace(variant, canonical)
    return [w for part in text.split(_BREAK) for w in (*_WORD.findall(part), _BREAK)]


def _pairs(words: list[str]) -> frozenset[tuple[str, str]]:
    return frozenset(p for p in pairwise(words) if _BREAK not in p)


# The short notices that the "How to apply" appendices give, as (first words, last words): many
# projects ship only the notice as their LICENSE file.
_NOTICES: Final[dict[str, tuple[str, str]]] = {
    "Apache-2.0": ("Licensed under the Apache License", "limitations under the License."),
    "GPL-2.0": ("This program is free software", "along with this program"),
    "GPL-3.0": ("This program is free software", "along with this program"),
    "AGPL-3.0": ("This program is free software", "along with this program"),
}
# Names the templates hard-code where a LICENSE file names its own author.
_AUTHOR: Final = re.compile(r"\bISC (?=DISCLAIMS|BE LIABLE)")


def _template_pairs(template: str) -> frozenset[tuple[str, str]]:
    for pattern in (_TEMPLATE_COPYRIGHT, _TEMPLATE_OPTIONAL, _TEMPLATE_VAR, _AUTHOR):
        template = pattern.sub(_BREAK, template)
    return _pairs(_words(template))


@cache
def _references() -> list[tuple[str, frozenset[tuple[str, str]]]]:
    """(SPDX id, word pairs) of each reference text, and of the notices."""
    data = _spdx_db()["data"]
    refs = []
    for name, spdx_id in _REFERENCES.items():
        template = (data / f"{name}.txt").read_text(encoding="utf-8")
        end = _END_OF_TERMS.search(template)
        refs.append((spdx_id, _template_pairs(template[: end.start()] if end else template)))
        if name in _NOTICES:
            first, last = _NOTICES[name]
            start = template.index(first, end.start() if end else 0)
            notice = template[start : template.index(last, start) + len(last)]
            refs.append((spdx_id, _template_pairs(notice)))
    return refs


def detect_license(text: str) -> LicenseMatch | None:
    """The licence whose reference text `text` contains, or None.

    Both sides are normalised (SPDX Matching Guidelines: case, punctuation, bullets, numbering,
    equivalent words, copyright lines and the template's variable and optional parts) to word
    pairs; the score is the share of the reference's pairs found in `text`, so a licence
    followed by an appendix or a second licence still matches. Among references over THRESHOLD,
    a copyleft one (GPL, LGPL, AGPL, MPL, EPL) wins over any other (a file that holds a GPL text
    next to MIT terms is GPL), then the highest score, then, at a tie, the longer reference (a
    BSD-3-Clause text contains all of BSD-2-Clause, ISC all of 0BSD)."""
    doc = _pairs(_words(text[:_MAX_CHARS]))
    if not doc:
        return None
    found = []
    for spdx_id, ref in _references():
        score = len(ref & doc) / len(ref)
        if score >= THRESHOLD:
            found.append((spdx_id, score, len(ref)))
    if not found:
        return None
    found = [f for f in found if f[0].startswith(_COPYLEFT)] or found
    best = max(score for _, score, _ in found)
    spdx_id, score, _ = max((f for f in found if f[1] >= best - _TIE), key=lambda f: f[2])
    return LicenseMatch(spdx_id, round(score, 4))
