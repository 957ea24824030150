"""`make` installs Python packages only from the hash locks in requirements/ (docs/security.md,
"Supply chain"). No network: these read the locks, pyproject.toml and the Makefile."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tools import locks

REPO = Path(__file__).resolve().parents[1]
LOCKS = {lock.name: lock for lock in locks.LOCKS}
# One requirement of a lock: `name==version [; marker]` and its hashes (backslash-continued lines).
ENTRY = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)(?: ; (?:(?!--hash).)+)?(?P<hashes>.*)$"
)
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def _entries(text: str) -> list[str]:
    """The lock's requirement lines, continuations joined, comments dropped."""
    lines = [line.split(" #", 1)[0] for line in text.splitlines() if not line.lstrip().startswith("#")]
    return [entry.strip() for entry in "\n".join(lines).replace("\\\n", " ").splitlines() if entry.strip()]


def _pins(lock: locks.Lock) -> dict[str, str]:
    pins = {}
    for entry in _entries(lock.path.read_text()):
        match = ENTRY.match(entry)
        assert match, f"{lock.path.name}: not `name==version --hash=sha256:...`: {entry[:80]!r}"
        pins[canonicalize_name(match["name"])] = match["version"]
    return pins


@pytest.mark.parametrize("name", sorted(LOCKS))
def test_every_lock_entry_is_pinned_with_sha256_hashes_only(name: str) -> None:
    entries = _entries(LOCKS[name].path.read_text())
    assert entries
    for entry in entries:
        match = ENTRY.match(entry)
        assert match, f"{name}.lock: not pinned with ==: {entry[:80]!r}"
        hashes = match["hashes"].split()
        assert hashes and all(HASH.fullmatch(h) for h in hashes), f"{name}.lock: {match['name']} hashes"


@pytest.mark.parametrize("name", sorted(LOCKS))
def test_every_lock_was_made_from_the_current_inputs(name: str) -> None:
    assert locks.stale(LOCKS[name]) is None, locks.stale(LOCKS[name])


def test_a_lock_from_an_older_pyproject_is_stale_and_says_how_to_regenerate(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text((REPO / "pyproject.toml").read_text().replace('"ruff>=0.6"', '"ruff>=0.7"'))
    message = locks.stale(LOCKS["dev"], pyproject)
    assert message is not None and "`make lock`" in message and "pyproject.toml" in message
    # The comments and the tool settings are not inputs: editing them keeps the lock current.
    shutil.copy(REPO / "pyproject.toml", pyproject)
    with pyproject.open("a") as f:
        f.write("\n# a comment\n")
    assert locks.stale(LOCKS["dev"], pyproject) is None


def test_every_dependency_pyproject_names_is_locked_at_a_version_it_allows() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    extras = project["project"]["optional-dependencies"]
    wanted = list(locks.DEV_EXTRAS)
    requirements = [Requirement(r) for r in project["project"]["dependencies"]]
    requirements += [Requirement(r) for r in project["build-system"]["requires"]]  # --no-build-isolation
    requirements += [Requirement(r) for r in locks.ALWAYS]
    while wanted:
        for requirement in map(Requirement, extras[wanted.pop()]):
            if canonicalize_name(requirement.name) == canonicalize_name(project["project"]["name"]):
                wanted += list(requirement.extras)  # skinlesion[parquet]: that extra is installed too
            else:
                requirements.append(requirement)
    pins = _pins(LOCKS["dev"])
    for requirement in requirements:
        version = pins.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement} is not in requirements/dev.lock: run `make lock`"
        assert requirement.specifier.contains(version, prereleases=True), (
            f"dev.lock pins {version}: {requirement}"
        )


@pytest.mark.parametrize("name", ["tf-serving", "tools"])
def test_every_requirement_of_an_in_file_is_locked_at_a_version_it_allows(name: str) -> None:
    pins = _pins(LOCKS[name])
    lines = LOCKS[name].inputs()["requirements"]
    assert isinstance(lines, list) and lines
    for line in [*lines, *locks.ALWAYS]:
        requirement = Requirement(line)
        version = pins.get(canonicalize_name(requirement.name))
        assert version is not None and requirement.specifier.contains(version), f"{name}.lock: {requirement}"


def _recipe(target: str) -> str:
    makefile = (REPO / "Makefile").read_text()
    match = re.search(rf"^{re.escape(target)}:(?P<prereqs>[^\n]*)\n(?P<body>(?:\t[^\n]*\n)+)", makefile, re.M)
    assert match, f"no rule for {target} in the Makefile"
    variables = dict(re.findall(r"^([A-Z_]+) :?= (.*)$", makefile, re.M))
    text = match["prereqs"] + "\n" + match["body"]
    return re.sub(r"\$\(([A-Z_]+)\)", lambda m: variables.get(m[1], m[0]), text)


@pytest.mark.parametrize(
    ("target", "lock"), [("$(VENV)/.stamp", "dev"), ("$(VENV_TF_SERVING)/.stamp", "tf-serving")]
)
def test_make_installs_each_environment_from_its_lock_with_require_hashes(target: str, lock: str) -> None:
    prereqs, body = _recipe(target).split("\n", 1)
    assert f"requirements/{lock}.lock" in prereqs.split(), "editing the lock must re-run the set-up"
    installs = [line for line in body.splitlines() if " install " in line]
    assert any(f"--require-hashes --no-deps -r requirements/{lock}.lock" in line for line in installs), (
        installs
    )
    for line in installs:  # anything else installs nothing from an index: no deps, no build env
        if "--require-hashes" not in line:
            assert all(flag in line for flag in ("--no-deps", "--no-build-isolation", "--no-index")), line
    assert " -U " not in body and "--upgrade" not in body  # pip comes from the lock too
