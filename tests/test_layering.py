"""The architecture, checked: dsp imports nothing of the host, each room of plugin/ imports
only rooms below it, and no module imports itself round a cycle (imports inside functions
count too: a lazy import is still a dependency)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Lowest first. A room may import dsp/ and any room before it in this list, never one after it
# or one on the same level.
LEVELS = [["dsp"], ["formats"], ["graph"], ["ml"], ["offline", "control", "live"], ["studio"], ["cli"]]
RANK = {room: i for i, rooms in enumerate(LEVELS) for room in rooms}


def _room(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] == ["panslice", "dsp"]:
        return "dsp"
    if parts[:2] == ["panslice", "plugin"] and len(parts) > 2:
        return parts[2]
    return None


def _modules() -> dict[str, Path]:
    found = {}
    for top in ("dsp", "plugin"):
        for path in (ROOT / top).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = ["panslice", *rel.parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """Every panslice module that ``module`` imports, wherever the import statement sits."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("panslice")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("panslice"):
                continue
            for a in node.names:   # "from .formats import presets" imports a module
                sub = f"{target}.{a.name}"
                out.add(sub if sub in known else target)
    return out


def test_rooms_import_only_downwards():
    mods = _modules()
    bad = []
    for mod, path in mods.items():
        room = _room(mod)
        if room is None:         # panslice.plugin itself: lazy re-exports of the public API
            continue
        for dep in _imports(mod, path, set(mods)):
            to = _room(dep)
            if to is None or to == room:
                continue
            if to not in RANK or room not in RANK:
                bad.append(f"{mod} -> {dep}: room not in LEVELS")
            elif RANK[to] >= RANK[room]:
                bad.append(f"{mod} ({room}) imports {dep} ({to})")
    assert not bad, "\n".join(bad)
    assert {p.name for p in (ROOT / "plugin").iterdir() if p.is_dir() and p.name != "__pycache__"} \
        <= set(RANK), "a room of plugin/ is missing from LEVELS"


def test_no_import_cycles():
    mods = _modules()
    graph = {m: {d for d in _imports(m, p, set(mods)) if d in mods and d != m} for m, p in mods.items()}
    # a package's __init__ is imported on the way to its modules; that is not a cycle
    graph = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycles.append(" -> ".join(stack[stack.index(d):] + [m, d]) if d in stack else f"{m} -> {d}")
            elif d not in state:
                visit(d, stack + [m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    assert not cycles, "\n".join(cycles)


def test_dsp_is_pure():
    """dsp/ imports no host code and none of the modules that touch files, devices, sockets,
    threads or the terminal."""
    forbidden = {"socket", "threading", "subprocess", "soundfile", "pedalboard", "pythonosc",
                 "jack", "tqdm", "matplotlib"}
    bad = []
    for path in (ROOT / "dsp").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            bad += [f"{path.name}: {n}" for n in names if n.split(".")[0] in forbidden]
            if isinstance(node, ast.ImportFrom) and node.level >= 2:
                bad.append(f"{path.name}: imports from outside dsp/ ({node.module})")
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("print", "open"):
                bad.append(f"{path.name}:{node.lineno}: calls {node.func.id}")
    assert not bad, "\n".join(bad)


def test_public_api_loads_lazily():
    """User code imports the API from the package, not from the file tree; importing the
    package (as ``panslice --help`` does) loads neither numba nor pedalboard."""
    import subprocess
    import sys

    code = ("import sys, panslice.plugin as p, panslice.plugin.cli; "
            "assert 'numba' not in sys.modules and 'pedalboard' not in sys.modules, 'eager'; "
            "from panslice.plugin import Chain, Stage, render, Engine; "
            "from panslice.plugin.graph.chain import Chain as C; assert Chain is C; "
            "print(sorted(p.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['Chain', 'Engine', 'Stage', 'render']"


def test_functions_stay_short():
    """No function in dsp/ or plugin/ runs past 60 lines: a longer one holds two ideas."""
    long = []
    for top in ("dsp", "plugin"):
        for path in (ROOT / top).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > 60:
                        long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "\n".join(long)
