"""Markdown a person writes, as HTML safe to show in the web app and in an email (issue 17, ADR 0031).

Two well-kept libraries, each doing one job: markdown-it-py renders CommonMark (plus tables and
strikethrough) with raw HTML disabled, so markup typed into the text shows as text; nh3 (ammonia)
sanitises the result against an allow-list of tags, attributes and URL schemes, so whatever the renderer
lets through (a `javascript:` link, an attribute) cannot run. One allow-list for every service: the
courses service stores what `to_html` answers, and the notifications service cleans it again with
`sanitise` before it goes into an email.
"""

import html
import re

import nh3
from markdown_it import MarkdownIt

TAGS = frozenset(
    {
        "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "img",
        "li", "ol", "p", "pre", "s", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})

_BLOCK_END = re.compile(r"</(?:p|h[1-6]|pre|blockquote|ul|ol|table)>")
_markdown = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def sanitise(markup: str) -> str:
    """`markup` with only allowed tags, attributes and URL schemes; links get rel=noopener noreferrer."""
    return nh3.clean(markup, tags=set(TAGS), attributes=ATTRIBUTES, url_schemes=set(URL_SCHEMES))


def to_html(markdown: str) -> str:
    """Markdown rendered and sanitised."""
    return sanitise(_markdown.render(markdown))


def to_text(safe_html: str) -> str:
    """The plain text of sanitised HTML (an email's text part): tags dropped, entities decoded, blank
    lines collapsed."""
    # A blank line after each block, as a reader of plain text expects between paragraphs.
    spaced = _BLOCK_END.sub(lambda end: end.group(0) + "\n", safe_html)
    text = html.unescape(nh3.clean(spaced, tags=set()))
    lines = [line.rstrip() for line in text.splitlines()]
    kept: list[str] = []
    for line in lines:
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept).strip()
