"""The sandboxed signature renderer: an editor's template + one employee's plain strings -> email-safe HTML.

Pure Python, no Django: the model and the views pass plain strings. The template language is a small,
loop-free subset of Jinja2 (placeholders, `{% if %}` lines, a short list of filters), so a render's work is
bounded by the template's size. Directory values are always escaped and never parsed as a template.
This module checks templates and renders them; the Jinja2 environment they run in is in `sandbox.py`, and the
sanitising and email-client checks applied to the output are in `emailsafe.py`.
"""

import difflib
import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from jinja2 import TemplateError, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError

from signatures import emailsafe, sandbox

MAX_SOURCE_CHARS = 100_000  # a generous signature template is a few thousand characters
MAX_VALUE_CHARS = 2_000  # Graph's longest string we map (streetAddress) is 1,024
MAX_OUTPUT_CHARS = 100_000  # ten times Gmail's limit: beyond this the template is broken, not big

PLACEHOLDERS = {
    "first_name": "First name",
    "last_name": "Last name",
    "display_name": "Full name as shown in the directory",
    "email": "Email address",
    "phone": "Office phone",
    "mobile": "Mobile phone",
    "fax": "Fax number",
    "job_title": "Job title",
    "department": "Department",
    "company": "Company name from the directory",
    "street": "Street address",
    "city": "City",
    "state": "State or province",
    "postal_code": "Postal code",
    "country": "Country or region",
    "photo_url": "Address of the employee's photo (https)",
    "org_name": "Organisation name",
    "org_website": "Organisation website (https://...)",
    "org_logo_url": "Address of the organisation's logo (https)",
}

_TEMPLATE_DIR = Path(__file__).parent / "default_templates"
DEFAULT_TEMPLATES = {
    name: ((_TEMPLATE_DIR / f"{name}.html").read_text(), (_TEMPLATE_DIR / f"{name}.txt").read_text())
    for name in ("classic", "modern")
}


@dataclass(frozen=True)
class Rendered:
    """One employee's signature: sanitised HTML, plain text (never HTML-escaped), warnings for the editor."""

    html: str
    text: str
    warnings: tuple[str, ...]
    char_count: int


@dataclass(frozen=True)
class TemplateProblem:
    """One thing wrong with a template, in words for the editor; `line` is 1-based or None."""

    line: int | None
    message: str
    is_blocking: bool = True  # False: the template still renders (an unknown placeholder shows empty)

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


class TemplateProblemError(ValueError):
    """The template cannot render; `problems` says why, in words for the editor."""

    def __init__(self, problems: list[TemplateProblem]):
        self.problems = problems
        super().__init__("; ".join(str(problem) for problem in problems))


# Removed from values: C0/C1 controls (NUL and friends) and bidirectional overrides that can make a
# job title display differently from what it says. Tabs and newlines stay; ZWJ/ZWNJ stay (scripts need them).
_UNSAFE_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean_value(value: str) -> str:
    """The directory value as it will be shown: control and bidi-override characters removed, capped."""
    return unicodedata.normalize("NFC", _UNSAFE_CHARS.sub("", value))[:MAX_VALUE_CHARS]


# ---- checking a template -----------------------------------------------------------------------------------

# The only node types a signature template may contain. No loops, macros, blocks, assignments, calls,
# attribute access or includes: with these left out, a render does work proportional to the template.
_ALLOWED_NODES = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Const, nodes.If, nodes.CondExpr,
    nodes.And, nodes.Or, nodes.Not, nodes.Neg, nodes.Pos, nodes.Compare, nodes.Operand, nodes.BinExpr,
    nodes.Concat, nodes.Filter, nodes.Test, nodes.FilterBlock, nodes.Getitem, nodes.Slice, nodes.Tuple,
    nodes.List, nodes.Dict, nodes.Pair, nodes.Keyword,
)  # fmt: skip
_NOT_ALLOWED = {  # node type -> what the editor wrote, for the message
    nodes.For: "`{% for %}` (each placeholder holds one value)",
    nodes.Macro: "`{% macro %}`",
    nodes.CallBlock: "`{% call %}`",
    nodes.Include: "`{% include %}` (a template is one self-contained piece of HTML)",
    nodes.Extends: "`{% extends %}` (a template is one self-contained piece of HTML)",
    nodes.Import: "`{% import %}`",
    nodes.FromImport: "`{% from ... import %}`",
    nodes.Block: "`{% block %}`",
    nodes.Assign: "`{% set %}` (use the placeholders directly)",
    nodes.AssignBlock: "`{% set %}` (use the placeholders directly)",
    nodes.With: "`{% with %}` (use the placeholders directly)",
    nodes.Call: "calling a function (use a filter such as `|upper`)",
    nodes.ScopedEvalContextModifier: "`{% autoescape %}` (directory values are always escaped)",
    nodes.EvalContextModifier: "`{% autoescape %}` (directory values are always escaped)",
}
_NOT_ALLOWED_FILTERS = {"safe", "forceescape", "attr", "format", "map", "selectattr", "rejectattr", "pprint"}
_RESERVED_NAMES = {"self", "loop", "caller", "varargs", "kwargs", "super"}
_BLOCK_TAGS = {"if", "for", "macro", "call", "filter", "block", "with", "autoescape"}


def check_template(
    html_source: str, known_placeholders: set[str] | dict | None = None, *, text: bool = False
) -> list[TemplateProblem]:
    """Every problem in the template, each with its line and a plain-language fix. Empty list: it renders.

    Problems with `is_blocking=False` (unknown placeholders) do not stop rendering; they show empty.
    """
    known = set(PLACEHOLDERS if known_placeholders is None else known_placeholders)
    if len(html_source) > MAX_SOURCE_CHARS:
        return [TemplateProblem(None, f"The template is over {MAX_SOURCE_CHARS:,} characters; shorten it.")]
    try:
        tree = (sandbox.TEXT_ENV if text else sandbox.HTML_ENV).parse(html_source)
        problems = _check_nodes(tree, known)
        if not any(problem.is_blocking for problem in problems):
            _compile(html_source, text)
    except TemplateSyntaxError as exc:
        return [_explain_syntax_error(exc, html_source)]
    except TemplateError as exc:
        return [TemplateProblem(getattr(exc, "lineno", None), _plain(str(exc)))]
    except RecursionError:  # Jinja's parser and compiler recurse once per nesting level
        return [TemplateProblem(None, "the template nests brackets, filters or operators too deeply")]
    return problems


@functools.lru_cache(maxsize=128)
def _blocking_problems(source: str, text: bool) -> tuple[TemplateProblem, ...]:
    # Rendering the same template for thousands of employees parses and checks it once.
    return tuple(problem for problem in check_template(source, text=text) if problem.is_blocking)


def _check_nodes(tree: nodes.Template, known: set[str]) -> list[TemplateProblem]:
    problems, unknown = [], set()
    for node in _walk(tree):
        refused, line = None, getattr(node, "lineno", None)
        if isinstance(node, nodes.Getattr):
            refused = f"`.{node.attr}` (use a filter such as `|upper`)"
        elif not isinstance(node, _ALLOWED_NODES):
            refused = _NOT_ALLOWED.get(type(node), f"`{type(node).__name__}`")
        elif isinstance(node, nodes.Name) and (node.name in _RESERVED_NAMES or node.name.startswith("_")):
            refused = f"`{node.name}`"
        elif isinstance(node, nodes.Getitem) and isinstance(getattr(node.arg, "value", None), str):
            refused = f"`[{node.arg.value!r}]`"
        elif isinstance(node, nodes.Filter) and node.name in _NOT_ALLOWED_FILTERS:
            refused = f"the filter `|{node.name}`"
        if refused:
            problems.append(TemplateProblem(line, f"{refused} is not allowed in a signature template"))
        elif isinstance(node, nodes.Name) and node.name not in known and node.name not in unknown:
            unknown.add(node.name)
            message = f"`{{{{ {node.name} }}}}` is not a known placeholder, so it will show empty"
            message += _did_you_mean(node.name, known)
            problems.append(TemplateProblem(line, message, is_blocking=False))
        elif isinstance(node, nodes.Filter) and node.name not in sandbox.SAFE_FILTERS:
            message = f"there is no filter called `{node.name}`"
            message += _did_you_mean(node.name, sandbox.SAFE_FILTERS, "`")
            problems.append(TemplateProblem(line, message))
        elif isinstance(node, nodes.Test) and node.name not in sandbox.SAFE_TESTS:
            message = f"there is no test called `{node.name}`"
            message += _did_you_mean(node.name, sandbox.SAFE_TESTS, "`")
            problems.append(TemplateProblem(line, message))
    return problems


def _walk(node: nodes.Node):
    yield node
    for child in node.iter_child_nodes():
        yield from _walk(child)


def _did_you_mean(name: str, choices, quote: str = "") -> str:
    guess = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.6)
    return f"; did you mean {quote}{guess[0]}{quote}?" if guess else ""


def _explain_syntax_error(exc: TemplateSyntaxError, source: str) -> TemplateProblem:
    message, line = exc.message or "", exc.lineno
    open_blocks = _scan_blocks(source)
    if message.startswith("Unexpected end of template") and open_blocks:
        tag, open_line, text = open_blocks[-1]
        return TemplateProblem(open_line, f"the block `{text}` is never closed; add `{{% end{tag} %}}`")
    unknown_tag = re.match(r"Encountered unknown tag '(\w+)'", message)
    if unknown_tag:
        tag = unknown_tag.group(1)
        if not (tag.startswith("end") or tag in ("else", "elif")):
            return TemplateProblem(line, f"`{{% {tag} %}}` is not a known tag; use if, elif, else and endif")
        if not open_blocks:
            return TemplateProblem(line, f"`{{% {tag} %}}` has no matching `{{% if %}}` before it")
        open_tag, open_line, text = open_blocks[-1]
        fix = f"the block `{text}` from line {open_line} needs `{{% end{open_tag} %}}` first"
        return TemplateProblem(line, f"`{{% {tag} %}}` does not fit here: {fix}")
    lines = source.splitlines()
    source_line = lines[line - 1] if line and line <= len(lines) else ""
    if "expected 'end of print statement'" in message or _is_unclosed(source_line, "{{", "}}"):
        return TemplateProblem(line, "a placeholder opened with `{{` is never closed with `}}`")
    if _is_unclosed(source_line, "{%", "%}"):
        return TemplateProblem(line, "a tag opened with `{%` is never closed with `%}`")
    if message == "Missing end of comment tag":
        return TemplateProblem(line, "a comment opened with `{#` is never closed with `#}`")
    return TemplateProblem(line, _plain(message))


def _is_unclosed(line: str, opener: str, closer: str) -> bool:
    """Whether some `opener` on the line has no `closer` before the next `{{` or `{%`."""
    for match in re.finditer(re.escape(opener), line):
        rest = line[match.end() :]
        following = re.search(r"\{\{|\{%", rest)
        if closer not in (rest[: following.start()] if following else rest):
            return True
    return False


def _plain(message: str) -> str:
    """Jinja's wording with its token names replaced by what the editor typed."""
    message = message.replace("'end of print statement'", "`}}`").replace("'end of statement block'", "`%}`")
    message = message.replace("tag name expected", "`{% %}` needs a tag name such as `if`")
    message = re.sub(r"unexpected char '(.)' at \d+", r"the character `\1` cannot be used here", message)
    return message.rstrip(".")


def _scan_blocks(source: str) -> list[tuple[str, int, str]]:
    """Block tags (tag, line, source text) still open at the end, from Jinja's lexer (up to a lexer error)."""
    stack, current = [], None  # current: [line, source pieces, tag name] of the tag being read
    try:
        for line, kind, value in sandbox.HTML_ENV.lex(source):
            if kind == "block_begin":
                current = [line, [value], ""]
            elif current:
                current[1].append(value)
                current[2] = current[2] or (value if kind == "name" else "")
                if kind == "block_end":
                    open_line, pieces, tag = current
                    current = None
                    if tag in _BLOCK_TAGS:
                        stack.append((tag, open_line, " ".join("".join(pieces).split())))
                    elif tag.startswith("end") and stack and stack[-1][0] == tag[3:]:
                        stack.pop()
    except TemplateSyntaxError:
        pass
    return stack


@functools.lru_cache(maxsize=128)
def _compile(source: str, text: bool):
    return (sandbox.TEXT_ENV if text else sandbox.HTML_ENV).from_string(source)


# ---- rendering ---------------------------------------------------------------------------------------------


def render_signature(
    html_source: str, context: dict[str, str], *, text_source: str | None = None
) -> Rendered:
    """Render a template for one employee into sanitised, inlined HTML plus plain text and client warnings.

    Raises TypeError for a non-string value and TemplateProblemError for a template that cannot render.
    """
    values = _clean_context(context)
    raw_html = _render(html_source, values, text=False)
    warnings = emailsafe.markup_checks(raw_html)
    try:
        inlined = emailsafe.inline_css(raw_html)
    except ValueError as exc:  # css_inline.InlineError is a ValueError
        problem = TemplateProblem(None, f"the <style> block could not be read: {exc}")
        raise TemplateProblemError([problem]) from None
    html = emailsafe.sanitize_html(inlined)
    if text_source is not None:
        text = emailsafe.tidy_text(_render(text_source, values, text=True))
    else:
        text = emailsafe.html_to_text(html)
    warnings += emailsafe.size_check(html)
    return Rendered(html=html, text=text, warnings=tuple(warnings), char_count=len(html))


def email_client_checks(html: str) -> list[str]:
    """What email clients would break in this HTML (layout, images, fonts, CSS, Gmail's size limit)."""
    return emailsafe.email_client_checks(html)


def _clean_context(context: dict[str, str]) -> dict[str, str]:
    values = {}
    for key, value in context.items():
        if not isinstance(key, str) or type(value) is not str:
            # Only plain str: a Markup value would skip escaping, any object would expose its attributes.
            raise TypeError(f"signature values must be plain strings; {key!r} is {type(value).__name__}")
        values[key] = clean_value(value)
    return values


def _render(source: str, values: dict[str, str], *, text: bool) -> str:
    problems = _blocking_problems(source, text)
    if problems:
        raise TemplateProblemError(list(problems))
    template = _compile(source, text)
    pieces, size = [], 0
    budget = sandbox.work_budget.set([sandbox.MAX_WORK_CHARS])
    try:
        for piece in template.generate(values):
            size += len(piece)
            if size > MAX_OUTPUT_CHARS:
                raise sandbox.Refused(f"an output over {MAX_OUTPUT_CHARS:,} characters")
            pieces.append(piece)
    except SecurityError as exc:
        what = str(exc) if isinstance(exc, sandbox.Refused) else "something here"
        raise TemplateProblemError(
            [TemplateProblem(_template_line(exc), f"{what} is not allowed in a signature template")]
        ) from None
    except UndefinedError as exc:
        raise TemplateProblemError(
            [TemplateProblem(_template_line(exc), "an unknown placeholder is used in a calculation")]
        ) from None
    except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError, RecursionError) as exc:
        message = f"the template could not be rendered ({type(exc).__name__}: {str(exc)[:200]})"
        raise TemplateProblemError([TemplateProblem(_template_line(exc), message)]) from None
    finally:
        sandbox.work_budget.reset(budget)
    return "".join(pieces)


def _template_line(exc: BaseException) -> int | None:
    """The template line Jinja's rewritten traceback points at, if any."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
