#!/usr/bin/env python3
"""Lists import cycles between the top-level modules of each crate (and between the CLI's
`cmd/*` modules): a module A depends on B when a file of A names `crate::B` (or, in the CLI,
`crate::cmd::B` / `super::B`). Prints each cycle; exits 1 when there is one.

    python3 bench/module_cycles.py
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def module_of(src: pathlib.Path, f: pathlib.Path, depth: int) -> str:
    parts = f.relative_to(src).with_suffix("").parts
    parts = [p for p in parts if p != "mod"]
    return "::".join(parts[:depth]) if parts else "lib"


def graph(src: pathlib.Path, prefix: str, depth: int):
    edges = {}
    for f in src.rglob("*.rs"):
        rel = f.relative_to(src).parts
        if prefix and (len(rel) < 2 or rel[0] != prefix):
            continue
        me = module_of(src, f, depth)
        text = re.sub(r"#\[cfg\(test\)\]\s*mod tests \{.*", "", f.read_text(), flags=re.S)
        # comments and doc links are not imports
        text = re.sub(r"//.*", "", text)
        pat = r"crate::" + (prefix + r"::" if prefix else "") + r"([a-z_]+)"
        for m in re.finditer(pat, text):
            other = (prefix + "::" if prefix else "") + m.group(1)
            if other != me:
                edges.setdefault(me, set()).add(other)
        if prefix:
            for m in re.finditer(r"\bsuper::([a-z_]+)", text):
                other = prefix + "::" + m.group(1)
                if other != me and (src / prefix / (m.group(1) + ".rs")).exists():
                    edges.setdefault(me, set()).add(other)
    return edges


def cycles(edges):
    found, seen = [], set()

    def dfs(node, path):
        for n in sorted(edges.get(node, ())):
            if n in path:
                c = path[path.index(n):]
                key = frozenset(c)
                if key not in seen:
                    seen.add(key)
                    found.append(c + [n])
            elif len(path) < 12:
                dfs(n, path + [n])

    for start in sorted(edges):
        dfs(start, [start])
    return found


def main() -> int:
    bad = 0
    checks = [
        ("segmint", ROOT / "crates/segmint/src", "", 1),
        ("segmint-cli", ROOT / "crates/segmint-cli/src", "", 1),
        ("segmint-cli cmd", ROOT / "crates/segmint-cli/src", "cmd", 2),
    ]
    for name, src, prefix, depth in checks:
        if not src.exists():
            continue
        cs = cycles(graph(src, prefix, depth))
        for c in cs:
            print(f"{name}: cycle {' -> '.join(c)}")
        bad += len(cs)
        if not cs:
            print(f"{name}: no module import cycle")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
