"""The import-linter contract "views read the cluster only through the one UI adapter" names its
source modules one by one (import-linter wildcards replace whole module names only), so this
static check keeps that list complete: a new view module is covered the day it is added."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("portal", "catalog", "deployments", "billing", "sso", "web")
CONTRACT = "Views read the cluster only through the one UI adapter"


def _view_modules() -> set[str]:
    found = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            if path.stem.endswith("views") or path.stem == "approvals":
                found.add(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return found


def test_every_view_module_is_under_the_cluster_adapter_contract():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    [contract] = [
        c for c in config["tool"]["importlinter"]["contracts"] if c["name"].startswith(CONTRACT)
    ]
    assert contract["forbidden_modules"] == ["deployments.k8s"]
    missing = _view_modules() - set(contract["source_modules"])
    assert not missing, f"add these view modules to the contract's source_modules: {missing}"
    assert "deployments.endpoints.tab_views" in contract["source_modules"]
