"""The layout is the architecture: what runs in a dongle or on the air (``firmware_shims``) never imports the
host's programs, the host reaches the emulator through one module, and no two modules import each other."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# What firmware may use from the host package: pure codecs, crypto, the clock, atomic files, pcap.
FIRMWARE_MAY_IMPORT = ("rig.zigbee", "rig.cbke", "rig.gbcs", "rig.clock", "rig.atomic", "rig.capture", "rig.pairing")
HOST_GATE = "rig.sim"        # the only host module that imports firmware_shims


def modules() -> dict[str, Path]:
    out = {}
    for top in ("rig", "firmware_shims"):
        for path in (ROOT / top).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, *, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)
    return {m for m in found if m.split(".")[0] in ("rig", "firmware_shims")}


def test_firmware_imports_only_the_hosts_pure_codecs():
    bad = []
    for name, path in modules().items():
        if not name.startswith("firmware_shims"):
            continue
        for mod in imports(name, path, top_level_only=False):
            if mod.startswith("rig") and not mod.startswith(FIRMWARE_MAY_IMPORT):
                bad.append(f"{name} imports {mod}")
    assert bad == []


def test_the_host_reaches_the_emulator_only_through_rig_sim():
    bad = [f"{name} imports {mod}" for name, path in modules().items() if name.startswith("rig") and name != HOST_GATE
           for mod in imports(name, path, top_level_only=False) if mod.startswith("firmware_shims")]
    assert bad == []


def test_no_import_cycles_between_modules():
    mods = modules()
    graph = {name: {m for m in imports(name, path, top_level_only=True) if m in mods and m != name}
             for name, path in mods.items()}
    # a package's __init__ re-exporting its own submodules is not a cycle between modules
    graph = {name: {m for m in deps if not (m.startswith(name + ".") and mods[name].name == "__init__.py")}
             for name, deps in graph.items()}
    seen, stack, cycles = set(), [], []

    def visit(node):
        if node in stack:
            cycles.append(stack[stack.index(node):] + [node])
            return
        if node in seen:
            return
        seen.add(node)
        stack.append(node)
        for nxt in sorted(graph[node]):
            visit(nxt)
        stack.pop()

    for name in sorted(graph):
        visit(name)
    assert cycles == []
