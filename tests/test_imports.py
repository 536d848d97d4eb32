"""The package layout: no import cycles, nothing imports upward, ``import radiovisual`` stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "src" / "radiovisual"
# the data flow, bottom to top (README "Layout"); a module may import its own layer and the ones below
ORDER = ["errors", "config", "utils", "scene", "sensors", "dataset", "detect", "pretrain", "selflabel", "localise",
         "baselines", "evaluate", "report", "pipeline", "study", "api", "cli"]


def import_graph() -> dict[str, set[str]]:
    """module -> radiovisual modules it imports (lazy imports inside functions included)."""
    mods = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(PKG.parent).with_suffix("").parts)
        pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if pkg else parts)] = (p, pkg)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, (p, pkg) in mods.items():
        here = m if pkg else m.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = here.split(".")[:len(here.split(".")) - node.level + 1] if node.level else []
                tgt = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module or ""
                for a in node.names:
                    t = f"{tgt}.{a.name}" if f"{tgt}.{a.name}" in mods else tgt
                    if t in mods and t != m:
                        graph[m].add(t)
            elif isinstance(node, ast.Import):
                graph[m] |= {a.name for a in node.names if a.name in mods and a.name != m}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
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
                comp = []
                while True:
                    x = stack.pop()
                    on.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def _layer(m: str) -> int | None:
    parts = m.split(".")
    return ORDER.index(parts[1]) if len(parts) > 1 and parts[1] in ORDER else None


def test_no_import_cycles_and_nothing_imports_upward():
    g = import_graph()
    assert "radiovisual.pipeline.run" in g and "radiovisual.dataset.synth" in g
    assert cycles(g) == []
    up = [f"{m} -> {t}" for m, ts in g.items() for t in ts
          if _layer(m) is not None and _layer(t) is not None and _layer(t) > _layer(m)]
    assert up == []
    # the checker sees cycles: a two-module loop is found
    assert cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]


def test_import_radiovisual_is_light_and_public_names_resolve():
    import radiovisual

    # a public name equal to a subpackage's would be replaced by the subpackage once that is imported
    subs = {p.stem if p.suffix else p.name for p in PKG.iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()}
    assert not subs & set(radiovisual.__all__)
    code = ("import sys, radiovisual as rv; heavy = [m for m in ('torch', 'zarr', 'sionna', 'mitsuba') "
            "if m in sys.modules]; print(heavy); names = [n for n in rv.__all__ if not callable(getattr(rv, n)) "
            "and n != '__version__']; print(names); "
            "print([n for n in rv.__all__ if n != '__version__' and not getattr(rv, n).__doc__])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-1500:]
    heavy, not_callable, undocumented = r.stdout.strip().splitlines()
    assert heavy == "[]" and not_callable == "[]" and undocumented == "[]"
