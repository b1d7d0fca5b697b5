"""A small evaluator for the part of CEL that CRD validation rules use: literals, ``self``/``oldSelf``,
field selection and indexing, ``has()``, ``size()``, ``in``, arithmetic, comparisons, ``!``, ``&&``,
``||`` (with CEL's commutative error handling), ``?:``, string functions (``startsWith``,
``endsWith``, ``contains``, ``matches``, ``lowerAscii``, ``upperAscii``, ``split``), conversions
(``int``, ``string``, ``double``, ``duration`` of a Go duration string, as seconds) and the ``all``/``exists``/``exists_one``/``filter``/``map`` macros.
Anything else raises ``CelUnsupported`` so the caller can skip the rule instead of guessing."""

from __future__ import annotations

import re
from functools import lru_cache


class CelError(Exception):
    """The expression failed at evaluation time (for example a missing field)."""


class CelUnsupported(CelError):
    """The expression uses a part of CEL this evaluator does not implement."""


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>\d+\.\d+(?:[eE][+-]?\d+)?|0x[0-9a-fA-F]+u?|\d+u?)
    | (?P<str>[rR]?(?:'{3}(?:.|\n)*?'{3}|"{3}(?:.|\n)*?"{3}|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"))
    | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>==|!=|<=|>=|&&|\|\||[-+*/%<>!?:.,()\[\]{}])
    )""",
    re.VERBOSE,
)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0"}


def _unquote(text: str) -> str:
    raw = text[0] in "rR"
    quotes = text[1:] if raw else text
    width = 3 if quotes[:3] in ("'''", '"""') else 1
    body = quotes[width:-width]
    if raw:
        return body
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def _tokenize(src: str) -> list[tuple[str, object]]:
    pos, out = 0, []
    src = src.rstrip()
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m or m.end() == pos:
            raise CelUnsupported(f"cannot parse near {src[pos : pos + 10]!r}")
        pos = m.end()
        if m.group("num"):
            t = m.group("num").rstrip("u")
            out.append(("lit", float(t) if "." in t else int(t, 0)))
        elif m.group("str"):
            out.append(("lit", _unquote(m.group("str"))))
        elif m.group("id"):
            word = m.group("id")
            if word in ("true", "false"):
                out.append(("lit", word == "true"))
            elif word == "null":
                out.append(("lit", None))
            elif word == "in":
                out.append(("op", "in"))
            else:
                out.append(("id", word))
        else:
            out.append(("op", m.group("op")))
    out.append(("end", None))
    return out


class _Parser:
    BINARY = [("||",), ("&&",), ("==", "!=", "<", "<=", ">", ">=", "in"), ("+", "-"), ("*", "/", "%")]

    def __init__(self, tokens):
        self.toks = tokens
        self.i = 0

    def peek(self):
        return self.toks[self.i]

    def take(self, value=None):
        tok = self.toks[self.i]
        if value is not None and tok[1] != value:
            raise CelUnsupported(f"expected {value!r}, found {tok[1]!r}")
        self.i += 1
        return tok

    def parse(self):
        node = self.expr()
        if self.peek()[0] != "end":
            raise CelUnsupported(f"unexpected {self.peek()[1]!r}")
        return node

    def expr(self):
        cond = self.binary(0)
        if self.peek() == ("op", "?"):
            self.take()
            yes = self.expr()
            self.take(":")
            no = self.expr()
            return ("?:", cond, yes, no)
        return cond

    def binary(self, level):
        if level == len(self.BINARY):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek()[0] == "op" and self.peek()[1] in self.BINARY[level]:
            op = self.take()[1]
            left = (op, left, self.binary(level + 1))
        return left

    def unary(self):
        if self.peek() == ("op", "!"):
            self.take()
            return ("!", self.unary())
        if self.peek() == ("op", "-"):
            self.take()
            return ("neg", self.unary())
        return self.postfix(self.primary())

    def args(self):
        out = []
        if self.peek() != ("op", ")"):
            out.append(self.expr())
            while self.peek() == ("op", ","):
                self.take()
                out.append(self.expr())
        self.take(")")
        return out

    def postfix(self, node):
        while True:
            tok = self.peek()
            if tok == ("op", "."):
                self.take()
                name = self.take()
                if name[0] != "id":
                    raise CelUnsupported("expected a field name after '.'")
                if self.peek() == ("op", "("):
                    self.take()
                    node = ("method", node, name[1], self.args())
                else:
                    node = ("field", node, name[1])
            elif tok == ("op", "["):
                self.take()
                index = self.expr()
                self.take("]")
                node = ("index", node, index)
            else:
                return node

    def primary(self):
        kind, value = self.take()
        if kind == "lit":
            return ("lit", value)
        if kind == "id":
            if self.peek() == ("op", "("):
                self.take()
                return ("call", value, self.args())
            return ("var", value)
        if value == "(":
            node = self.expr()
            self.take(")")
            return node
        if value == "[":
            items = []
            if self.peek() != ("op", "]"):
                items.append(self.expr())
                while self.peek() == ("op", ","):
                    self.take()
                    items.append(self.expr())
            self.take("]")
            return ("list", items)
        if value == "{":
            entries = []
            while self.peek() != ("op", "}"):
                k = self.expr()
                self.take(":")
                entries.append((k, self.expr()))
                if self.peek() == ("op", ","):
                    self.take()
            self.take("}")
            return ("map", entries)
        raise CelUnsupported(f"unexpected {value!r}")


@lru_cache(maxsize=256)
def compile_expr(src: str):
    return _Parser(_tokenize(src)).parse()


def evaluate(src: str, env: dict):
    return _eval(compile_expr(src), env)


def _size(v):
    if isinstance(v, (str, list, dict, bytes)):
        return len(v)
    raise CelError(f"no such overload: size({type(v).__name__})")


def _field(obj, name):
    if isinstance(obj, dict):
        if name not in obj:
            raise CelError(f"no such key: {name}")
        return obj[name]
    raise CelError(f"cannot select {name} on {type(obj).__name__}")


_MACROS = {"all", "exists", "exists_one", "filter", "map"}


def _macro(node, env):
    _, target, name, args = node
    coll = _eval(target, env)
    if len(args) != 2 or args[0][0] != "var":
        raise CelUnsupported(f"{name} takes a variable and an expression")
    var = args[0][1]
    items = list(coll.keys()) if isinstance(coll, dict) else coll
    if not isinstance(items, list):
        raise CelError(f"{name} needs a list or map")

    def pred(item):
        return _eval(args[1], {**env, var: item})

    if name == "all":
        return all(pred(i) is True for i in items)
    if name == "exists":
        return any(pred(i) is True for i in items)
    if name == "exists_one":
        return sum(1 for i in items if pred(i) is True) == 1
    if name == "filter":
        return [i for i in items if pred(i) is True]
    return [pred(i) for i in items]


def _method(node, env):
    _, target, name, args = node
    if name in _MACROS:
        return _macro(node, env)
    obj = _eval(target, env)
    vals = [_eval(a, env) for a in args]
    if name == "size" and not vals:
        return _size(obj)
    if isinstance(obj, str):
        if name == "startsWith":
            return obj.startswith(vals[0])
        if name == "endsWith":
            return obj.endswith(vals[0])
        if name == "contains":
            return vals[0] in obj
        if name == "matches":
            return _matches(obj, vals[0])
        if name == "lowerAscii":
            return obj.lower()
        if name == "upperAscii":
            return obj.upper()
        if name == "trim":
            return obj.strip()
        if name == "split" and len(vals) == 1:
            return obj.split(vals[0])
    raise CelUnsupported(f"method {name}() is not supported")


def _call(node, env):
    _, name, args = node
    if name == "has":
        if len(args) != 1 or args[0][0] != "field":
            raise CelError("has() needs a field selection")
        obj = _eval(args[0][1], env)
        return isinstance(obj, dict) and args[0][2] in obj
    vals = [_eval(a, env) for a in args]
    if name == "size" and len(vals) == 1:
        return _size(vals[0])
    if name == "int" and len(vals) == 1:
        return int(vals[0])
    if name == "double" and len(vals) == 1:
        return float(vals[0])
    if name == "string" and len(vals) == 1:
        v = vals[0]
        return ("true" if v else "false") if isinstance(v, bool) else str(v)
    if name == "duration" and len(vals) == 1:
        return _duration(vals[0])
    if name == "matches" and len(vals) == 2:
        return _matches(vals[0], vals[1])
    raise CelUnsupported(f"function {name}() is not supported")


def _matches(text, pattern):
    """RE2's ``matches``; RE2 takes flags such as ``(?i)`` anywhere, Python only first."""
    flags = re.findall(r"\(\?([aiLmsux]+)\)", pattern)
    pattern = re.sub(r"\(\?[aiLmsux]+\)", "", pattern)
    prefix = "".join(f"(?{f})" for f in flags)
    try:
        return re.search(prefix + pattern, text) is not None
    except re.error as exc:
        raise CelUnsupported(f"pattern {pattern!r}: {exc}") from exc


_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def _duration(text):
    """CEL's ``duration()`` of a Go duration string (``1h2m``, ``500ms``, ``0s``), in seconds."""
    if not isinstance(text, str):
        raise CelError("duration() needs a string")
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)", text)
    sign = -1.0 if text.startswith("-") else 1.0
    if not parts or "".join(n + u for n, u in parts) != text.lstrip("-+"):
        raise CelError(f"invalid duration {text!r}")
    return sign * sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def _logic(op, left_node, right_node, env):
    """CEL's && and || are commutative over errors: ``error || true`` is true."""
    short = op == "||"
    try:
        left = _eval(left_node, env)
        left_err = None
    except CelUnsupported:
        raise
    except CelError as exc:
        left, left_err = None, exc
    if left_err is None and left is short:
        return short
    right = _eval(right_node, env)
    if right is short:
        return short
    if left_err is not None:
        raise left_err
    if not isinstance(left, bool) or not isinstance(right, bool):
        raise CelError(f"no such overload for {op}")
    return left if op == "&&" else left or right


def _eval(node, env):
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "var":
        if node[1] not in env:
            raise CelUnsupported(f"undeclared reference to {node[1]!r}")
        return env[node[1]]
    if kind == "field":
        return _field(_eval(node[1], env), node[2])
    if kind == "index":
        obj, idx = _eval(node[1], env), _eval(node[2], env)
        try:
            return obj[idx]
        except (KeyError, IndexError, TypeError) as exc:
            raise CelError(f"index {idx!r} not found") from exc
    if kind == "list":
        return [_eval(n, env) for n in node[1]]
    if kind == "map":
        return {_eval(k, env): _eval(v, env) for k, v in node[1]}
    if kind == "call":
        return _call(node, env)
    if kind == "method":
        return _method(node, env)
    if kind == "?:":
        cond = _eval(node[1], env)
        if not isinstance(cond, bool):
            raise CelError("the condition of ?: must be a bool")
        return _eval(node[2] if cond else node[3], env)
    if kind == "!":
        v = _eval(node[1], env)
        if not isinstance(v, bool):
            raise CelError("! needs a bool")
        return not v
    if kind == "neg":
        return -_eval(node[1], env)
    if kind in ("&&", "||"):
        return _logic(kind, node[1], node[2], env)
    left, right = _eval(node[1], env), _eval(node[2], env)
    try:
        if kind == "==":
            return left == right
        if kind == "!=":
            return left != right
        if kind == "in":
            return left in right
        if kind == "<":
            return left < right
        if kind == "<=":
            return left <= right
        if kind == ">":
            return left > right
        if kind == ">=":
            return left >= right
        if kind == "+":
            return left + right
        if kind == "-":
            return left - right
        if kind == "*":
            return left * right
        if kind == "/":
            return left // right if isinstance(left, int) and isinstance(right, int) else left / right
        if kind == "%":
            return left % right
    except (TypeError, ZeroDivisionError) as exc:
        raise CelError(f"no such overload for {kind}: {exc}") from exc
    raise CelUnsupported(f"operator {kind} is not supported")
