"""Every reference the docs and the code comments make to a file of this repository, and
whether it leads somewhere: relative links and anchors in Markdown; `*.md` paths, `docs/...`
paths and README section names in comments and docstrings.

A reference resolves against the folder of the file that makes it, then against the
repository root, and must stay inside the repository (a clone has nothing beside it). An
anchor or a quoted section name must be one of the target's headings, as GitHub names them.
A file outside the repository may be named as such: `DESIGN.md, outside this repository`.
"""

from __future__ import annotations

import ast
import functools
import io
import os
import re
import subprocess
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.token import Token

REPO = Path(__file__).resolve().parents[2]

# folders that are never the project's, even when they sit in the work tree
UNTRACKED = {".git", ".venv", ".data", "test-artifacts", "node_modules", "__pycache__", ".pytest_cache"}
HASH_COMMENTS = {
    ".yaml",
    ".yml",
    ".sh",
    ".toml",
    ".txt",
    ".in",
    ".cfg",
    ".yamllint",
    ".trivyignore",
    ".gitignore",
    ".dockerignore",
}
HASH_COMMENT_NAMES = {"Makefile", "Dockerfile", "run"}
SLASH_COMMENTS = {".js", ".json5", ".css"}

SCHEME = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//)")
MD_PATH = re.compile(r"(?<![\w/.-])((?:\.\.?/)*(?:[\w.-]+/)*[\w.-]+\.md)(?:#([\w-]+))?(?![\w/-])")
DOCS_PATH = re.compile(r"(?<![\w/.-])(docs/[\w./-]*[\w-])")
BARE_README = re.compile(r"\bREADME\b(?![.\w])")
# a section named right after a reference: its heading in quotes, alone, after a comma or in
# brackets (the test on a small tree shows each form)
SECTION = re.compile(r"^[,:]?\s*\(?\s*[\"“]([^\"”\n]{1,80})[\"”]")
OUTSIDE = re.compile(r"^[,;]?\s*outside this repository")
HTML_ATTR = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""")
HTML_ID = re.compile(r"""<a\s[^>]*\b(?:id|name)\s*=\s*["']([^"']+)["']""")

MARKDOWN = MarkdownIt("commonmark").enable("table")


@dataclass(frozen=True)
class Ref:
    """One reference: where it is written, the path as written, and an optional anchor (a
    heading's slug) or section (a heading's text) it names inside the target."""

    source: Path
    line: int
    path: str
    anchor: str | None = None
    section: str | None = None

    def where(self) -> str:
        named = self.path + (f"#{self.anchor}" if self.anchor else "")
        named += f' "{self.section}"' if self.section else ""
        return f"{relative(self.source)}:{self.line}: {named}"


def relative(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def tracked_files(root: Path = REPO) -> list[Path]:
    """The files git tracks or would (new, not ignored); in a copy without git, every file
    outside the usual clutter."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=True,
        ).stdout
        return [root / name for name in out.decode().split("\0") if name and (root / name).is_file()]
    except (OSError, subprocess.CalledProcessError):
        return sorted(
            p
            for p in root.rglob("*")
            if p.is_file() and not UNTRACKED.intersection(p.relative_to(root).parts)
        )


# --- headings ---------------------------------------------------------------------------


def slug(text: str) -> str:
    """GitHub's anchor for a heading (github-slugger): lower case, punctuation dropped,
    spaces turned into hyphens; repeated headings get -1, -2... (see `anchors`)."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def heading_text(inline: Token) -> str:
    """The heading as rendered: text and code, without the markup around them."""
    return "".join(c.content for c in inline.children or [] if c.type in ("text", "code_inline"))


@functools.cache
def anchors(path: Path) -> frozenset[str]:
    tokens = MARKDOWN.parse(path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    found: set[str] = set()
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            base = slug(heading_text(tokens[i + 1]))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
        elif token.type in ("html_block", "inline"):
            found.update(HTML_ID.findall(token.content))
    return frozenset(found)


# --- references in Markdown -----------------------------------------------------------------


def markdown_refs(path: Path) -> Iterator[Ref]:
    for token in MARKDOWN.parse(path.read_text(encoding="utf-8")):
        first = token.map[0] + 1 if token.map else 0
        if token.type == "html_block":
            for target in HTML_ATTR.findall(token.content):
                yield from link_ref(path, first, target)
        line = first
        for child in token.children or []:
            if child.type in ("softbreak", "hardbreak"):
                line += 1
            elif child.type == "link_open":
                yield from link_ref(path, line, str(child.attrs.get("href", "")))
            elif child.type == "image":
                yield from link_ref(path, line, str(child.attrs.get("src", "")))
            elif child.type == "html_inline":
                for target in HTML_ATTR.findall(child.content):
                    yield from link_ref(path, line, target)


def link_ref(source: Path, line: int, target: str) -> Iterator[Ref]:
    if not target or SCHEME.match(target):
        return
    file, _, anchor = target.partition("#")
    yield Ref(source, line, unquote(file) or source.name, anchor=unquote(anchor) or None)


# --- references in comments -----------------------------------------------------------------


def comment_blocks(path: Path) -> list[tuple[int, str]]:
    """(first line, text) of each comment (consecutive comment lines joined) and docstring."""
    if path.suffix == ".py":
        return python_comments(path)
    if path.suffix in HASH_COMMENTS or path.name in HASH_COMMENT_NAMES or is_shell(path):
        return line_comments(path, re.compile(r"(?:^|\s)#+\s?(.*)$"))
    if path.suffix in SLASH_COMMENTS:
        return line_comments(path, re.compile(r"(?:^|\s)(?://|/?\*+)\s?(.*?)(?:\*/)?$"))
    return []


def is_shell(path: Path) -> bool:
    if path.suffix:
        return False
    with path.open("rb") as f:
        first = f.readline(100)
    return first.startswith(b"#!") and (b"sh" in first or b"bash" in first)


def line_comments(path: Path, pattern: re.Pattern[str]) -> list[tuple[int, str]]:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return join_lines((n, m.group(1)) for n, text in enumerate(lines, 1) if (m := pattern.search(text)))


def python_comments(path: Path) -> list[tuple[int, str]]:
    source = path.read_text(encoding="utf-8")
    comments = [
        (tok.start[0], tok.string.lstrip("#").strip())
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    ]
    docstrings = [
        (node.lineno, node.value.value)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    ]
    return join_lines(comments) + docstrings


def join_lines(numbered: Iterable[tuple[int, str]]) -> list[tuple[int, str]]:
    """Consecutive comment lines are one text: a reference may run onto the next line."""
    blocks: list[tuple[int, str]] = []
    last = -1
    for number, text in numbered:
        if blocks and number == last + 1:
            blocks[-1] = (blocks[-1][0], f"{blocks[-1][1]} {text}")
        else:
            blocks.append((number, text))
        last = number
    return blocks


def comment_refs(path: Path, root: Path = REPO) -> Iterator[Ref]:
    for first, text in comment_blocks(path):
        for match in MD_PATH.finditer(text):
            rest = text[match.end() :]
            if OUTSIDE.match(rest):
                continue
            section = SECTION.match(rest)
            yield Ref(
                path,
                first + text.count("\n", 0, match.start()),
                match.group(1),
                anchor=match.group(2),
                section=section.group(1) if section else None,
            )
        for match in DOCS_PATH.finditer(text):
            if not match.group(1).endswith(".md"):  # those are the paths above
                yield Ref(path, first, match.group(1))
        for match in BARE_README.finditer(text):
            section = SECTION.match(text[match.end() :].lstrip())
            if section:
                yield Ref(path, first, nearest_readme(path, root), section=section.group(1))


def nearest_readme(path: Path, root: Path) -> str:
    """ "the README" of a comment: the one of its folder or the closest folder above it."""
    for folder in path.parents:
        if (folder / "README.md").is_file() or folder == root:
            return os.path.relpath(folder / "README.md", path.parent)
    return "README.md"


# --- resolution -----------------------------------------------------------------------------


def resolve(ref: Ref, root: Path = REPO) -> Path | None:
    for base in (ref.source.parent, root):
        candidate = (base / ref.path).resolve()
        if candidate.exists() and candidate.is_relative_to(root.resolve()):
            return candidate
    return None


def problem(ref: Ref, root: Path = REPO) -> str | None:
    """Why the reference leads nowhere, or None when it is fine."""
    target = resolve(ref, root)
    if target is None:
        return f"{ref.where()}: no such file in the repository"
    if target.suffix != ".md" or not target.is_file():
        return None
    if ref.anchor and ref.anchor not in anchors(target):
        return f"{ref.where()}: {relative(target)} has no heading with that anchor"
    if ref.section and slug(ref.section) not in anchors(target):
        return f"{ref.where()}: {relative(target)} has no section of that name"
    return None


def problems(refs: Iterable[Ref], root: Path = REPO) -> list[str]:
    return [p for ref in refs if (p := problem(ref, root))]
