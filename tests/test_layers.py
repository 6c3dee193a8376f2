"""The tree is the map, and dependencies run one way.  Each package of i2v/ (and each module left at its
top) has a place in :data:`LAYERS`, from the bottom up; a module imports only from its own place and those
below it.  Read from the source (every import, also those inside functions or for type checking only), so a
lazy import against the direction fails here too, as does any import circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "i2v"
# From the bottom up: what each place holds is in docs/development.md.  A name is a package (i2v/NAME/) or a
# module at the top (i2v/NAME.py).
LAYERS = (
    ("families",),             # what each model family declares: sources, geometry, knobs (pure data)
    ("base",),                 # settings, config, errors, i18n, notes, cancel: what every layer reads
    ("motion",),               # guidance, advisor, analysis, tuning, tokens (pure)
    ("media",),                # images, video, joins (pure)
    ("planning",),             # vram, speedplan, tiers, presets, templates, request, longplan (pure)
    ("modelload",),            # model loading progress and failures (pure)
    ("engine",),               # the only code that imports torch and diffusers at import time
    ("family engines",),       # a family's modules (i2v/families/NAME/*.py) and the engines' loader (engines.py)
    ("studio",),               # the studio service
    ("workflows",),            # sweep, batch, smooth, long video, auto-tune (over the studio service)
    ("jobs",),                 # the job store and service, worker pools
    ("bench",),                # python -m i2v bench
    ("web", "ui", "cli", "__main__", "__init__"),  # the front ends (app.py above them all)
)
PLACE = {name: i for i, names in enumerate(LAYERS) for name in names}
PURE = {"families", "base", "motion", "media", "planning", "modelload"}  # import no torch, diffusers nor gradio at all
# only the page imports gradio
NO_GRADIO = {"engine", "family engines", "studio", "workflows", "jobs", "bench", "web", "cli"}
TOP_MODULES_MAX = 8  # modules directly in i2v/, __init__ and __main__ included


def imports(path: Path) -> set[str]:
    """The top name of every module ``path`` imports (third-party ones: torch, gradio...)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add((node.module or "").split(".")[0])
    return names


def place_of(module: str) -> str:
    """The place in LAYERS of a module named i2v.X or i2v.X.Y...: X.  In i2v/families/, a family's declaration
    (its package's __init__) is pure data at the bottom, while the other modules of a family's package (its
    engine, its FLOP count) and the engines' loader (i2v.families.engines) sit above the engine layer."""
    parts = module.split(".")
    if parts[1:2] == ["families"] and (len(parts) >= 4 or parts[-1] == "engines"):
        return "family engines"
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_package_and_top_module_has_a_place():
    """A new package or a module at the top of i2v/ is put on the map (LAYERS) before it can land, and the
    top of i2v/ keeps few modules: the rest sit in a package by topic."""
    here = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    top = {p.stem for p in PKG.glob("*.py")}
    assert not (here | top) - set(PLACE), f"not on the map: {sorted((here | top) - set(PLACE))}"
    assert len(top) <= TOP_MODULES_MAX, sorted(top)


@pytest.mark.parametrize("place", sorted(PLACE))
def test_no_import_against_the_direction(place):
    for name, path in sorted(MODULES.items()):
        if place_of(name) != place:
            continue
        above = sorted(t for t in edges(path) if PLACE[place_of(t)] > PLACE[place])
        assert not above, f"{path.relative_to(PKG.parent)} ({place}) imports {above}, above it"
        libs = imports(path) & ({"torch", "diffusers", "gradio"} if place in PURE else
                                {"gradio"} if place in NO_GRADIO else set())
        assert not libs, f"{path.relative_to(PKG.parent)} ({place}) imports {sorted(libs)}"


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
    """i2v.base.settings is the base every layer reads: it imports nothing of i2v but the base itself."""
    base = {"i2v.base.errors", "i2v.base.i18n", "i2v.base.notes", "i2v.base.cancel"}
    assert edges(MODULES["i2v.base.settings"]) <= base
