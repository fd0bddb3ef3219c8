"""Evaluate a valid OData `$filter` on one Graph user in memory, the way Graph would.

Delta rounds accept no `$filter` but `id` (graph-facts 5), so the engine applies the admin's filter locally to
each user. `odata` parses and validates the filter; this module only reads users against the parsed tree.
"""

from __future__ import annotations

import re
from datetime import datetime

from directory_sync import odata

__all__ = ["matches"]


def matches(expr: str, user: dict, manager: dict | None = None) -> bool:
    """Evaluate a valid filter on one Graph user as Graph would (string comparisons ignore case). An empty
    filter matches everyone. Needs the FilterInfo.select properties in the user dict."""
    tree, _ = _parse_cached(expr)
    return tree is None or _evaluate(tree, user, manager or {})


_CACHE: dict[str, tuple] = {}


def _parse_cached(expr: str):
    if expr not in _CACHE:
        if len(_CACHE) > 256:
            _CACHE.clear()
        _CACHE[expr] = odata.parse_filter(expr)
    return _CACHE[expr]


def _read(path: str, user: dict, manager: dict):
    if path.startswith("manager/"):
        return manager.get(path.split("/", 1)[1])
    parent, _, part = path.partition("/")
    value = user.get(parent)
    if part:
        value = value.get(part) if isinstance(value, dict) else None
    return None if value == "" else value


def _normal(value):
    """Make a Graph value and a literal comparable: text ignores case, date-times compare as instants."""
    if isinstance(value, str):
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})", value):
                return datetime.fromisoformat(value)
        except ValueError:
            pass
        return value.casefold()
    return value


def _compare(actual, op: str, expected) -> bool:
    if expected is None:
        return (actual is None) == (op == "eq")
    if actual is None:
        return op == "ne"
    left, right = _normal(actual), _normal(expected)
    if op in ("eq", "ne"):
        return (left == right) == (op == "eq")
    try:
        return {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op]
    except TypeError:
        return False


def _evaluate(node, user: dict, manager: dict) -> bool:
    kind = node[0]
    if kind == "and":
        return _evaluate(node[1], user, manager) and _evaluate(node[2], user, manager)
    if kind == "or":
        return _evaluate(node[1], user, manager) or _evaluate(node[2], user, manager)
    if kind == "not":
        return not _evaluate(node[1], user, manager)
    if kind == "any":
        entries = user.get(node[1]) if isinstance(user.get(node[1]), list) else []
        return any(_evaluate_on(node[2], entry) for entry in entries)
    if kind == "count":
        entries = user.get(node[1]) if isinstance(user.get(node[1]), list) else []
        return _compare(len(entries), node[2], node[3])
    path = node[2] if kind == "func" else node[1]  # ("func", name, path, text) vs ("cmp"/"in", path, ...)
    return _evaluate_on(node, _read(path, user, manager))


def _evaluate_on(node, value) -> bool:
    """Evaluate a leaf condition (cmp, in, func) against one value (a property or a lambda entry)."""
    if isinstance(value, dict):  # an assignedLicenses entry: the lambda compares its skuId
        value = value.get("skuId")
    kind = node[0]
    if kind == "cmp":
        return _compare(value, node[2], node[3])
    if kind == "in":
        return any(_compare(value, "eq", option) for option in node[2])
    if not isinstance(value, str):
        return False
    text, part = value.casefold(), node[3].casefold()
    return text.startswith(part) if node[1] == "startswith" else text.endswith(part)
