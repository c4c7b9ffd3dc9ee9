"""The decision every filter returns: keep, or drop with a named reason that the pipeline counts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decision:
    keep: bool
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.keep == (self.reason is not None):
            raise ValueError("a kept document has no reason; a dropped one must have one")

    @classmethod
    def drop(cls, reason: str) -> Decision:
        return cls(False, reason)


KEEP = Decision(True)
