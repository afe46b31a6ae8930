"""Run the sync model by hand: python -m tests.manifests.syncmodel [--repo DIR] [--profile NAME]

--repo points at another checkout (for example a worktree of an older commit) so the model's
verdict on it can be read; the exit code is 1 when anything is found.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.manifests.support import REPO
from tests.manifests.syncmodel.bootstrap import bootstrap
from tests.manifests.syncmodel.profiles import PROFILES
from tests.manifests.syncmodel.report import findings, format_findings, summary


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.manifests.syncmodel")
    parser.add_argument(
        "--repo", type=Path, default=REPO, help="the checkout to bootstrap (default: this one)"
    )
    parser.add_argument(
        "--profile", choices=sorted(PROFILES), action="append", help="laptop and/or eks (default: both)"
    )
    args = parser.parse_args()
    found_any = False
    for name in args.profile or sorted(PROFILES, reverse=True):
        run = bootstrap(PROFILES[name], args.repo.resolve())
        items = findings(run)
        found_any = found_any or bool(items)
        print(summary(run))
        print(format_findings(run, items) if items else f"{name} profile: nothing found")
        print()
    return 1 if found_any else 0


if __name__ == "__main__":
    sys.exit(main())
