"""The sha256 of every file a run wrote, so that a refactoring can show its outputs did not change.

    python -m benchmarks.fingerprint out models --out /tmp/before.json
    python -m benchmarks.fingerprint out models --compare /tmp/before.json

Reports (`report.json`) are hashed without what changes from run to run: wall-clock times and
rates. Everything else, parameters and counts included, must match byte for byte. Temporary
files, training runs and the audit's PNGs (matplotlib embeds no date, but fonts differ between
machines) are left out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

TIMING_KEYS = frozenset({"wall_seconds"})
TIMING_SUFFIX = "_per_second"
SKIPPED_PARTS = frozenset({"train", "audit", ".stamps"})


def _untimed(value):
    if isinstance(value, dict):
        return {
            k: _untimed(v)
            for k, v in value.items()
            if k not in TIMING_KEYS and not k.endswith(TIMING_SUFFIX)
        }
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def file_digest(path: Path) -> str:
    data = path.read_bytes()
    if path.name == "report.json":
        data = json.dumps(_untimed(json.loads(data)), sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()


def fingerprint(roots: list[Path]) -> dict[str, str]:
    found = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            parts = path.relative_to(root).parts
            if not path.is_file() or path.name.startswith(".tmp-") or SKIPPED_PARTS & set(parts):
                continue
            found[str(Path(root.name, *parts))] = file_digest(path)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("roots", nargs="+", type=Path, help="output directories")
    parser.add_argument("--out", type=Path, help="write the fingerprint here")
    parser.add_argument("--compare", type=Path, help="a fingerprint to compare with")
    args = parser.parse_args(argv)
    now = fingerprint(args.roots)
    if args.out:
        args.out.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
    if not args.compare:
        return 0
    before = json.loads(args.compare.read_text())
    changed = sorted(k for k in before.keys() & now.keys() if before[k] != now[k])
    gone, new = sorted(before.keys() - now.keys()), sorted(now.keys() - before.keys())
    for label, names in (("changed", changed), ("missing", gone), ("new", new)):
        for name in names:
            print(f"{label}: {name}")
    same = len(before.keys() & now.keys()) - len(changed)
    print(f"{same} files identical, {len(changed)} changed, {len(gone)} missing, {len(new)} new")
    return 1 if changed or gone else 0


if __name__ == "__main__":
    sys.exit(main())
