"""No module of the apps uses another module's private names (STYLE §5: private helpers start
with `_`); import-linter cannot say this, so the syntax trees are read here."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = ["portal", "catalog", "deployments", "billing", "sso", "web"]


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def private_uses(source: str) -> list[tuple[int, str]]:
    """(line, "module.name") for each private name taken from another module: imported
    (`from m import _x`) or read off an imported module (`import m as mm; mm._x`)."""
    tree = ast.parse(source)
    modules: dict[str, str] = {}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append((node.lineno, f"{base}.{alias.name}"))
                elif node.level == 0 and node.module and _is_module(f"{node.module}.{alias.name}"):
                    modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and _is_module(alias.name):
                    modules[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            found.append((node.lineno, f"{modules[node.value.id]}.{node.attr}"))
    return found


def _app_files():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_no_app_module_uses_another_modules_private_names():
    offenders = [
        f"{path.relative_to(ROOT)}:{line} uses {name}"
        for path in _app_files()
        for line, name in private_uses(path.read_text())
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "source",
    [
        "from deployments.endpoints.views import _helper\n",
        "from deployments.endpoints import services\nservices._check()\n",
        "import deployments.endpoints.services as s\ns._check()\n",
    ],
)
def test_the_check_sees_a_private_name_taken_from_another_module(source):
    assert private_uses(source)


def test_own_private_names_and_dunders_are_fine():
    assert private_uses("def _x():\n    pass\n_x()\nfrom m import __version__\n") == []
