"""The docs lead somewhere: every relative link and anchor in the Markdown files, every `*.md`
or `docs/...` file and README section a code comment cites, and a README beside each part a
newcomer looks for (the root README's map links them all)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.links import (
    REPO,
    comment_refs,
    markdown_refs,
    problems,
    slug,
    tracked_files,
)

SERVICES = ("common", "orchestrator", "worker", "chat", "gateway", "frontend", "cli")
FOLDER_READMES = (
    "argocd",
    "overlays",
    "base",
    "apps",
    "tests",
    "tests/bench",
    *(f"services/{name}" for name in SERVICES),
)
ROOT_README_MAX_LINES = 200


@pytest.fixture(scope="module")
def files() -> list[Path]:
    return tracked_files()


def test_every_relative_link_in_the_markdown_files_leads_to_a_file_and_heading_that_exist(
    files: list[Path],
) -> None:
    docs = [f for f in files if f.suffix == ".md"]
    assert REPO / "README.md" in docs
    refs = [ref for doc in docs for ref in markdown_refs(doc)]
    assert len(refs) > 30, "the docs link to each other: the link finder found almost nothing"
    broken = problems(refs)
    assert not broken, "broken links in the docs:\n" + "\n".join(broken)


def test_every_file_and_readme_section_a_code_comment_cites_exists(files: list[Path]) -> None:
    refs = [ref for f in files if f.suffix != ".md" for ref in comment_refs(f)]
    assert len(refs) > 20, "comments cite the READMEs: the reference finder found almost nothing"
    broken = problems(refs)
    assert not broken, "comments citing what is not there:\n" + "\n".join(broken)


def test_each_folder_a_newcomer_looks_in_has_a_readme_and_the_root_readme_links_it() -> None:
    missing = [folder for folder in FOLDER_READMES if not (REPO / folder / "README.md").is_file()]
    assert not missing, f"folders without a README.md: {missing}"
    root = REPO / "README.md"
    linked = {REPO / ref.path for ref in markdown_refs(root)}
    unlinked = [folder for folder in FOLDER_READMES if REPO / folder / "README.md" not in linked]
    assert not unlinked, f"README.md's map does not link these folders' READMEs: {unlinked}"


def test_the_root_readme_fits_on_about_four_screens() -> None:
    lines = (REPO / "README.md").read_text().count("\n")
    assert lines <= ROOT_README_MAX_LINES, (
        f"README.md has {lines} lines (at most {ROOT_README_MAX_LINES}): move the detail into the "
        "README beside what it describes"
    )


# --- the checker itself, on a small tree of its own -------------------------------------------


def test_headings_get_the_anchors_github_gives_them() -> None:
    assert slug("Replicas by git push") == "replicas-by-git-push"
    assert slug("fetch_url: limits") == "fetch_url-limits"
    assert slug("A task's plan: task ... --wait and status ID") == "a-tasks-plan-task----wait-and-status-id"
    assert slug("Chat and LLM providers (port 3001)") == "chat-and-llm-providers-port-3001"


def test_the_checker_reports_each_kind_of_broken_reference(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "guide").mkdir(parents=True)
    (tmp_path / "elsewhere.md").write_text("# Beside the repository\n")
    (repo / "guide" / "README.md").write_text(
        "# Guide\n\n## Secrets\n\n## Tests\n\n## Tests\n\n"
        "[ok](../README.md#top-level) [dup](#tests-1) [self](#secrets) ![pic](shot.png)\n"
        "[gone](missing.md) [bad anchor](../README.md#nowhere) [web](https://example.com/x.md)\n"
        "[outside](../../elsewhere.md)\n\n```\n[in code](nothing.md)\n```\n"
    )
    (repo / "README.md").write_text("# Top level\n\nSee [the guide](guide/README.md#secrets).\n")
    (repo / "guide" / "shot.png").write_bytes(b"\x89PNG")
    (repo / "app.py").write_text(
        '"""Names as in DESIGN.md, outside this repository; see guide/README.md "Secrets"."""\n'
        "x = 1  # figures in docs/gateway.md and DESIGN.md\n"
        '# the README ("Nothing like it") and guide/README.md#tests-1\n'
        'y = "not a comment: missing.md"\n'
    )
    (repo / "deploy.yaml").write_text("# names as in DESIGN.md's\n# section\nkind: x  # guide/README.md\n")

    found = problems(
        [*markdown_refs(repo / "guide" / "README.md"), *markdown_refs(repo / "README.md")], root=repo
    )
    assert [p.split(": ", 1)[1] for p in found] == [
        "missing.md: no such file in the repository",
        f"../README.md#nowhere: {repo / 'README.md'} has no heading with that anchor",
        "../../elsewhere.md: no such file in the repository",
    ]

    refs = [*comment_refs(repo / "app.py", root=repo), *comment_refs(repo / "deploy.yaml", root=repo)]
    assert {(r.path, r.anchor, r.section) for r in refs} == {
        ("guide/README.md", None, "Secrets"),
        ("docs/gateway.md", None, None),
        ("DESIGN.md", None, None),
        ("README.md", None, "Nothing like it"),
        ("guide/README.md", "tests-1", None),
        ("guide/README.md", None, None),
    }
    assert sorted(p.split(": ", 1)[1] for p in problems(refs, root=repo)) == [
        "DESIGN.md: no such file in the repository",
        "DESIGN.md: no such file in the repository",
        f'README.md "Nothing like it": {repo / "README.md"} has no section of that name',
        "docs/gateway.md: no such file in the repository",
    ]


def test_comments_are_read_from_python_yaml_shell_and_makefiles(tmp_path: Path) -> None:
    script = tmp_path / "run"
    script.write_text("#!/usr/bin/env bash\n# see a/README.md\necho '# not a path.md'\n")
    make = tmp_path / "Makefile"
    make.write_text("lint:  # b/README.md\n\truff check\n")
    style = tmp_path / "page.js"
    style.write_text("const a = 1; // c/README.md\n/* d/README.md */\nconst b = 'e/README.md';\n")
    assert [r.path for r in comment_refs(script, root=tmp_path)] == ["a/README.md"]
    assert [r.path for r in comment_refs(make, root=tmp_path)] == ["b/README.md"]
    assert [r.path for r in comment_refs(style, root=tmp_path)] == ["c/README.md", "d/README.md"]
