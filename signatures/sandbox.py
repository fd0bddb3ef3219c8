"""The Jinja2 sandbox that signature templates run in: no attributes, no calls, no globals, a short list of
filters and tests, and size checks on every filter and operator, so that one render builds a bounded amount of
text. Pure Python, no Django; `rendering.py` checks templates against it and renders with it.
"""

import contextvars

import markupsafe
from jinja2 import ChainableUndefined
from jinja2 import filters as jinja_filters
from jinja2 import tests as jinja_tests
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_PIECE_CHARS = 20_000  # any one string a filter or operator may build
MAX_WORK_CHARS = 200_000  # all the text one render's filters and operators may build together
MAX_NUMBER_BITS = 1_024


class Refused(SecurityError):
    """A sandbox refusal whose message (a noun phrase) is ours and safe to show to the editor."""


# What one render may still build, in characters, across every filter and operator: with no loops a
# template could otherwise repeat a 20,000-character piece as often as its source allows.
work_budget: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("work_left", default=None)


def _checked(result):
    if isinstance(result, (str, list, tuple)):
        if len(result) > MAX_PIECE_CHARS:
            raise Refused("building a text longer than a signature can hold")
        work_left = work_budget.get()
        if work_left is not None:
            work_left[0] -= len(result)
            if work_left[0] < 0:
                raise Refused("building this much text")
    return result


def _filter(function, needs: str | None = None):
    """A size-checked filter, marked pass_context so that Jinja never runs it while compiling."""

    @jinja_filters.pass_context
    def run(context, *args, **kwargs):
        if needs == "environment":
            args = (context.environment, *args)
        elif needs == "eval_context":
            args = (context.eval_ctx, *args)
        elif needs == "context":
            args = (context, *args)
        return _checked(function(*args, **kwargs))

    return run


def _replace(eval_ctx, value, old, new, count=None):
    text, old, new = str(value), str(old), str(new)
    occurrences = len(text) + 1 if not old else text.count(old)
    if count is not None:
        occurrences = min(occurrences, max(int(count), 0))
    # escaping can grow text up to 5 times (' -> &#39;)
    if (len(text) + occurrences * max(len(new) - len(old), 0)) * 5 > MAX_PIECE_CHARS:
        raise Refused("building a text longer than a signature can hold")
    return jinja_filters.do_replace(eval_ctx, value, old, new, count)


def _join(eval_ctx, value, d="", attribute=None):
    if attribute is not None:
        raise Refused("`join(attribute=...)`")
    items = list(value)
    if sum(len(str(item)) for item in items) + len(str(d)) * len(items) > MAX_PIECE_CHARS:
        raise Refused("building a text longer than a signature can hold")
    return jinja_filters.sync_do_join(eval_ctx, items, d)


def _select(context, value, *args, **kwargs):
    # A list, not a generator, so printing it never shows a Python object's repr.
    return list(jinja_filters.sync_do_select(context, value, *args, **kwargs))


SAFE_FILTERS = {
    "upper": _filter(jinja_filters.do_upper),
    "lower": _filter(jinja_filters.do_lower),
    "title": _filter(jinja_filters.do_title),
    "capitalize": _filter(jinja_filters.do_capitalize),
    "trim": _filter(jinja_filters.do_trim),
    "default": _filter(jinja_filters.do_default),
    "d": _filter(jinja_filters.do_default),
    "truncate": _filter(jinja_filters.do_truncate, "environment"),
    "e": _filter(markupsafe.escape),
    "escape": _filter(markupsafe.escape),
    "length": _filter(len),
    "count": _filter(len),
    "first": _filter(jinja_filters.sync_do_first, "environment"),
    "last": _filter(jinja_filters.do_last, "environment"),
    "striptags": _filter(jinja_filters.do_striptags),
    "urlencode": _filter(jinja_filters.do_urlencode),
    "wordcount": _filter(jinja_filters.do_wordcount),
    "replace": _filter(_replace, "eval_context"),
    "join": _filter(_join, "eval_context"),
    "select": _filter(_select, "context"),
}
SAFE_TESTS = {
    name: jinja_tests.TESTS[name]
    for name in (
        "defined", "undefined", "none", "string", "number", "lower", "upper", "true", "false", "boolean",
        "integer", "float", "even", "odd", "divisibleby", "in", "eq", "equalto", "==", "ne", "!=",
        "lt", "<", "le", "<=", "gt", ">", "ge", ">=",
    )
}  # fmt: skip


class _SignatureSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with every door we do not need shut: no attributes, no calls, no globals."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self, *, autoescape: bool):
        super().__init__(
            autoescape=autoescape,
            undefined=ChainableUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            finalize=lambda value: "" if value is None else value,
        )
        self.globals.clear()  # drops range, dict, lipsum, cycler, joiner, namespace
        self.filters = dict(SAFE_FILTERS)
        self.tests = dict(SAFE_TESTS)

    def is_safe_attribute(self, obj, attr, value):
        return False

    def is_safe_callable(self, obj):
        return False

    def wrap_str_format(self, value):
        return None  # str.format is reachable only through attributes, and those are all refused

    def unsafe_undefined(self, obj, attribute):
        raise Refused(f"reading `{attribute}`")

    def getattr(self, obj, attribute):
        raise Refused(f"reading `.{attribute}`")

    def call_binop(self, context, operator, left, right):
        if operator == "%" and isinstance(left, str):
            raise Refused("`%` formatting of text")
        if operator == "**":
            _check_power(left, right)
        if operator == "*":
            _check_product(left, right)
        if operator == "+" and isinstance(left, (str, list, tuple)) and hasattr(right, "__len__"):
            if len(left) + len(right) > MAX_PIECE_CHARS:
                raise Refused("building a text longer than a signature can hold")
        return _checked(self.binop_table[operator](left, right))


def _check_power(base, exponent):
    if not isinstance(base, (int, float)) or not isinstance(exponent, (int, float)):
        return  # the operator itself raises TypeError
    too_many_bits = isinstance(base, int) and abs(base).bit_length() * abs(exponent) > MAX_NUMBER_BITS
    if abs(exponent) > 100 or too_many_bits:
        raise Refused("a number this large")


def _check_product(left, right):
    for sequence, times in ((left, right), (right, left)):
        if isinstance(sequence, (str, list, tuple)) and isinstance(times, int):
            if len(sequence) * times > MAX_PIECE_CHARS:
                raise Refused("building a text longer than a signature can hold")
            return
    if isinstance(left, int) and isinstance(right, int):
        if abs(left).bit_length() + abs(right).bit_length() > MAX_NUMBER_BITS:
            raise Refused("a number this large")


HTML_ENV = _SignatureSandbox(autoescape=True)
TEXT_ENV = _SignatureSandbox(autoescape=False)  # plain text is not HTML; whoever shows it escapes it
