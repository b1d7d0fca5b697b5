#!/usr/bin/env python3
"""Check that the modules of a Rust crate do not import each other in a loop.

Usage:
  use_graph.py [-v] [SRC_DIR ...]      (default: core/src proxy/src)

Each SRC_DIR is a library crate's source directory with a lib.rs. The script reads the module
tree from `mod` declarations (`#[path]` included), then every path a module uses: `use` trees
and paths in code that start with `crate::`, `super::`, `self::` or a child module's name.
A path is resolved to the module that defines its item, following `pub use` re-exports.

Two graphs are checked, and the script exits 1 when either has a cycle (a pair of modules
that use each other, or a longer ring), printing each one:
  modules: one node per file, plus one per inline `#[cfg(test)] mod` (test code is its own
           module: a test may use fixtures that use the module it tests);
  seams:   the modules grouped by their top-level module (`pipeline::handler` is in the
           `pipeline` seam), test modules left out: the seams must depend on each other one
           way only.

Not counted as uses: a `mod` declaration, and a module re-exporting its own descendants
(`pub use child::Item;` is the module's facade, not a dependency), unless the module's own code
uses the re-exported name. Comments (doc links included) are ignored.

-v prints every module with the modules it uses, and the seam graph.
Exit status: 0 without cycles, 1 with a cycle, 2 on bad input.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

KEYWORD_ITEMS = {"fn", "struct", "enum", "const", "static", "type", "trait", "union"}
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --- lexing -------------------------------------------------------------------------------------


@dataclass
class Tok:
    kind: str  # "id", "str", "p" (punctuation)
    text: str


def lex(src: str) -> list[Tok]:
    """Identifiers, string literals (value kept, for `#[path]`) and punctuation; comments,
    numbers, characters and lifetimes dropped."""
    out: list[Tok] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c.isspace():
            i += 1
        elif src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if src.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif src.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif (m := re.match(r'(b|c)?r(#*)"', src[i:])) and (i == 0 or not is_ident(src[i - 1])):
            hashes = m.group(2)
            start = i + m.end()
            end = src.find('"' + hashes, start)
            end = n if end < 0 else end
            out.append(Tok("str", src[start:end]))
            i = end + 1 + len(hashes)
        elif c == '"' or (c in "bc" and src.startswith('"', i + 1) and not is_ident_before(src, i)):
            j = i + (1 if c == '"' else 2)
            value = []
            while j < n and src[j] != '"':
                if src[j] == "\\":
                    value.append(src[j : j + 2])
                    j += 2
                else:
                    value.append(src[j])
                    j += 1
            out.append(Tok("str", "".join(value)))
            i = j + 1
        elif c == "'" or (c == "b" and src.startswith("'", i + 1) and not is_ident_before(src, i)):
            j = i + (1 if c == "'" else 2)
            if j < n and src[j] == "\\":
                k = src.find("'", j + 2)
                i = n if k < 0 else k + 1
            elif j + 1 < n and src[j + 1] == "'":
                i = j + 2
            else:  # a lifetime or label
                m = IDENT.match(src, j)
                i = m.end() if m else j
        elif is_ident(c) and not c.isdigit():
            m = re.compile(r"(r#)?[A-Za-z0-9_]+").match(src, i)
            assert m
            out.append(Tok("id", m.group(0).removeprefix("r#")))
            i = m.end()
        elif c.isdigit():
            m = re.compile(r"[0-9][0-9A-Za-z_.]*").match(src, i)
            assert m
            i = m.end()
        elif src.startswith("::", i):
            out.append(Tok("p", "::"))
            i += 2
        else:
            out.append(Tok("p", c))
            i += 1
    return out


def is_ident(c: str) -> bool:
    return c.isalnum() or c == "_"


def is_ident_before(src: str, i: int) -> bool:
    return i > 0 and is_ident(src[i - 1])


# --- the module tree ----------------------------------------------------------------------------


@dataclass
class Module:
    path: tuple[str, ...]  # from the crate root
    node: str  # the graph node holding this module's code
    test: bool
    children: dict[str, "Module"] = field(default_factory=dict)
    items: set[str] = field(default_factory=set)
    # local name -> absolute path, for `pub use` (any visibility)
    reexports: dict[str, tuple[str, ...]] = field(default_factory=dict)
    globs: list[tuple[str, ...]] = field(default_factory=list)


@dataclass
class Use:
    node: str
    module: tuple[str, ...]  # the module the path was written in
    path: tuple[str, ...]  # as written (relative)
    reexport: bool  # part of a `pub use`
    local: str | None  # the name a `use` brings in scope


@dataclass
class Crate:
    src: Path
    modules: dict[tuple[str, ...], Module] = field(default_factory=dict)
    nodes: dict[str, bool] = field(default_factory=dict)  # node -> test
    uses: list[Use] = field(default_factory=list)
    # node -> identifiers used in its code outside `use` items
    code_idents: dict[str, set[str]] = field(default_factory=dict)


def child_file(parent_file: Path, name: str, path_attr: str | None) -> Path | None:
    own_dir = parent_file.parent
    if path_attr is not None:
        return own_dir / path_attr
    if parent_file.name not in ("lib.rs", "main.rs", "mod.rs"):
        own_dir = own_dir / parent_file.stem
    for candidate in (own_dir / f"{name}.rs", own_dir / name / "mod.rs"):
        if candidate.is_file():
            return candidate
    return None


def node_name(crate: Crate, file: Path) -> str:
    try:
        return str(file.resolve().relative_to(crate.src.resolve()))
    except ValueError:
        return str(file)


def load_file(crate: Crate, file: Path, module: Module) -> None:
    toks = lex(file.read_text(encoding="utf-8"))
    crate.nodes[module.node] = module.test
    Parser(crate, file, toks).module_body(module, 0, len(toks))


class Parser:
    def __init__(self, crate: Crate, file: Path, toks: list[Tok]):
        self.crate, self.file, self.toks = crate, file, toks

    def t(self, i: int) -> Tok:
        return self.toks[i] if i < len(self.toks) else Tok("p", "")

    def matching(self, i: int) -> int:
        """Index of the bracket closing the one at i."""
        pairs = {"{": "}", "[": "]", "(": ")"}
        open_, close, depth = self.toks[i].text, pairs[self.toks[i].text], 0
        for j in range(i, len(self.toks)):
            tok = self.toks[j]
            if tok.kind == "p" and tok.text == open_:
                depth += 1
            elif tok.kind == "p" and tok.text == close:
                depth -= 1
                if depth == 0:
                    return j
        return len(self.toks) - 1

    def module_body(self, module: Module, i: int, end: int) -> None:
        """Reads the items of `module` between i and end (exclusive)."""
        attrs: list[list[Tok]] = []
        idents = self.crate.code_idents.setdefault(module.node, set())
        while i < end:
            tok = self.t(i)
            if tok.kind == "p" and tok.text == "#":
                j = i + 1
                if self.t(j).text == "!":
                    j += 1
                if self.t(j).text == "[":
                    close = self.matching(j)
                    attrs.append(self.toks[j + 1 : close])
                    i = close + 1
                    continue
            if tok.kind == "id" and tok.text == "pub" and self.t(i + 1).text == "(":
                i = self.matching(i + 1) + 1
                tok, vis = self.t(i), True
            else:
                vis = tok.kind == "id" and tok.text == "pub"
                if vis:
                    i += 1
                    tok = self.t(i)
            if tok.kind == "id" and tok.text == "use":
                j = i + 1
                while self.t(j).text != ";" and j < end:
                    j += 1
                self.use_tree(module, i + 1, j, vis)
                attrs, i = [], j + 1
                continue
            if tok.kind == "id" and tok.text == "mod" and self.t(i + 1).kind == "id":
                name = self.t(i + 1).text
                test = module.test or any(is_cfg_test(a) for a in attrs)
                path_attr = next((p for a in attrs if (p := path_attr_of(a))), None)
                child_path = module.path + (name,)
                if self.t(i + 2).text == ";":
                    file = child_file(self.file, name, path_attr)
                    if file is None:
                        raise SystemExit(f"use_graph.py: {self.file}: no file for `mod {name}`")
                    child = Module(child_path, node_name(self.crate, file), test)
                    module.children[name] = child
                    self.crate.modules[child_path] = child
                    load_file(self.crate, file, child)
                    attrs, i = [], i + 3
                    continue
                if self.t(i + 2).text == "{":
                    close = self.matching(i + 2)
                    node = f"{module.node}::{name}" if test and not module.test else module.node
                    child = Module(child_path, node, test)
                    module.children[name] = child
                    self.crate.modules[child_path] = child
                    self.crate.nodes.setdefault(node, test)
                    self.module_body(child, i + 3, close)
                    attrs, i = [], close + 1
                    continue
            if tok.kind == "id" and tok.text in KEYWORD_ITEMS and self.t(i + 1).kind == "id":
                module.items.add(self.t(i + 1).text)
            if tok.kind == "id" and tok.text == "macro_rules" and self.t(i + 2).kind == "id":
                module.items.add(self.t(i + 2).text)
            # A path in code: crate::/super::/self:: or a child module's name, at a path start.
            if tok.kind == "id" and self.t(i + 1).text == "::" and self.t(i - 1).text not in ("::", "."):
                if tok.text in ("crate", "super", "self") or tok.text in module.children:
                    j, segs = i, []
                    while self.t(j).kind == "id" and self.t(j + 1).text == "::":
                        segs.append(self.t(j).text)
                        j += 2
                    if self.t(j).kind == "id":
                        segs.append(self.t(j).text)
                    self.crate.uses.append(Use(module.node, module.path, tuple(segs), False, None))
                    i = j + 1
                    continue
            if tok.kind == "id":
                idents.add(tok.text)
            if tok.kind == "p" and tok.text in ";}":
                attrs = []
            elif tok.kind == "p" and tok.text == "{":
                attrs = []
            i += 1

    def use_tree(self, module: Module, i: int, end: int, reexport: bool) -> None:
        toks = self.toks[i:end]
        if toks and toks[0].text == "::":
            return  # an extern crate path
        for path, local in expand_tree(toks):
            if not path:
                continue
            self.crate.uses.append(Use(module.node, module.path, path, reexport, local))
            if reexport:
                absolute = absolutize(module, path)
                if absolute is None:
                    continue
                if local == "*":
                    module.globs.append(absolute)
                elif local:
                    module.reexports[local] = absolute


def expand_tree(toks: list[Tok]) -> list[tuple[tuple[str, ...], str | None]]:
    """`a::{b, c::{self, D as E}, f::*}` -> [(a,b),b], [(a,c),c], [(a,c,D),E], [(a,f,*),*]."""
    out: list[tuple[tuple[str, ...], str | None]] = []

    def walk(pos: int, prefix: tuple[str, ...]) -> int:
        segs = list(prefix)
        while pos < len(toks):
            tok = toks[pos]
            if tok.text == "{":
                pos += 1
                while pos < len(toks) and toks[pos].text != "}":
                    pos = walk(pos, tuple(segs))
                    if pos < len(toks) and toks[pos].text == ",":
                        pos += 1
                return pos + 1
            if tok.text == "*":
                out.append((tuple(segs) + ("*",), "*"))
                return pos + 1
            if tok.kind == "id" and tok.text == "self" and len(segs) == len(prefix) and segs:
                local = segs[-1]
                if pos + 2 < len(toks) and toks[pos + 1].text == "as":
                    local, pos = toks[pos + 2].text, pos + 2
                out.append((tuple(segs), local))
                return pos + 1
            if tok.kind == "id":
                segs.append(tok.text)
                pos += 1
                if pos < len(toks) and toks[pos].text == "::":
                    pos += 1
                    continue
                local = tok.text
                if pos + 1 < len(toks) and toks[pos].text == "as":
                    local, pos = toks[pos + 1].text, pos + 2
                out.append((tuple(segs), None if local == "_" else local))
                return pos
            return pos + 1
        return pos

    walk(0, ())
    return out


def is_cfg_test(attr: list[Tok]) -> bool:
    texts = [t.text for t in attr]
    return texts[:2] == ["cfg", "("] and "test" in texts and "not" not in texts


def path_attr_of(attr: list[Tok]) -> str | None:
    if len(attr) == 3 and attr[0].text == "path" and attr[1].text == "=" and attr[2].kind == "str":
        return attr[2].text
    return None


def absolutize(module: Module, path: tuple[str, ...]) -> tuple[str, ...] | None:
    """The absolute form of a path written in `module`; None for another crate's path."""
    head, rest = path[0], list(path[1:])
    if head == "crate":
        base: list[str] = []
    elif head == "self":
        base = list(module.path)
    elif head == "super":
        base = list(module.path[:-1])
        while rest and rest[0] == "super":
            base, rest = base[:-1], rest[1:]
    elif head in module.children:
        base, rest = list(module.path), list(path)
    else:
        return None
    return tuple(base + rest)


# --- resolving and checking ---------------------------------------------------------------------


def resolve(crate: Crate, path: tuple[str, ...], depth: int = 0) -> tuple[str, ...]:
    """The module defining what `path` (absolute) names."""
    current: tuple[str, ...] = ()
    for k, seg in enumerate(path):
        module = crate.modules[current]
        if seg in module.children:
            current = current + (seg,)
            continue
        if seg == "*" or depth > 16:
            return current
        if seg in module.reexports and seg not in module.items:
            return resolve(crate, module.reexports[seg] + path[k + 1 :], depth + 1)
        if seg not in module.items:
            for glob in module.globs:
                target = resolve(crate, glob[:-1], depth + 1)
                found = crate.modules.get(target)
                if found and (seg in found.items or seg in found.reexports or seg in found.children):
                    return resolve(crate, target + path[k:], depth + 1)
        return current
    return current


def build_edges(crate: Crate) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {node: set() for node in crate.nodes}
    for use in crate.uses:
        module = crate.modules[use.module]
        absolute = absolutize(module, use.path)
        if absolute is None:
            continue
        target_module = resolve(crate, absolute)
        target = crate.modules[target_module].node
        if target == use.node:
            continue
        own = target_module[: len(use.module)] == use.module
        if use.reexport and own:
            # The module's facade; a dependency only if its own code uses the name.
            if not use.local or use.local not in crate.code_idents.get(use.node, set()):
                continue
        edges[use.node].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
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
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def ring(component: list[str], edges: dict[str, set[str]]) -> list[str]:
    """A shortest cycle through the component's first node (breadth-first)."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(edges[v] & members):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return list(reversed(path)) + [start]
            if w not in previous:
                previous[w] = v
                queue.append(w)
    return component


def seam_of(node: str) -> str:
    first = node.split("::")[0].split("/")[0]
    return first.removesuffix(".rs")


def display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def check(src: Path, verbose: bool) -> bool:
    lib = src / "lib.rs"
    if not lib.is_file():
        raise SystemExit(f"use_graph.py: {lib} not found")
    crate = Crate(src)
    root = Module((), "lib.rs", False)
    crate.modules[()] = root
    load_file(crate, lib, root)
    edges = build_edges(crate)

    seams: dict[str, set[str]] = {}
    for node, targets in edges.items():
        if crate.nodes[node] or node == "lib.rs":
            continue
        seams.setdefault(seam_of(node), set())
        for target in targets:
            if not crate.nodes[target] and seam_of(target) != seam_of(node):
                seams[seam_of(node)].add(seam_of(target))

    module_cycles = cycles(edges)
    seam_cycles = cycles(seams)
    count = sum(len(t) for t in edges.values())
    print(f"{display(src)}: {len(edges)} modules, {count} uses; {len(seams)} seams")
    if verbose:
        width = max(len(n) for n in edges)
        for node in sorted(edges):
            mark = " (test)" if crate.nodes[node] else ""
            print(f"  {node:<{width}} -> {', '.join(sorted(edges[node])) or '-'}{mark}")
        print("  seams:")
        for seam in sorted(seams):
            print(f"    {seam} -> {', '.join(sorted(seams[seam])) or '-'}")
    for kind, graph, found in (("modules", edges, module_cycles), ("seams", seams, seam_cycles)):
        for component in found:
            what = "pair" if len(component) == 2 else f"ring of {len(component)}"
            print(f"  CYCLE ({kind}, {what}): {', '.join(component)}")
            print(f"    e.g. {' -> '.join(ring(component, graph))}")
    if not module_cycles and not seam_cycles:
        print("  no cycle between modules or seams")
    return not module_cycles and not seam_cycles


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    args = [a for a in argv if a != "-v"]
    if any(a.startswith("-") for a in args):
        print(__doc__, file=sys.stderr)
        return 2
    root = Path(__file__).resolve().parent.parent
    dirs = [Path(a) for a in args] or [root / "core/src", root / "proxy/src"]
    ok = True
    for src in dirs:
        ok = check(src, verbose) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
