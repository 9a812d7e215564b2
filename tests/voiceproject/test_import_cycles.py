"""The project's modules import each other in one direction between folders: no import cycle
(module-level or inside a function) joins modules of two folders (two apps, or a package and
the modules around it), and a few apps never import another at all."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("agentbuilder", "browser", "calls", "media", "metrics", "testing", "voiceproject")
# (importer, imported): the first app never imports the second, not even inside a function.
# Metrics reports on the speech stack through what media registers (`metrics.registry`).
NEVER_IMPORTS = [("metrics", "media")]


def _modules() -> dict[str, Path]:
    modules = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Each module's project imports, anywhere in it. Importing `a.b.c` also runs `a` and `a.b`,
    except the packages the importer is itself in (they are being imported already)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parents = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parents, base] if base else parents)
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                while target and target not in own:
                    if target != name:
                        graph[name].add(target)
                    target = target.rpartition(".")[0]
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in list(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_joins_two_folders():
    """A package's `__init__` is in the package's folder: a cycle through it joins that folder
    and the folder of whatever imports the package."""
    modules = _modules()
    across = [
        cycle
        for cycle in _cycles(_imports(modules))
        if len({modules[name].parent for name in cycle}) > 1
    ]
    assert not across, across


def _app_imports(graph: dict[str, set[str]], importer: str, imported: str) -> list[str]:
    return sorted(
        f"{name} -> {target}"
        for name, targets in graph.items()
        if name.split(".")[0] == importer
        for target in targets
        if target.split(".")[0] == imported
    )


def test_some_apps_never_import_others():
    graph = _imports(_modules())
    for importer, imported in NEVER_IMPORTS:
        assert not _app_imports(graph, importer, imported), f"{importer} imports {imported}"


def test_an_import_inside_a_function_is_an_import(tmp_path):
    module = tmp_path / "reports.py"
    module.write_text("def pool():\n    from media.speech import tts_pool_snapshot\n")
    modules = {"metrics.reports": module, "media": ROOT / "media" / "__init__.py"}
    modules["media.speech"] = ROOT / "media" / "speech.py"
    assert _app_imports(_imports(modules), "metrics", "media") == [
        "metrics.reports -> media",
        "metrics.reports -> media.speech",
    ]


def test_the_speech_engine_has_no_import_cycle_at_run_time():
    """The engine's parts (media.engine, media.realtime.session) reach each other through
    small interfaces; only type annotations may point back."""
    modules = {
        name: path
        for name, path in _modules().items()
        if name.startswith(("media.engine", "media.realtime.session"))
    }
    graph = _imports(modules)
    # Imports under `if TYPE_CHECKING:` are annotations only: not followed here.
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
                for child in ast.walk(node):
                    if isinstance(child, ast.ImportFrom) and child.module:
                        graph[name].discard(child.module)
    assert not _cycles(graph), _cycles(graph)
