"""The locks in requirements/ agree with pyproject.toml: every dependency it states is pinned, with
hashes, in the lock that installs it, at a version its range admits. A dependency added to
pyproject.toml without `scripts/lock.sh` fails here, not on a user's fresh install."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)
# What each lock installs (scripts/install.sh); torch is installed on its own, pinned (README).
LOCKS = {"service.lock": [], "local.lock": ["local"], "dev.lock": ["torch", "local", "scale", "test"]}
NOT_LOCKED = {"torch"}


def pins(lock: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, version in PINNED.findall((ROOT / "requirements" / lock).read_text()):
        found.setdefault(canonicalize_name(name), []).append(version)
    return found


@pytest.mark.parametrize(("lock", "extras"), LOCKS.items())
def test_every_dependency_is_locked_at_a_version_pyproject_admits(lock: str, extras: list[str]) -> None:
    locked = pins(lock)
    wanted = PYPROJECT["project"]["dependencies"] + [
        line for extra in extras for line in PYPROJECT["project"]["optional-dependencies"][extra]]
    for line in wanted:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        if name in NOT_LOCKED:
            continue
        assert name in locked, f"{name} is in pyproject.toml but not in requirements/{lock}: run scripts/lock.sh"
        assert any(requirement.specifier.contains(version, prereleases=True) for version in locked[name]), (
            f"requirements/{lock} pins {name} {locked[name]}, outside {requirement.specifier}: run scripts/lock.sh")


@pytest.mark.parametrize("lock", LOCKS)
def test_every_locked_package_has_hashes(lock: str) -> None:
    text = (ROOT / "requirements" / lock).read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 1)[1])
    for entry in entries:
        if PINNED.match(entry):
            assert "--hash=sha256:" in entry, entry.splitlines()[0]
    assert not re.search(r"^(torch|nvidia-[\w-]+)==", text, re.MULTILINE)  # no CUDA stack locked
