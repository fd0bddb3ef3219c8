"""A parser and validator for the OData `$filter` subset Microsoft Graph supports on /users.

Why parse it ourselves: a typo in the admin's filter should be reported when the filter is saved, with the
position and in words, not as a 400 from Graph at sync time; and we must know whether the filter needs
Graph's advanced query mode (`ConsistencyLevel: eventual` + `$count=true`). Delta rounds accept no `$filter`
but `id` (graph-facts 5), so the engine also evaluates the same filter locally with `odata_eval.matches`.

Which operators each property supports, and which need advanced query, is the table in `odata_capabilities`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import datetime

from directory_sync import fields, odata_capabilities

__all__ = ["FilterError", "FilterInfo", "parse_filter", "validate_filter"]

MAX_LENGTH = 3000
MAX_DEPTH = 50


class FilterError(ValueError):
    """An invalid filter: `message` in words, `position` the 0-based character offset where it went wrong."""

    def __init__(self, message: str, position: int):
        super().__init__(f"{message} (at character {position + 1})")
        self.message = message
        self.position = position


@dataclass(frozen=True)
class FilterInfo:
    """What a valid filter needs: the advanced query headers, the Graph properties it names (as written,
    e.g. 'onPremisesExtensionAttributes/extensionAttribute1') and the top-level properties to $select."""

    needs_advanced_query: bool
    properties: frozenset[str]
    select: frozenset[str] = frozenset()
    uses_manager: bool = False


_COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le")
_KEYWORDS = frozenset(_COMPARISONS + ("and", "or", "not", "in", "true", "false", "null", "any", "all"))

_TOKEN_RES = [
    ("GUID", re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}(?![\w-])")),
    ("DATETIME", re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,7})?)?(Z|[+-]\d\d:\d\d)(?![\w:.])")),
    ("NUMBER", re.compile(r"-?\d+(?![\w.:-])")),
    ("NAME", re.compile(r"\$?[A-Za-z_][A-Za-z0-9_]*")),
]
_PUNCTUATION = {"(": "(", ")": ")", ",": ",", ":": ":", "/": "/"}
_MISTAKES = {
    '"': "Text values use single quotes, for example department eq 'Sales'",
    "=": "Use eq, ne, gt, ge, lt or le to compare, for example department eq 'Sales'",
    "!": "Use ne (not equal) or not (...) instead of '!'",
    "&": "Use 'and' to combine conditions",
    "|": "Use 'or' to combine conditions",
}


@dataclass(frozen=True)
class _Token:
    kind: str
    value: object
    pos: int


def _tokenize(text: str) -> list[_Token]:
    """Split the expression into tokens; raise FilterError at the first character that starts none."""
    tokens, pos = [], 0
    while pos < len(text):
        char = text[pos]
        if char.isspace():
            pos += 1
        elif char == "'":
            start, pos, value = pos, pos + 1, []
            while True:
                end = text.find("'", pos)
                if end < 0:
                    raise FilterError("This text value is never closed: add a closing single quote", start)
                value.append(text[pos:end])
                if text.startswith("''", end):  # OData escapes a quote inside text by doubling it
                    value.append("'")
                    pos = end + 2
                    continue
                pos = end + 1
                break
            tokens.append(_Token("STRING", "".join(value), start))
        elif char in _PUNCTUATION:
            tokens.append(_Token(char, char, pos))
            pos += 1
        else:
            for kind, regex in _TOKEN_RES:
                match = regex.match(text, pos)
                if match:
                    value = match.group(0)
                    tokens.append(_Token(kind, int(value) if kind == "NUMBER" else value, pos))
                    pos = match.end()
                    break
            else:
                if re.match(r"\d{4}-\d{2}-\d{2}", text[pos:]):
                    raise FilterError("Write dates with a time and zone, e.g. 2024-01-31T00:00:00Z", pos)
                hint = _MISTAKES.get(char, f"Unexpected character '{char}'")
                raise FilterError(hint, pos)
    tokens.append(_Token("END", "", len(text)))
    return tokens


def _describe(token: _Token) -> str:
    if token.kind == "END":
        return "the end of the filter"
    if token.kind == "STRING":
        return f"the text '{token.value}'"
    return f"'{token.value}'"


class _Parser:
    """Recursive descent over: or > and > not > primary (parentheses, functions, property conditions)."""

    def __init__(self, text: str):
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0
        self.advanced = False
        self.properties: set[str] = set()

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def peek(self, offset: int = 1) -> _Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def is_word(self, *words: str, token: _Token | None = None) -> bool:
        token = token or self.token
        return token.kind == "NAME" and str(token.value).lower() in words

    def advance(self) -> _Token:
        token = self.token
        if token.kind != "END":  # stay on END: every later look at self.token must still find a token
            self.index += 1
        return token

    def expect(self, kind: str, what: str) -> _Token:
        if self.token.kind != kind:
            raise FilterError(f"Expected {what}, found {_describe(self.token)}", self.token.pos)
        return self.advance()

    def parse(self):
        node = self.parse_or()
        if self.token.kind != "END":
            found = _describe(self.token)
            raise FilterError(f"Expected 'and', 'or' or the end of the filter, found {found}", self.token.pos)
        return node

    def parse_or(self):
        node = self.parse_and()
        while self.is_word("or"):
            self.advance()
            node = ("or", node, self.parse_and())
        return node

    def parse_and(self):
        node = self.parse_not()
        while self.is_word("and"):
            self.advance()
            node = ("and", node, self.parse_not())
        return node

    def parse_not(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterError(f"The filter nests more than {MAX_DEPTH} levels deep", self.token.pos)
        if self.is_word("not"):
            self.advance()
            self.advanced = True  # `not` needs advanced query on every property (graph-facts 4.3)
            node = ("not", self.parse_not())
        else:
            node = self.parse_primary()
        self.depth -= 1
        return node

    def parse_primary(self):
        token = self.token
        if token.kind == "(":
            self.advance()
            node = self.parse_or()
            self.expect(")", "a closing parenthesis")
            return node
        if token.kind == "NAME" and self.peek().kind == "(":
            return self.parse_function(None)
        if token.kind == "NAME" and str(token.value).lower() not in _KEYWORDS:
            return self.parse_condition()
        raise FilterError(
            f"Expected a condition such as department eq 'Sales', found {_describe(token)}", token.pos
        )

    def parse_function(self, variable: str | None, collection: str = ""):
        token = self.advance()
        name = str(token.value).lower()
        if name not in ("startswith", "endswith"):
            raise FilterError(
                f"Graph cannot filter users with '{token.value}': use startsWith or endsWith", token.pos
            )
        self.expect("(", "'(' after the function name")
        arg = self.token
        if variable is not None:
            if not (arg.kind == "NAME" and arg.value == variable):
                raise FilterError(f"Expected the lambda variable '{variable}'", arg.pos)
            self.advance()
            path, prop = collection, odata_capabilities.PROPS[collection]
        else:
            path, prop = self.parse_path()
            if prop.kind == "strings":
                raise FilterError(f"'{path}' is a list: use {path}/any(x: {token.value}(x, '...'))", arg.pos)
            if prop.kind not in ("string", "any"):
                raise FilterError(f"{token.value} works on text properties, and '{path}' is not one", arg.pos)
        if name == "startswith":
            if prop.starts is None:
                raise FilterError(f"Graph does not support startsWith on '{path}'", token.pos)
            self.advanced |= prop.starts == odata_capabilities.ADVANCED
        else:
            if not prop.ends:
                raise FilterError(
                    "Graph supports endsWith only on mail, userPrincipalName, otherMails and proxyAddresses",
                    token.pos,
                )
            self.advanced = True
        self.expect(",", "a comma between the property and the text")
        value = self.expect("STRING", "a text value in single quotes").value
        self.expect(")", "a closing parenthesis")
        return ("func", name, path, value)

    def parse_path(self) -> tuple[str, odata_capabilities.Prop]:
        start = self.token
        name = self.expect("NAME", "a property name").value
        path = str(name)
        if path.lower() in _KEYWORDS:
            raise FilterError(f"Expected a property name, found {_describe(start)}", start.pos)
        while (self.token.kind == "/" and self.peek().kind == "NAME"
               and not self.is_word("any", "all", "$count", token=self.peek())):
            self.advance()
            path += "/" + str(self.advance().value)
        return path, self.resolve(path, start.pos)

    def resolve(self, path: str, pos: int) -> odata_capabilities.Prop:
        if path in odata_capabilities.PROPS:
            prop = odata_capabilities.PROPS[path]
        elif odata_capabilities.EXTENSION_RE.fullmatch(path):
            # directory extensions: eq by default, the rest advanced (4.5)
            prop = odata_capabilities.Prop("any", False, odata_capabilities.ADVANCED)
        else:
            known = {p.lower(): p for p in odata_capabilities.PROPS}
            if path.lower() in known:
                message = f"Property names are case-sensitive: write '{known[path.lower()]}'"
            elif path in fields.USER_PROPERTIES or path.startswith("manager/"):
                message = f"Graph cannot filter users by '{path}'"
            else:
                close = difflib.get_close_matches(path, list(odata_capabilities.PROPS), n=1, cutoff=0.6)
                message = f"Unknown user property '{path}'"
                message += f": did you mean '{close[0]}'?" if close else ""
            raise FilterError(message, pos)
        self.properties.add(path)
        return prop

    def parse_condition(self):
        start = self.token
        path, prop = self.parse_path()
        if self.token.kind == "/":
            self.advance()
            return self.parse_collection_op(path, prop, start)
        if prop.kind in ("strings", "licenses"):
            raise FilterError(
                f"'{path}' is a list: use {path}/any(x: x eq '...') or {path}/$count", self.token.pos
            )
        return self.parse_comparison(path, prop, start)

    def parse_comparison(self, path: str, prop: odata_capabilities.Prop, start: _Token,
                         variable_kind: str = ""):
        op_token = self.token
        if self.is_word("in"):
            self.advance()
            self.expect("(", "'(' to start the list of values")
            values = [self.literal(prop, path, variable_kind)]
            while self.token.kind == ",":
                self.advance()
                values.append(self.literal(prop, path, variable_kind))
            self.expect(")", "a comma or a closing parenthesis")
            self.advanced |= prop.eq_advanced  # `in` works wherever eq does (graph-facts 4.3)
            return ("in", path, tuple(values))
        if not self.is_word(*_COMPARISONS):
            found = _describe(op_token)
            message = f"Expected eq, ne, gt, ge, lt, le or in after '{path}', found {found}"
            raise FilterError(message, op_token.pos)
        op = str(self.advance().value).lower()
        value = self.literal(prop, path, variable_kind)
        if op in ("gt", "ge", "lt", "le"):
            if prop.kind in ("bool", "strings", "licenses") or value is None:
                raise FilterError(f"'{path}' cannot be compared with {op}", op_token.pos)
            self.advanced |= not (path == "createdDateTime" and op in ("ge", "le"))
        elif op == "ne" or value is None:
            self.advanced = True  # ne, eq null and ne null need advanced query (graph-facts 4.3)
        else:
            self.advanced |= prop.eq_advanced
        return ("cmp", path, op, value)

    def literal(self, prop: odata_capabilities.Prop, path: str, variable_kind: str):
        token = self.advance()
        if token.kind == "NAME" and str(token.value).lower() in ("true", "false", "null"):
            value = {"true": True, "false": False, "null": None}[str(token.value).lower()]
            if value is None or prop.kind in ("bool", "any"):
                return value
        elif variable_kind == "licenses":
            if token.kind == "GUID":
                return str(token.value).lower()
            raise FilterError("skuId is a GUID written without quotes", token.pos)
        elif token.kind == "STRING" and prop.kind in ("string", "strings", "any"):
            return token.value
        elif token.kind == "DATETIME" and prop.kind in ("datetime", "any"):
            return _parse_datetime(str(token.value), token.pos)
        elif token.kind == "NUMBER" and prop.kind == "any":
            return token.value
        expected = {
            "bool": "true or false", "datetime": "a date and time such as 2024-01-31T00:00:00Z",
        }.get(prop.kind, "a text value in single quotes")
        raise FilterError(f"'{path}' compares with {expected}, found {_describe(token)}", token.pos)

    def parse_collection_op(self, path: str, prop: odata_capabilities.Prop, start: _Token):
        op_token = self.advance()
        word = str(op_token.value).lower()
        if prop.kind not in ("strings", "licenses"):
            raise FilterError(f"'{path}' is not a list, so it has no /{op_token.value}", op_token.pos)
        if word == "$count":
            self.advanced = True  # counting a collection needs advanced query (graph-facts 4.3)
            op = self.token
            if not self.is_word(*_COMPARISONS):
                raise FilterError("Expected eq, ne, gt, ge, lt or le after /$count", op.pos)
            self.advance()
            number = self.expect("NUMBER", "a whole number").value
            return ("count", path, str(op.value).lower(), number)
        if word == "all":
            raise FilterError("Graph does not support all() on users: use not .../any(...)", op_token.pos)
        self.expect("(", "'(' after any")
        variable = self.expect("NAME", "a lambda variable, as in any(x: x eq '...')")
        self.expect(":", "':' after the lambda variable")
        name = str(variable.value)
        if self.token.kind == "NAME" and self.peek().kind == "(" and self.token.value != name:
            body = self.parse_function(name, path)
        else:
            if not (self.token.kind == "NAME" and self.token.value == name):
                raise FilterError(f"Expected the lambda variable '{name}'", self.token.pos)
            self.advance()
            if prop.kind == "licenses":
                if not (self.token.kind == "/" and self.peek().value == "skuId"):
                    hint = f"Write assignedLicenses/any({name}: {name}/skuId eq <GUID>)"
                    raise FilterError(hint, self.token.pos)
                self.advance()
                self.advance()
            body = self.parse_comparison(path, prop, start, variable_kind=prop.kind)
        self.expect(")", "a closing parenthesis after the lambda")
        self.advanced |= prop.eq_advanced
        return ("any", path, body)


def _parse_datetime(text: str, pos: int) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise FilterError(f"'{text}' is not a valid date and time", pos) from None


def parse_filter(expr: str):
    """Return (tree, FilterInfo) for a valid expression or raise FilterError; an empty filter's tree is None.
    The tree is a nest of tuples: ("and"|"or", a, b), ("not", a), ("cmp", path, op, value), ("in", path,
    values), ("func", "startswith"|"endswith", path, text), ("any", path, leaf), ("count", path, op, n)."""
    if not isinstance(expr, str):
        raise FilterError("The filter must be text", 0)
    if len(expr) > MAX_LENGTH:
        raise FilterError(f"The filter is longer than {MAX_LENGTH} characters", MAX_LENGTH)
    if not expr.strip():
        return None, FilterInfo(False, frozenset())
    parser = _Parser(expr)
    tree = parser.parse()
    properties = frozenset(parser.properties)
    select = frozenset(p.split("/")[0] for p in properties if not p.startswith("manager/"))
    uses_manager = any(p.startswith("manager/") for p in properties)
    return tree, FilterInfo(parser.advanced, properties, select, uses_manager)


def validate_filter(expr: str) -> FilterInfo:
    """Check `expr` against Graph's /users $filter subset; raise FilterError (position, words) if invalid."""
    return parse_filter(expr)[1]

