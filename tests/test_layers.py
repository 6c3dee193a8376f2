"""Dependencies run one way: app.py -> i2v/ui -> i2v/jobs -> workflows -> the studio service -> pure policy
modules -> i2v/engine.  Read from the source (every import, also those inside functions), so a lazy import
against the direction fails here too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "i2v"
POLICY = ("settings", "presets", "guidance", "advisor", "vram", "analysis", "notes", "errors", "config", "tokens",
          "request", "longplan", "i18n", "modelload", "images", "video", "templates", "cancel", "speedplan", "tiers",
          "joins", "tuning")
# what each layer may not import (its own layer and those below are fine)
FORBIDDEN = {
    **{m: ("engine", "studio", "workflows", "jobs", "ui", "torch", "diffusers", "gradio") for m in POLICY},
    "studio": ("workflows", "jobs", "ui", "gradio"),  # the studio service
    "workflows": ("jobs", "ui", "gradio"),
    "jobs": ("ui", "gradio"),
}


def imports(path: Path) -> set[str]:
    """The top name of every module ``path`` imports, relative ones resolved inside i2v."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names.add((node.module or "").split(".")[0])
            else:  # from .x import y / from ..x import y: the first name below i2v
                inside = path.relative_to(PKG).parts[:-1][:max(0, len(path.relative_to(PKG).parts) - node.level)]
                parts = [*inside, *(node.module or "").split(".")] if node.module else [*inside]
                names.add(parts[0] if parts else "")
                if not node.module:
                    names |= {a.name for a in node.names}
    return names


def layer_files(layer: str) -> list[Path]:
    folder = PKG / layer
    return sorted(folder.rglob("*.py")) if folder.is_dir() else [PKG / f"{layer}.py"]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_import_against_the_direction(layer):
    for path in layer_files(layer):
        bad = imports(path) & set(FORBIDDEN[layer])
        assert not bad, f"{path.relative_to(PKG.parent)} imports {sorted(bad)}"


# -- no import circle ------------------------------------------------------------------------------------
def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PKG.rglob("*.py")}


def edges(path: Path) -> set[str]:
    """The i2v modules ``path`` imports (every import statement: at the top, in a function, or for type
    checking only), each as the longest module name that exists (``from .x import y`` is x.y where y is a
    module, else x)."""
    me = module_name(path).split(".")
    package = me if path.name == "__init__.py" else me[:-1]
    wanted = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            wanted += [a.name for a in node.names if a.name.split(".")[0] == "i2v"]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if (node.module or "").split(".")[0] != "i2v":
                    continue
                base = node.module
            else:
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            wanted += [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    out = set()
    for name in wanted:
        while name not in MODULES and "." in name:
            name = name.rsplit(".", 1)[0]
        if name in MODULES and name != module_name(path):
            out.add(name)
    return out


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                group = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    group.append(w)
                    if w == v:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def test_the_circle_finder_finds_circles():
    """On a graph whose circles are known: a ring of three, a pair, and a chain that is no circle."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"e"}, "e": {"d", "a"}, "f": {"g"}, "g": set()}
    assert sorted(circles(graph)) == [["a", "b", "c"], ["d", "e"]]
    assert circles({"x": {"y"}, "y": set()}) == []


def test_no_import_circle():
    """No module of i2v/ reaches itself through its imports (function-level and type-checking ones too)."""
    graph = {name: edges(path) for name, path in MODULES.items()}
    # the graph is read as meant: a module named in `from . import x` (in a function), a relative import
    # from a sibling, one two levels up, and an absolute one
    assert "i2v.bench.gpu" in graph["i2v.bench"] and "i2v.jobs.kinds" in graph["i2v.jobs.store"]
    assert "i2v.studio" in graph["i2v.ui.history"] and {"i2v.engine.memory", "i2v.jobs"} <= graph["i2v.cli"]
    assert circles(graph) == []


def test_the_settings_registry_imports_no_policy():
    """i2v.settings is the base every layer reads: it imports nothing of i2v but the base itself."""
    base = {"i2v.errors", "i2v.i18n", "i2v.notes", "i2v.cancel"}
    assert edges(MODULES["i2v.settings"]) <= base
