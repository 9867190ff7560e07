#!/usr/bin/env python3
"""Finds import cycles between the modules of Rust crates: every `crate::…` and
`super::…` path outside comments and `#[cfg(test)] mod tests` is an edge from the
module whose file holds it to the deepest module the path names. A module may use
its own children and ancestors' items through `use`, but two modules that reach
each other (directly or around a loop) are a cycle. Prints each cycle; exits 1 if
there is any. Usage: scripts/import_cycles.py SRC_DIR…"""
import os
import re
import sys

PATH = re.compile(r"\b(crate|super)((?:::\w+)+)")


def module_of(root, file):
    parts = os.path.relpath(file, root)[:-3].split(os.sep)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def edges_of(root):
    files = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".rs")]
    modules = {module_of(root, f): f for f in files}
    edges = {}
    for module, file in modules.items():
        with open(file, encoding="utf-8") as handle:
            code = re.split(r"#\[cfg\(test\)\]\s*(?:pub(?:\(crate\))?\s+)?mod \w+\s*\{", handle.read())[0]
        code = "\n".join(line.split("//")[0] for line in code.splitlines())
        targets = set()
        for kind, rest in PATH.findall(code):
            base = list(module[:-1]) if kind == "super" else []
            path = base + rest.split("::")[1:]
            while path and tuple(path) not in modules:
                path.pop()
            target = tuple(path)
            if target != module and target in modules:
                targets.add(target)
        edges[module] = targets
    return edges


def cycles(edges):
    found = set()

    def walk(node, stack):
        for nxt in edges.get(node, ()):
            if nxt in stack:
                loop = stack[stack.index(nxt):]
                turn = loop.index(min(loop))
                found.add(tuple(loop[turn:] + loop[:turn]))
            elif len(stack) < 12:
                walk(nxt, stack + [nxt])

    for start in edges:
        walk(start, [start])
    return found


def main():
    bad = 0
    for root in sys.argv[1:]:
        for loop in sorted(cycles(edges_of(root))):
            names = ["::".join(m) or "crate" for m in loop]
            print(f"{root}: {' -> '.join(names + names[:1])}")
            bad += 1
    print(f"import cycles: {bad}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
