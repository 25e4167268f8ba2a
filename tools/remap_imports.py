"""Rewrite imports and dotted references after module moves (issue 22's layout change).

usage: python tools/remap_imports.py tools/issue-22-moves.txt
Lines of the map: `old.module new.module`, or `name deployments.models Name new.module` (inside
deployments/ a name of the old models module is imported from its product's module). Run from
the repo root; relative imports inside deployments/ become absolute. It rewrites import
statements (by syntax tree) and dotted module paths in .py/.toml/.md/.yaml text; review the
diff, then `ruff check --fix . && ruff format .`.
"""

import ast
import pathlib
import re
import sys

ROOT = pathlib.Path(".")
mods, names = {}, {}
for line in open(sys.argv[1]):
    p = line.split()
    if not p or p[0].startswith("#"):
        continue
    if p[0] == "name":
        names[(p[1], p[2])] = p[3]
    else:
        mods[p[0]] = p[1]
AGG = {m for (m, _n) in names}
# aggregate modules: split by name only inside deployments/
ROOTS = {k.split(".")[0] for k in mods}


def modname(path):
    parts = list(path.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts), path.name == "__init__.py"


def resolve(node, path):
    if node.level == 0:
        return node.module
    me, is_pkg = modname(path)
    base = me.split(".")
    if not is_pkg:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def newmod(m):
    if m in mods:
        return mods[m]
    for old in sorted(mods, key=len, reverse=True):
        if m.startswith(old + "."):
            return mods[old] + m[len(old) :]
    return m


def alias(a):
    return a.name + (f" as {a.asname}" if a.asname else "")


files = [
    p
    for p in ROOT.rglob("*.py")
    if ".venv" not in p.parts and "node_modules" not in p.parts and not str(p).startswith(".")
]


def inside(p):
    return p.parts[0] == "deployments"


for path in files:
    src = path.read_text()
    if not any(r in src for r in ROOTS) and not (inside(path) and "from ." in src):
        continue
    try:
        tree = ast.parse(src)
    except SyntaxError:
        print("skip", path)
        continue
    lines = src.splitlines(keepends=True)
    edits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        full = resolve(node, path)
        if not full or full.split(".")[0] not in ROOTS:
            continue
        groups = {}
        for a in node.names:
            tgt = None
            if full in AGG and inside(path) and (full, a.name) in names:
                tgt = (names[(full, a.name)], a)
            elif full in AGG:
                tgt = (full, a)
            elif f"{full}.{a.name}" in mods:  # from pkg import module
                new = mods[f"{full}.{a.name}"]
                parent, leaf = new.rsplit(".", 1)
                asname = a.asname or (a.name if leaf != a.name else None)
                tgt = (parent, ast.alias(name=leaf, asname=asname))
            else:
                tgt = (newmod(full), a)
            groups.setdefault(tgt[0], []).append(tgt[1])
        if list(groups) == [full] and (node.level == 0 or not inside(path)):
            continue
        first = lines[node.lineno - 1]
        indent = first[: len(first) - len(first.lstrip())]
        last = lines[node.end_lineno - 1]
        comment = ""
        m = re.search(r"#.*$", last.rstrip("\n"))
        if m and node.lineno == node.end_lineno:
            comment = "  " + m.group(0)
        elif m:
            comment = "  " + m.group(0)
        stmts = "".join(
            f"{indent}from {mod} import {', '.join(alias(a) for a in al)}{comment}\n"
            for mod, al in groups.items()
        )
        edits.append((node.lineno, node.end_lineno, stmts))
    for lo, hi, s in sorted(edits, reverse=True):
        lines[lo - 1 : hi] = [s]
    out = "".join(lines)
    if out != src:
        path.write_text(out)
        print("imports", path)

# dotted references in strings/docs/config
pat = re.compile(
    r"\b("
    + "|".join(re.escape(k) for k in sorted(mods, key=len, reverse=True))
    + r")(?![A-Za-z0-9_])"
)
for path in ROOT.rglob("*"):
    if (
        not path.is_file()
        or any(x in path.parts for x in (".venv", ".git", "node_modules", "var"))
        or path.suffix
        not in (
            ".py",
            ".toml",
            ".md",
            ".yaml",
            ".yml",
            ".cfg",
            ".ini",
            ".sh",
            ".txt",
            ".html",
            ".json",
            "",
        )
    ):
        continue
    if path.suffix == "" and path.name not in ("run",):
        continue
    if path.name in (pathlib.Path(sys.argv[1]).name, "architecture.md"):
        continue  # the map itself; the architecture notes keep old names where they are history
    try:
        src = path.read_text()
    except Exception:
        continue
    out = pat.sub(lambda m: mods[m.group(1)], src)
    if out != src:
        path.write_text(out)
        print("refs", path)
