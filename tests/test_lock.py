"""The lock files stay in step with pyproject.toml: every dependency (and every test tool) is
pinned with hashes, and setup.sh, CI and the image install from them."""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def pins(name: str) -> dict[str, str]:
    text = (ROOT / name).read_text()
    found = re.findall(r"^([A-Za-z0-9_.\-]+)==([^ ;\\\n]+)", text, re.M)
    return {canonicalize_name(n): v for n, v in found}


def hashes_everywhere(name: str) -> bool:
    blocks = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / name).read_text().split("\n", 2)[2])
    return all("--hash=sha256:" in b for b in blocks if b.strip())


@pytest.mark.parametrize(
    "lock, groups",
    [("requirements.txt", ["main"]), ("requirements-test.txt", ["main", "test"])],
)
def test_every_declared_dependency_is_pinned_within_its_range_with_hashes(lock, groups):
    pinned = pins(lock)
    declared = list(PYPROJECT["project"]["dependencies"])
    if "test" in groups:
        declared += PYPROJECT["project"]["optional-dependencies"]["test"]
    for line in declared:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name in pinned, f"{lock} does not pin {req.name}: run bash scripts/lock.sh"
        assert SpecifierSet(str(req.specifier)).contains(pinned[name], prereleases=True), (
            f"{lock} pins {req.name}=={pinned[name]} outside {req.specifier}: run bash scripts/lock.sh"
        )
    assert hashes_everywhere(lock)


def test_the_test_lock_pins_the_portal_at_the_same_versions():
    main, test = pins("requirements.txt"), pins("requirements-test.txt")
    differ = {n: (v, test.get(n)) for n, v in main.items() if test.get(n) != v}
    assert differ == {}


def test_setup_ci_and_image_install_the_lock():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert 'pip install -q --require-hashes -r "$lock"' in setup
    assert "lock=requirements-test.txt" in setup and "lock=requirements.txt" in setup
    assert "--require-hashes -r requirements.txt" in (ROOT / "Dockerfile").read_text()


def test_requires_python_covers_the_supported_versions():
    spec = SpecifierSet(PYPROJECT["project"]["requires-python"])
    for version in ("3.11", "3.12", "3.13"):
        assert spec.contains(version), version
    assert "Python 3.11, 3.12 and 3.13" in (ROOT / "README.md").read_text()
