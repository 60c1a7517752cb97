"""The import graph of core/ and nodes/ has no cycle, no core/ module imports nodes/, and nothing there
imports the test-support module core/models/tiny.py.

Every import statement counts: at module level, inside functions, under ``if``/``try``. An import moved
into a function to dodge a circle is the same tangle, only deferred to the first call. The graph is read
from the source with ``ast`` (nothing is imported), so the test is fast and sees every branch; imports by
a computed name (``importlib.import_module``) are not seen.

Names a pack would import through core/compat (``comfy``, ``folder_paths``, ``server``, ...) resolve to
the modules there, as they do at run time once the custom-node loader has put that folder on sys.path.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "nodes")
COMPAT = "core/compat"  # its top-level names shadow nothing of ours: comfy, folder_paths, server, ...


def module_files(root: Path, packages=PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under ``packages`` (a package is its __init__.py)."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _compat_aliases(root: Path, compat: str) -> dict[str, str]:
    folder = root / compat
    if not folder.is_dir():
        return {}
    prefix = compat.replace("/", ".")
    names = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in folder.iterdir() if (p / "__init__.py").is_file()}
    return {name: f"{prefix}.{name}" for name in names}


def import_graph(root: Path = ROOT, packages=PACKAGES, compat: str = COMPAT) -> dict[str, dict[str, list[int]]]:
    """``{importer: {imported: [line, ...]}}`` over the modules of ``packages``; outside modules are left out."""
    modules = module_files(root, packages)
    aliases = _compat_aliases(root, compat)

    def canonical(dotted: str) -> str:
        head, _, rest = dotted.partition(".")
        return aliases[head] + ("." + rest if rest else "") if head in aliases else dotted

    def resolve(dotted: str) -> str | None:
        dotted = canonical(dotted)
        while dotted and dotted not in modules:  # a name inside a module: the module holding it
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    graph: dict[str, dict[str, list[int]]] = {}
    for name, path in modules.items():
        edges: dict[str, list[int]] = defaultdict(list)
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [resolve(a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name if is_package else name.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        base = base.rpartition(".")[0]
                    full = ".".join(p for p in (base, node.module) if p)
                else:
                    full = node.module or ""
                for alias in node.names:
                    # ``from pkg import mod`` imports the submodule; ``from mod import name``, the module
                    sub = canonical(f"{full}.{alias.name}")
                    targets.append(sub if sub in modules else resolve(full))
            for target in targets:
                if target and target != name:
                    edges[target].append(node.lineno)
        graph[name] = dict(edges)
    return graph


def _strongly_connected(graph: dict) -> list[list[str]]:
    """Tarjan's components with more than one module, each sorted."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = iter(range(10 ** 9))

    def visit(v):
        index[v] = low[v] = next(counter)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def _shortest_cycle(graph: dict, component: list[str]) -> list[str]:
    """A shortest circle through the component's first module, by breadth-first search inside it."""
    start, members = component[0], set(component)
    parent, frontier = {start: None}, [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w == start:
                    path = [v]
                    while parent[path[-1]] is not None:
                        path.append(parent[path[-1]])
                    return path[::-1] + [start]
                if w in members and w not in parent:
                    parent[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def cycles(graph: dict) -> list[str]:
    """One line per import circle: ``a:12 -> b:40 -> a`` (the line of each import), then its members."""
    lines = []
    for component in _strongly_connected(graph):
        path = _shortest_cycle(graph, component)
        hops = " -> ".join(f"{a}:{graph[a][b][0]}" for a, b in zip(path, path[1:]))
        lines.append(f"{hops} -> {path[-1]}  (circle of {len(component)}: {', '.join(component)})")
    return lines


def core_importing_nodes(graph: dict) -> list[str]:
    return [f"{a}:{lines[0]} imports {b}" for a, targets in sorted(graph.items()) if a.split(".")[0] == "core"
            for b, lines in sorted(targets.items()) if b.split(".")[0] == "nodes"]


# --- the specification ---------------------------------------------------------------------------

def test_core_and_nodes_import_no_module_in_a_circle():
    found = cycles(import_graph())
    assert not found, "import circles (cut one import of each):\n" + "\n".join(found)


def test_no_core_module_imports_nodes():
    found = core_importing_nodes(import_graph())
    assert not found, "core/ must not import nodes/:\n" + "\n".join(found)


# Test and measurement support: seeded random networks (tiny) and stand-in files named as workflows name
# them (standins). Used by tests, benchmarks and scripts/count_templates.py, never by the product.
TEST_SUPPORT = {"core.models.tiny", "core.models.standins"}


def test_no_core_or_nodes_module_imports_the_test_support_models():
    graph = import_graph()
    users = sorted(a for a, targets in graph.items() if a not in TEST_SUPPORT and TEST_SUPPORT & set(targets))
    assert users == [], f"product modules importing test support: {users}"


# --- the walker itself, on small trees --------------------------------------------------------------

def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_an_import_inside_a_function_closes_a_circle(tmp_path):
    root = _tree(tmp_path, {"core/__init__.py": "", "core/a.py": "from core import b\n",
                            "core/b.py": "def late():\n    from core.a import thing\n"})
    found = cycles(import_graph(root, ("core",)))
    assert len(found) == 1 and found[0].startswith("core.a:1 -> core.b:2 -> core.a")


def test_relative_imports_and_submodules_resolve_to_their_modules(tmp_path):
    root = _tree(tmp_path, {"core/__init__.py": "", "core/m/__init__.py": "from . import x\n",
                            "core/m/x.py": "from .y import f\nfrom .. import top\n", "core/m/y.py": "",
                            "core/top.py": "import core.m.y as y\n"})
    graph = import_graph(root, ("core",))
    assert graph["core.m"] == {"core.m.x": [1]}
    assert graph["core.m.x"] == {"core.m.y": [1], "core.top": [2]}
    assert graph["core.top"] == {"core.m.y": [1]}
    assert cycles(graph) == []


def test_a_name_imported_from_a_package_points_at_the_package(tmp_path):
    root = _tree(tmp_path, {"core/__init__.py": "from core.p.impl import VALUE\n", "core/p/__init__.py": "",
                            "core/p/impl.py": "from core import helper_name\n"})
    found = cycles(import_graph(root, ("core",)))
    assert found and "core.p.impl" in found[0] and "core:1" in found[0]


def test_compat_names_resolve_into_core_compat(tmp_path):
    root = _tree(tmp_path, {"core/__init__.py": "", "core/compat/__init__.py": "",
                            "core/compat/folder_paths.py": "import server\n",
                            "core/compat/server.py": "import folder_paths\nimport comfy.utils\n",
                            "core/compat/comfy/__init__.py": "", "core/compat/comfy/utils.py": ""})
    graph = import_graph(root, ("core",))
    assert graph["core.compat.server"] == {"core.compat.folder_paths": [1], "core.compat.comfy.utils": [2]}
    assert len(cycles(graph)) == 1


def test_core_importing_nodes_is_named_with_its_line(tmp_path):
    root = _tree(tmp_path, {"core/__init__.py": "", "core/x.py": "\n\ndef f():\n    import nodes.loaders\n",
                            "nodes/__init__.py": "", "nodes/loaders.py": ""})
    assert core_importing_nodes(import_graph(root)) == ["core.x:4 imports nodes.loaders"]
