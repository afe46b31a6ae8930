#!/usr/bin/env python3
"""The accepted known vulnerabilities, read from .trivyignore (Trivy's own format, which the
image scan reads directly) for the lock audit (pip-audit), and checked for a reason and an
expiry date.

    # <why it is accepted: no fix yet, not reachable here, ...>
    CVE-2026-12345 exp:2027-01-31

Every entry needs the comment just above it (the reason) and `exp:` (after that date the
vulnerability fails the workflows again, so someone looks at it once more).

    vuln_exceptions.py check                 # exit 1 if an entry lacks a reason or expiry
    vuln_exceptions.py pip-audit-args        # --ignore-vuln ID ... for the entries not expired
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_FILE = Path(__file__).resolve().parents[2] / ".trivyignore"
ENTRY = re.compile(
    r"(?P<id>(CVE-\d{4}-\d{4,}|GHSA(-[23456789cfghjmpqrvwx]{4}){3}|PYSEC-\d{4}-\d+))"
    r"(\s+exp:(?P<exp>\d{4}-\d{2}-\d{2}))?"
)


@dataclass
class Accepted:
    id: str
    expires: dt.date | None
    reason: str
    line: int


def parse(text: str) -> tuple[list[Accepted], list[str]]:
    """The entries, and the problems found (an empty list when the file is well formed)."""
    entries: list[Accepted] = []
    problems: list[str] = []
    comment: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            comment = []
            continue
        if line.startswith("#"):
            comment.append(line.lstrip("# ").strip())
            continue
        match = ENTRY.fullmatch(line)
        if not match:
            problems.append(f"line {number}: not `<CVE-/GHSA-/PYSEC- id> exp:YYYY-MM-DD`: {line!r}")
            comment = []
            continue
        expires = dt.date.fromisoformat(match["exp"]) if match["exp"] else None
        reason = " ".join(c for c in comment if c)
        if expires is None:
            problems.append(f"line {number}: {match['id']} has no exp:YYYY-MM-DD")
        if len(reason.split()) < 4:
            problems.append(f"line {number}: {match['id']} needs its reason in a comment just above it")
        entries.append(Accepted(match["id"], expires, reason, number))
        comment = []
    return entries, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["check", "pip-audit-args"])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--today", type=dt.date.fromisoformat, default=dt.date.today())
    args = parser.parse_args()
    entries, problems = parse(args.file.read_text() if args.file.exists() else "")
    if args.command == "check":
        for problem in problems:
            print(f"::error file={args.file.name}::{problem}")
        return 1 if problems else 0
    active = []
    for entry in entries:
        if entry.expires is not None and entry.expires < args.today:
            print(
                f"::warning file={args.file.name},line={entry.line}::{entry.id} expired on "
                f"{entry.expires}: it counts again",
                file=sys.stderr,
            )
        else:
            active += ["--ignore-vuln", entry.id]
    print(" ".join(active))
    return 0


if __name__ == "__main__":
    sys.exit(main())
