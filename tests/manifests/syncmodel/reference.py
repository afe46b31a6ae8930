"""Argo CD v3.5.1's own health scripts: read from ../shared/argocd-v3.5.1 (see its README);
only in a clone without that folder, from the test cache or downloaded from the pinned
upstream tag into it (as tests/shared_data.py does for the other shared files).

A built-in script exists for `<group>/<Kind>` when ../shared/argocd-v3.5.1/health-lua-kinds.txt
lists it (or, with no ../shared, when upstream has resource_customizations/<group>/<Kind>/
health.lua). Wildcard folders (`_.crossplane.io/_`) match as util/lua/lua.go
getWildcardBuiltInHealthOverrideLua does. A script that is listed but cannot be read is an
error, never "no health": guessing would make the model optimistic.
"""

from __future__ import annotations

import fnmatch
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tests.shared_data import CACHE, SHARED

VERSION = "v3.5.1"
LOCAL = SHARED / f"argocd-{VERSION}"
UPSTREAM = f"https://raw.githubusercontent.com/argoproj/argo-cd/{VERSION}/resource_customizations"


class MissingReference(Exception):
    """A script Argo CD has, which neither ../shared, the cache nor the download provided."""


@dataclass(frozen=True)
class Script:
    source: str
    origin: str  # where it was read: a path or URL, cited in reports


def config_key(group: str, kind: str) -> str:
    """lua.GetConfigMapKey."""
    return f"{group}/{kind}" if group else kind


@cache
def listed_kinds() -> tuple[str, ...] | None:
    """Every built-in health script's key (folder names, "_" standing for a wildcard)."""
    path = LOCAL / "health-lua-kinds.txt"
    if not path.exists():
        return None
    return tuple(line.strip() for line in path.read_text().splitlines() if line.strip())


def _builtin_folder(key: str) -> str | None:
    kinds = listed_kinds()
    if kinds is None:
        return key  # no list here: ask upstream for the exact folder
    if key in kinds:
        return key
    for folder in sorted(k for k in kinds if "_" in k):  # getGlobHealthScriptPaths sorts them
        if fnmatch.fnmatchcase(key, folder.replace("_", "*")):
            return folder
    return None


def _download(url: str, dest: Path) -> str | None:
    """The file's text; None for a 404 (no such script upstream)."""
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 - pinned https address
            text = resp.read().decode()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise MissingReference(f"download of {url} failed: {exc}") from exc
    except OSError as exc:
        raise MissingReference(f"download of {url} failed: {exc}") from exc
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text)
    return text


def builtin_health_script(group: str, kind: str) -> Script | None:
    """Argo CD's built-in health.lua for group/kind, or None when Argo CD has none."""
    found = _lookup(group, kind)
    if isinstance(found, MissingReference):
        raise found
    return found


@cache
def _lookup(group: str, kind: str) -> Script | MissingReference | None:
    """The script, None, or the failure to read it: failures are remembered too (one
    download attempt per kind and session)."""
    try:
        return _read(group, kind)
    except MissingReference as exc:
        return exc


def _read(group: str, kind: str) -> Script | None:
    folder = _builtin_folder(config_key(group, kind))
    if folder is None:
        return None
    if LOCAL.exists():
        local = LOCAL / "health-lua" / f"{folder}.lua"
        if local.exists():
            return Script(local.read_text(), str(local))
        raise MissingReference(
            f"Argo CD {VERSION} has a health script for {folder} ({LOCAL / 'health-lua-kinds.txt'}) "
            f"that is not in {LOCAL / 'health-lua'}"
        )
    cached = CACHE / f"argocd-{VERSION}" / "resource_customizations" / folder / "health.lua"
    absent = cached.with_name("no-health.lua")  # a 404 remembered: Argo CD has no script
    if cached.exists():
        return Script(cached.read_text(), str(cached))
    if absent.exists():
        return None
    url = f"{UPSTREAM}/{folder}/health.lua"
    text = _download(url, cached)
    if text is None:
        absent.parent.mkdir(parents=True, exist_ok=True)
        absent.touch()
        return None
    return Script(text, url)
