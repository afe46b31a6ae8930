"""The test suites themselves: one axis (a folder per service, plus the cross-cutting suites),
each folder named in tests/README.md's Suites table, and `make test-fast` leaving out exactly
what starts a whole system while keeping quick tests of every service."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.ci.support import REPO

# one collection of the whole tree in a subprocess: about 10 s
pytestmark = pytest.mark.slow

TESTS = REPO / "tests"
SERVICES = {p.name for p in (REPO / "services").iterdir() if (p / "pyproject.toml").is_file()}
CROSS_CUTTING = {
    "integration",
    "browser",
    "manifests",
    "ci",
    "reliability",
    "security",
    "observability",
    "cluster",
    "docs",
    "bench",
}
HELPERS = {"support"}

# Each starts a whole system (the shared stack, a suite's own, `make run`'s) or runs checkov;
# the chat's provider tests take their chat process by name at run time.
STARTS_A_SYSTEM = (
    "tests/reliability/",
    "tests/observability/test_traces.py::",
    "tests/integration/test_make_run.py::",
    "tests/integration/test_pipeline.py::",
    "tests/orchestrator/test_tasks_api.py::",
    "tests/orchestrator/test_llm_planner.py::",
    "tests/worker/test_recovery.py::",
    "tests/chat/test_llm_providers.py::",
    "tests/browser/test_flows.py::",
    "tests/cli/test_commands.py::",
    "tests/manifests/test_lint.py::test_checkov_finds_no_failure",
)
QUICK = (
    "tests/worker/test_ssrf.py::",
    "tests/orchestrator/test_planner.py::",
    "tests/manifests/test_invariants.py::",
)

# prints the tests an `-m` expression selects and those it leaves out
COLLECT = """
import sys, pytest
class Sets:
    def pytest_deselected(self, items):
        print(*(f"OUT {i.nodeid}" for i in items), sep="\\n")
    def pytest_collection_finish(self, session):
        print(*(f"IN {i.nodeid}" for i in session.items), sep="\\n")
sys.exit(pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", "-m", sys.argv[1]], plugins=[Sets()]))
"""


def folders_under_tests() -> set[str]:
    return {p.name for p in TESTS.iterdir() if p.is_dir() and p.name != "__pycache__"}


def test_every_test_folder_is_a_service_or_a_cross_cutting_suite() -> None:
    folders = folders_under_tests()
    assert folders - SERVICES - CROSS_CUTTING - HELPERS == set(), "neither a service nor a suite"
    assert SERVICES - folders == set(), "a service without its own tests/<service>"
    assert not list(TESTS.glob("test_*.py")), "a test module outside any suite"


def test_the_readme_names_each_test_folder_in_its_suites_table() -> None:
    readme = (TESTS / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Suites\n", 1)
    assert len(section) == 2, "tests/README.md has no '## Suites' section"
    table = re.split(r"\n## ", section[1], maxsplit=1)[0]
    listed = set(re.findall(r"^\| `tests/([a-z_]+)/?`", table, re.M))
    assert folders_under_tests() - listed == set(), "folders missing from tests/README.md's Suites table"


@pytest.fixture(scope="module")
def fast() -> tuple[set[str], set[str]]:
    """(selected, left out) by the -m expression of `make test-fast`."""
    makefile = (REPO / "Makefile").read_text()
    found = re.search(r'^test-fast:.*\n\t\$\(PY\) -m pytest -m "([^"]+)"', makefile, re.M)
    assert found, "the Makefile has no test-fast target running pytest -m"
    proc = subprocess.run(
        [sys.executable, "-c", COLLECT, found[1]], cwd=REPO, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    selected = {line[3:] for line in proc.stdout.splitlines() if line.startswith("IN ")}
    left_out = {line[4:] for line in proc.stdout.splitlines() if line.startswith("OUT ")}
    return selected, left_out


def test_make_test_fast_leaves_out_every_test_that_starts_a_system(fast: tuple[set[str], set[str]]) -> None:
    selected, left_out = fast
    for prefix in STARTS_A_SYSTEM:
        assert any(n.startswith(prefix) for n in left_out), f"{prefix}: no such test left out"
        kept = sorted(n for n in selected if n.startswith(prefix))
        assert not kept, f"make test-fast runs tests that start a system: {kept[:5]}"
    for prefix in QUICK:
        assert any(n.startswith(prefix) for n in selected), f"{prefix}: a quick test is left out"


def test_make_test_fast_keeps_quick_tests_of_every_service(fast: tuple[set[str], set[str]]) -> None:
    selected, _ = fast
    suites = {n.split("/")[1] for n in selected}
    # every chat test talks to a chat process beside the stack
    assert SERVICES - {"chat"} - suites == set(), "services with no test in make test-fast"
    assert {"manifests", "ci"} <= suites
