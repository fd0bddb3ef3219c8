"""Turn rendered signature HTML into what email clients accept: inlined CSS, sanitised markup, plain text.

Pure Python (nh3, css_inline, the standard library); no Django. `rendering.py` calls these after the sandbox
has produced HTML; the checks also run on their own for the template editor.
"""

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import css_inline
import nh3

GMAIL_LIMIT_CHARS = 10_000

# Tags every mainstream client (Outlook/Word, Gmail, Apple Mail) keeps in a signature.
ALLOWED_TAGS = frozenset(
    {
        "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "col", "colgroup",
        "div", "span", "p", "br", "hr", "a", "img", "center",
        "b", "strong", "i", "em", "u", "s", "small", "sub", "sup", "font",
        "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote",
    }
)  # fmt: skip

# Removed together with everything inside them (a script's text must not turn into visible text).
REMOVED_WITH_CONTENT = frozenset(
    {
        "script", "style", "iframe", "object", "embed", "svg", "math", "template", "noscript",
        "title", "head", "textarea", "select", "xmp", "noembed", "noframes", "frameset", "applet",
    }
)  # fmt: skip

_COMMON_ATTRIBUTES = {"style", "align", "valign", "width", "height", "bgcolor", "title", "dir", "lang"}
ALLOWED_ATTRIBUTES = {
    "*": _COMMON_ATTRIBUTES,
    "a": {"href"},
    "img": {"src", "alt", "border"},
    "table": {"border", "cellpadding", "cellspacing", "role"},
    "td": {"colspan", "rowspan", "nowrap"},
    "th": {"colspan", "rowspan", "nowrap"},
    "font": {"color", "face", "size"},
    "hr": {"size", "color", "noshade"},
}

URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})

# CSS properties that Outlook (Word engine), Gmail and Apple Mail honour in a style attribute.
ALLOWED_CSS_PROPERTIES = frozenset(
    {
        "color", "background-color", "background",
        "font", "font-family", "font-size", "font-weight", "font-style", "font-variant",
        "line-height", "text-align", "text-decoration", "text-transform", "text-indent",
        "vertical-align", "white-space", "letter-spacing", "word-spacing",
        "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
        "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
        "border", "border-top", "border-right", "border-bottom", "border-left",
        "border-color", "border-width", "border-style", "border-collapse", "border-spacing", "border-radius",
        "border-top-color", "border-right-color", "border-bottom-color", "border-left-color",
        "border-top-width", "border-right-width", "border-bottom-width", "border-left-width",
        "border-top-style", "border-right-style", "border-bottom-style", "border-left-style",
        "width", "height", "max-width", "min-width", "max-height", "min-height",
        "display", "mso-line-height-rule", "table-layout",
    }
)  # fmt: skip
_ALLOWED_DISPLAY = frozenset({"block", "inline", "inline-block", "none", "table", "table-row", "table-cell"})
# Colour functions are the only CSS functions a signature needs; anything else (url(), expression(),
# var(), attr()) is how styles load resources or run code in old engines.
_CSS_FUNCTION = re.compile(r"([a-z-]*)\s*\(", re.IGNORECASE)
_CSS_ALLOWED_FUNCTIONS = frozenset({"rgb", "rgba", "hsl", "hsla"})
_CSS_FORBIDDEN_CHARS = re.compile(r"[\\<>{}@:;&`]|/\*")
_DIMENSION = re.compile(r"^\s*\d{1,4}(\.\d+)?%?\s*$")
_COLOUR = re.compile(r"^\s*(#[0-9a-f]{3,8}|[a-z]{3,20})\s*$", re.IGNORECASE)

_WEB_FONTS = (
    "Web fonts do not load in Outlook or Gmail; use a font stack such as Arial, Helvetica, sans-serif."
)
# What email clients break, as (pattern over CSS text, warning). Checked in style blocks and style attributes.
_CSS_CLIENT_PROBLEMS = [
    (
        re.compile(r"display\s*:\s*(inline-)?(flex|grid)", re.IGNORECASE),
        "CSS flex and grid layouts are ignored by Outlook for Windows and stripped by Gmail; lay the "
        "signature out with table cells instead.",
    ),
    (
        re.compile(r"(^|[;\s{])position\s*:", re.IGNORECASE),
        "CSS `position` is ignored by Outlook and Gmail; use table cells to place things.",
    ),
    (
        re.compile(r"(^|[;\s{])float\s*:", re.IGNORECASE),
        "CSS `float` is ignored by Outlook for Windows; put side-by-side parts in table cells.",
    ),
    (
        re.compile(r"background(-image)?\s*:[^;]*url\(", re.IGNORECASE),
        "Background images do not show in Outlook for Windows and are often blocked elsewhere; use an "
        "<img> with width and height.",
    ),
    (re.compile(r"@font-face|@import", re.IGNORECASE), _WEB_FONTS),
]
_WEB_FONT_HOSTS = re.compile(r"fonts\.googleapis\.com|fonts\.gstatic\.com|use\.typekit\.net", re.IGNORECASE)
_STYLE_BLOCK = re.compile(r"<style\b", re.IGNORECASE)


def inline_css(html_fragment: str) -> str:
    """Move the rules of any `<style>` block into style attributes and drop the block and any `<link>`.

    Remote stylesheets are never fetched. Returns the fragment unchanged when it has no `<style>` block.
    """
    if not _STYLE_BLOCK.search(html_fragment):
        return html_fragment
    return css_inline.inline_fragment(
        html_fragment, "", load_remote_stylesheets=False, keep_style_tags=False, keep_link_tags=False
    )


def clean_style(value: str) -> str | None:
    """Keep only allowlisted CSS declarations with harmless values; None when nothing is left."""
    kept = []
    for declaration in value.split(";"):
        name, sep, val = declaration.partition(":")
        name, val = name.strip().lower(), val.strip()
        if not sep or not val or name not in ALLOWED_CSS_PROPERTIES:
            continue
        if _CSS_FORBIDDEN_CHARS.search(val) or not _only_colour_functions(val):
            continue
        if name == "display" and val.lower() not in _ALLOWED_DISPLAY:
            continue
        kept.append(f"{name}:{val}")
    return ";".join(kept) or None


def _only_colour_functions(value: str) -> bool:
    return all(m.group(1).lower() in _CSS_ALLOWED_FUNCTIONS for m in _CSS_FUNCTION.finditer(value))


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    # nh3 has already dropped attributes outside ALLOWED_ATTRIBUTES and URLs outside URL_SCHEMES;
    # this narrows the values further.
    if attribute == "style":
        return clean_style(value)
    if tag == "img" and attribute == "src":
        return value if urlsplit(value.strip()).scheme.lower() in ("https", "http") else None
    if attribute in ("width", "height", "border", "cellpadding", "cellspacing", "colspan", "rowspan", "size"):
        return value if _DIMENSION.match(value) else None
    if attribute in ("bgcolor", "color"):
        return value if _COLOUR.match(value) else None
    return value


_CLEANER = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    clean_content_tags=REMOVED_WITH_CONTENT,
    attributes=ALLOWED_ATTRIBUTES,
    attribute_filter=_filter_attribute,
    url_schemes=URL_SCHEMES,
    url_relative="deny",
    strip_comments=True,
)


def sanitize_html(html_fragment: str) -> str:
    """Reduce HTML to tags, attributes, URL schemes and CSS that email clients accept and that run no code."""
    return _CLEANER.clean(html_fragment)


class _TolerantParser(HTMLParser):
    def parse_marked_section(self, i, report=True):
        # The standard library raises AssertionError on unknown `<![word[` sections; skip them instead.
        end = self.rawdata.find("]>", i + 3)
        return -1 if end < 0 else end + 2


class _Inspector(_TolerantParser):
    """Collects what the client checks need: tags, image attributes, style text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.css: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        self.tags.append((tag, attributes))
        if attributes.get("style"):
            self.css.append(attributes["style"])
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.css.append(data)


def markup_checks(html_fragment: str) -> list[str]:
    """Warnings about markup email clients break (layout, images, fonts, CSS), without the size check."""
    inspector = _Inspector()
    inspector.feed(html_fragment)
    inspector.close()
    tag_names = {tag for tag, _ in inspector.tags}
    warnings = []
    if "style" in tag_names:
        warnings.append(
            "The <style> block was turned into inline styles, because Gmail and Outlook drop or ignore "
            "most <style> rules."
        )
    if "link" in tag_names:
        warnings.append("External stylesheets (<link>) are removed: email clients do not load them.")
        hrefs = (attrs.get("href", "") for tag, attrs in inspector.tags if tag == "link")
        if any(_WEB_FONT_HOSTS.search(href) for href in hrefs):
            warnings.append(_WEB_FONTS)
    if inspector.tags and "table" not in tag_names:
        warnings.append(
            "The signature has no table layout: Outlook for Windows renders with Word and ignores most "
            "div and CSS layout, so build the signature from tables."
        )
    for tag in sorted(tag_names & {"script", "iframe", "form", "object", "embed", "svg", "video", "audio"}):
        warnings.append(f"<{tag}> is removed: email clients do not show or run it.")
    for tag, attributes in inspector.tags:
        if tag == "img":
            warnings.extend(_image_checks(attributes))
        if tag in ("td", "table", "body") and attributes.get("background"):
            warnings.append("Background images do not show in Outlook for Windows; use an <img> instead.")
    css_text = "\n".join(inspector.css)
    warnings.extend(message for pattern, message in _CSS_CLIENT_PROBLEMS if pattern.search(css_text))
    return list(dict.fromkeys(warnings))


def _image_checks(attributes: dict[str, str]) -> list[str]:
    src = attributes.get("src", "").strip()
    shown = src if len(src) <= 80 else src[:77] + "..."
    warnings = []
    if not src:
        warnings.append("An image has no address (src), so it shows as a broken image.")
    else:
        scheme = urlsplit(src).scheme.lower()
        if scheme == "http":
            warnings.append(f"The image {shown} loads over http: many clients block it; use https.")
        elif scheme == "data":
            warnings.append(
                "An image is embedded as a data: URL, which Gmail and Outlook block; host it and link it "
                "by https. It was removed."
            )
        elif scheme != "https":
            warnings.append(
                f"The image {shown} is not an absolute https address, so it cannot load in an email; "
                "it was removed."
            )
        if urlsplit(src).path.lower().endswith(".svg"):
            warnings.append(f"The image {shown} is an SVG, which Outlook and Gmail do not show; use PNG.")
    if not (attributes.get("width") and attributes.get("height")):
        warnings.append(
            f"The image {shown or '(no address)'} has no width and height attributes: Outlook shows it at "
            "its full natural size."
        )
    return warnings


def size_check(html_fragment: str) -> list[str]:
    """A warning when the HTML is over Gmail's 10,000-character signature limit."""
    if len(html_fragment) > GMAIL_LIMIT_CHARS:
        return [
            f"The signature is {len(html_fragment):,} characters of HTML; Gmail refuses signatures over "
            f"{GMAIL_LIMIT_CHARS:,} characters."
        ]
    return []


def email_client_checks(html_fragment: str) -> list[str]:
    """Everything a mail client would break in this HTML, each as one sentence for the editor."""
    return markup_checks(html_fragment) + size_check(html_fragment)


_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "tr", "td", "th", "table", "li", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
     "blockquote", "ul", "ol", "center", "caption"}
)  # fmt: skip
_LINK_PREFIXES = ("mailto:", "tel:", "https://", "http://")


class _TextWriter(_TolerantParser):
    """Writes visible text, one line per block or table cell, links as `label <url>`."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._link: tuple[str, int] | None = None  # (href, index in parts where the label starts)

    def handle_starttag(self, tag, attrs):
        if tag in REMOVED_WITH_CONTENT:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag == "a":
            self._link = (dict(attrs).get("href") or "", len(self.parts))

    def handle_startendtag(self, tag, attrs):
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in REMOVED_WITH_CONTENT:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag == "a" and self._link:
            href, start = self._link
            self._link = None
            label = " ".join("".join(self.parts[start:]).split())
            del self.parts[start:]
            self.parts.append(_link_text(label, href.strip()))

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(re.sub(r"\s+", " ", data))  # in HTML a newline in text is just a space


def _link_text(label: str, href: str) -> str:
    if not href:
        return label
    if not label:
        return href
    bare = href
    for prefix in _LINK_PREFIXES:
        if bare.lower().startswith(prefix):
            bare = bare[len(prefix) :]
            break
    if label.lower().rstrip("/") in (href.lower().rstrip("/"), bare.lower().rstrip("/")):
        return label
    if href.lower().startswith("tel:") and re.sub(r"\D", "", label) == re.sub(r"\D", "", bare):
        return label
    return f"{label} <{href}>"


def tidy_text(text: str) -> str:
    """Plain text with trailing spaces dropped and at most one blank line in a row; other spacing is kept."""
    lines = [line.rstrip() for line in text.replace("\xa0", " ").splitlines()]
    tidy: list[str] = []
    for line in lines:
        if line or (tidy and tidy[-1]):
            tidy.append(line)
    return "\n".join(tidy).strip()


def html_to_text(html_fragment: str) -> str:
    """Plain text of the HTML: blocks and table cells become lines, links `label <url>`, no tags."""
    writer = _TextWriter()
    writer.feed(html_fragment)
    writer.close()
    lines = (" ".join(line.replace("\xa0", " ").split()) for line in "".join(writer.parts).splitlines())
    return "\n".join(line for line in lines if line)
