"""Dead letters: input that could not become a document, recorded with where it is and why.

Every reader yields them instead of raising, so one bad record costs one record, never the run.
`document` says whether a document had been recognised (a WET `conversion` record, a wiki
`<page>`): such a letter counts as a document read and dropped under its reason; the others
(a broken gzip member between records, an unreadable header) are counted as `input_errors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class DeadLetter:
    file: str
    offset: int  # where in the file; what the offset counts is the reader's (see `details`)
    reason: str
    error: str
    document: bool = False
    details: Mapping[str, Any] = field(default_factory=dict)  # the reader's position and ids

    def __getattr__(self, name: str) -> Any:
        """The reader's details read as attributes: `dead.offset_in_member`."""
        if name == "details":  # not set yet (unpickling)
            raise AttributeError(name)
        try:
            return self.details[name]
        except KeyError:
            raise AttributeError(name) from None

    def to_record(self) -> dict[str, Any]:
        """The JSON line in `dead_letter/`."""
        return {
            "file": self.file,
            "offset": self.offset,
            **self.details,
            "reason": self.reason,
            "error": self.error,
        }
