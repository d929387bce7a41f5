"""Read the course's lock (requirements.txt, written by ``uv pip compile --generate-hashes``).

Used by tests/test_environment.py, and by ``make upgrade`` to print what changed:

    python tests/lockfile.py OLD_LOCK NEW_LOCK
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import canonicalize_name

PROJECT = "keras-transfer-course"
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)"
                  r"(?:\s*;\s*(?P<marker>[^\\]+?))?\s*\\?$")
_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


@dataclass
class Pin:
    """One locked package: exact version, the platform marker it applies under, its hashes."""

    name: str
    version: str
    marker: Marker | None
    hashes: list[str] = field(default_factory=list)
    required_by: list[str] = field(default_factory=list)

    def applies_here(self) -> bool:
        """Whether pip installs this pin on the running interpreter and platform."""
        return self.marker is None or self.marker.evaluate()


def read_lock(path: Path) -> list[Pin]:
    """Every pin of the lock, in file order, with its hashes and ``# via`` annotations."""
    pins: list[Pin] = []
    for line in Path(path).read_text().splitlines():
        stripped = line.strip()
        if match := _PIN.match(line):
            marker = match["marker"]
            pins.append(Pin(canonicalize_name(match["name"]), match["version"],
                            Marker(marker) if marker else None))
        elif pins and stripped.startswith("--hash="):
            pins[-1].hashes += _HASH.findall(stripped)
        elif pins and stripped.startswith("#") and stripped not in ("# via", "#"):
            source = stripped.lstrip("#").strip().removeprefix("via ").strip()
            pins[-1].required_by.append(source.split(" (")[0])
    return pins


def pins_here(path: Path) -> dict[str, str]:
    """``{name: version}`` of the pins that apply to the running interpreter and platform."""
    return {pin.name: pin.version for pin in read_lock(path) if pin.applies_here()}


def changes(before: dict[str, str], after: dict[str, str]) -> list[tuple[str, str, str]]:
    """``(name, old, new)`` for every package added, removed or moved; ``-`` marks absence."""
    return [(name, before.get(name, "-"), after.get(name, "-"))
            for name in sorted(before.keys() | after.keys())
            if before.get(name) != after.get(name)]


def main(old: str, new: str) -> None:
    """Print the version changes between two locks, as they apply on this machine."""
    rows = changes(pins_here(Path(old)), pins_here(Path(new)))
    if not rows:
        print("lock: no version changed")
        return
    width = max(len(name) for name, _, _ in rows)
    print(f"lock: {len(rows)} package(s) changed")
    for name, before, after in rows:
        print(f"  {name:<{width}}  {before:>12} -> {after}")


if __name__ == "__main__":
    main(*sys.argv[1:])
