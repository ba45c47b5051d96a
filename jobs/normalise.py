"""Pure text and URL normalisation for feed entries.

Everything here is a pure function of its arguments: no I/O, no clock. The feed
parser (:mod:`jobs.parse`) applies these to the few fields it keeps, so the
cost of cleaning is paid only for text the project actually stores.

Bounds (characters, after cleaning): :data:`TITLE_LIMIT`, :data:`SUMMARY_LIMIT`,
:data:`CONTENT_LIMIT`. Cut text ends at a word boundary with an ellipsis "…".
"""

from __future__ import annotations

import hashlib
import html as html_lib
import re
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser

TITLE_LIMIT = 300
SUMMARY_LIMIT = 600
CONTENT_LIMIT = 20_000
#: What a cut text ends with.
ELLIPSIS = "…"

# --------------------------------------------------------------------------- URLs

#: Query parameters that only ever identify a campaign or a click, never a resource.
_TRACKING_KEYS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "yclid",
        "ysclid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "igshid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "__twitter_impression",
    }
)
#: Parameters that are tracking only when their value names a channel (``ref=rss``);
#: with any other value (``ref=abc123``, ``from=2024``) they may select content.
_CHANNEL_KEYS = frozenset({"ref", "ref_src", "ref_url", "from"})
_CHANNEL_VALUES = frozenset(
    {
        "rss",
        "rss2",
        "feed",
        "feeds",
        "rssfeed",
        "atom",
        "twitter",
        "tw",
        "facebook",
        "fb",
        "telegram",
        "tg",
        "vk",
        "ok",
        "whatsapp",
        "instagram",
        "linkedin",
        "yandex",
        "yxnews",
        "dzen",
        "zen",
        "newsletter",
        "email",
        "mail",
        "share",
        "social",
        "push",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters left as they are in a path or query; everything else (spaces, Cyrillic
# slugs) is percent-encoded as UTF-8 so that both spellings of one URL compare equal.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = "/%:@!$'()*+,;=-._~?"
_SPACE = re.compile(r"\s")
_ABSOLUTE = re.compile(r"https?://", re.IGNORECASE)
_LOWER_ESCAPE = re.compile(r"%[0-9a-f][0-9A-Fa-f]|%[0-9A-F][a-f]")
# The shape of nearly every feed link: lower-case http(s), a plain lower-case host
# without port or user, a path made only of characters quote() keeps. For these
# urlsplit/hostname/port/quote/urlunsplit (about half the cost of a parsed entry's
# URL handling) all reduce to slicing; anything else takes the general path.
_SIMPLE_URL = re.compile(
    r"(https?)://([a-z0-9](?:[-a-z0-9.]*[a-z0-9])?)(/[-A-Za-z0-9/%:@!$&'()*+,;=._~]*)?"
    r"(?:\?([^#\s]*))?(?:#.*)?",
    re.ASCII | re.DOTALL,
)
# A host name (IDNA applied), IPv4 or IPv6 literal: "a b.example" or "a%20b" is not one.
_VALID_HOST = re.compile(r"[a-z0-9_](?:[-a-z0-9_.]*[a-z0-9_])?|[0-9a-f:.]+", re.ASCII)
# A query parameter that quote(part, safe=_QUERY_SAFE + "=") leaves unchanged.
_PLAIN_QUERY_PART = re.compile(r"[-A-Za-z0-9/%:@!$'()*+,;=._~?]*", re.ASCII)


def _upper_escapes(text: str) -> str:
    if "%" not in text:
        return text
    return _LOWER_ESCAPE.sub(lambda m: m.group(0).upper(), text)


def _is_tracking(key: str, value: str) -> bool:
    k = key.lower()
    if k.startswith("utm_") or k in _TRACKING_KEYS:
        return True
    if k in _CHANNEL_KEYS:
        v = value.lower()
        return v in _CHANNEL_VALUES or v.startswith(("twsrc", "rss"))
    return False


def _clean_query(query: str) -> str:
    kept: list[str] = []
    for part in query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        if _is_tracking(key, value):
            continue
        kept.append(
            part if _PLAIN_QUERY_PART.fullmatch(part) else quote(part, safe=_QUERY_SAFE + "=")
        )
    return _upper_escapes("&".join(kept))


def _ascii_host(host: str) -> str | None:
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def canonical_url(url: str, base: str | None = None) -> str | None:
    """The canonical absolute form of ``url``, or ``None`` when it is not a web URL.

    * relative references (``/news/1``, ``//host/x``) resolve against ``base``;
    * only ``http`` and ``https`` are accepted; anything else (``mailto:``,
      ``javascript:``, ``ftp:``, no host) gives ``None``;
    * scheme and host are lower-cased, an internationalised host becomes its IDNA
      (``xn--``) form, default ports and the fragment are dropped, an empty path
      becomes ``/``;
    * non-ASCII characters and spaces in the path and query are percent-encoded
      (UTF-8) and escapes are upper-cased, so two spellings of one URL compare equal;
    * tracking parameters (``utm_*``, ``fbclid``, ``gclid``, ``yclid``, ``mc_cid``,
      ``mc_eid``, ``_ga``, ``igshid``... and ``ref``/``ref_src``/``from`` when their
      value names a channel such as ``rss`` or ``twitter``) are removed; the other
      parameters keep their order and spelling.
    """
    text = url.strip()
    if not text:
        return None
    # The simple form is tried before the whitespace repair: a simple URL has no
    # whitespace before its fragment, and the repair would only touch the fragment.
    simple = _SIMPLE_URL.fullmatch(text)
    if simple is None and _SPACE.search(text):
        # Feeds sometimes wrap long links; a URL never contains a raw newline.
        text = re.sub(r"[\r\n\t]+", "", text).replace(" ", "%20")
        simple = _SIMPLE_URL.fullmatch(text)
    if simple is not None:
        scheme, host, path, query = simple.groups()
        path = _upper_escapes(path) if path else "/"
        query = _clean_query(query) if query else ""
        return f"{scheme}://{host}{path}?{query}" if query else f"{scheme}://{host}{path}"
    try:
        if base and not _ABSOLUTE.match(text):
            text = urljoin(base.strip(), text)
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            return None
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if not host:
        return None
    host = _ascii_host(host.rstrip("."))
    if not host or not _VALID_HOST.fullmatch(host):
        return None
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    if parts.username is not None:
        userinfo = parts.username
        if parts.password is not None:
            userinfo = f"{userinfo}:{parts.password}"
        netloc = f"{userinfo}@{netloc}"
    path = _upper_escapes(quote(parts.path, safe=_PATH_SAFE)) or "/"
    query = _clean_query(parts.query) if parts.query else ""
    return urlunsplit((scheme, netloc, path, query, ""))


# --------------------------------------------------------------------------- text

#: Elements whose content is never readable text (code, embeds, tracking pixels).
_DROP_TAGS = [
    "script",
    "style",
    "noscript",
    "iframe",
    "object",
    "embed",
    "svg",
    "math",
    "img",
    "picture",
    "video",
    "audio",
    "canvas",
    "template",
    "form",
    "button",
    "select",
    "head",
    # Raw-text and replaceable-text elements: their content is never parsed as markup,
    # so "<textarea><script>...</script></textarea>" would come out as literal
    # "<script>..." text if they were kept.
    "textarea",
    "title",
    "xmp",
    "plaintext",
    "noembed",
    "noframes",
    "frameset",
    "frame",
    "applet",
]
#: Markup of the dropped kinds still present in text *after* decoding: double-escaped
#: HTML (``&lt;script&gt;``) or a plain-text field carrying tags. Such text is parsed
#: once more so that scripts, styles, embeds and pixels never survive as literal text.
_UNSAFE_RESIDUE = re.compile(
    r"<\s*/?\s*(?:script|style|iframe|frame|frameset|object|embed|applet|img|svg|math|noscript"
    r"|template|textarea|title|xmp|plaintext|noembed|noframes|form|link|meta|base)[\s/>]",
    re.IGNORECASE,
)
# "<![CDATA[...]]>" inside an HTML field (a feed that wrapped its HTML twice) is a
# bogus comment to an HTML parser, which would swallow a tag and leak the rest.
_CDATA_SECTION = re.compile(r"<!\[CDATA\[(.*?)(?:\]\]>|$)", re.DOTALL)
# Block-level tags: their boundaries separate words ("<p>a</p><p>b</p>" is "a b",
# not "ab"). A newline is inserted before each opening or closing tag in the raw
# HTML, which is much cheaper than walking the tree in Python.
_BLOCK_TAG = re.compile(
    r"<(?=/?(?:p|div|br|hr|li|ul|ol|dl|dt|dd|h[1-6]|tr|td|th|table|thead|tbody|tfoot|caption"
    r"|blockquote|pre|section|article|aside|header|footer|nav|figure|figcaption|address"
    r"|main|details|summary)[\s/>])",
    re.IGNORECASE,
)
# Invisible characters that CMSs leak into titles: zero-width spaces and joiners,
# BOMs, soft hyphens, and C0/C1 controls other than whitespace.
_INVISIBLE = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_LINE_SPACE = re.compile(r"[^\S\n]+")
# The name of every start tag written in HTML (any case: HTML lower-cases ASCII letters).
_TAG_NAME = re.compile(r"<([A-Za-z][A-Za-z0-9]*)")
_PARAGRAPH_BREAK = re.compile(r"\s*\n\s*")


def fold_whitespace(text: str, *, keep_paragraphs: bool = False) -> str:
    """``text`` with invisible characters removed and whitespace runs folded.

    Every run of whitespace (including no-break and thin spaces) becomes one space;
    with ``keep_paragraphs`` a run containing a newline becomes one ``"\\n"``.
    """
    if not keep_paragraphs:
        folded = " ".join(text.split())
        # Scanning for invisibles with a regex costs as much as the folding itself.
        # Every character _INVISIBLE removes is unprintable, so a printable result
        # had none, unless it was one of the six that split() also treats as
        # whitespace (then removing it first joins the words around it instead).
        if folded.isprintable() and not (
            "\x0b" in text
            or "\x1c" in text
            or "\x1d" in text
            or "\x1e" in text
            or "\x1f" in text
            or "\x85" in text
        ):
            return folded
        return " ".join(_INVISIBLE.sub("", text).split())
    text = _INVISIBLE.sub("", text)
    text = _LINE_SPACE.sub(" ", text)
    return _PARAGRAPH_BREAK.sub("\n", text).strip()


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, ending in "…".

    Text within the limit is returned unchanged. A single word longer than most of
    the limit is cut mid-word rather than dropped.
    """
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    # Unless the cut already falls between words, go back to the last space.
    if not text[limit - 1].isspace():
        space = max(cut.rfind(" "), cut.rfind("\n"))
        if space >= limit // 2:
            cut = cut[:space]
    return cut.rstrip(" \n,;:-–—") + ELLIPSIS


def _lexbor_text(html: str) -> str:
    """The text of any HTML fragment, through lexbor (not yet whitespace-folded)."""
    if "<![CDATA[" in html:
        html = _CDATA_SECTION.sub(r"\1", html)
    tree = LexborHTMLParser(_BLOCK_TAG.sub("\n<", html))
    # Stripping costs a tree walk per tag name: only ask for the tags present. One
    # pass collects the tag names written in the HTML (a substring search per droppable
    # tag cost 8 times as much; lower-casing the names found costs less than the whole
    # HTML); "<imgx" is not an "img", so nothing is missed.
    written = {name.lower() for name in _TAG_NAME.findall(html)}
    present = [tag for tag in _DROP_TAGS if tag in written]
    if present:
        tree.strip_tags(present)
    root = tree.root
    return root.text(separator="") if root is not None else ""


def html_to_text(html: str, *, limit: int | None = None, keep_paragraphs: bool = False) -> str:
    """Readable plain text of an HTML fragment (or of plain text).

    Scripts, styles, embeds, forms and images (tracking pixels) are removed with
    their content; block elements (``p``, ``div``, ``br``, ``li``, headings...) separate
    words; character references are decoded exactly once, so ``&amp;amp;`` gives the
    literal ``&amp;``; whitespace is folded (see :func:`fold_whitespace`); with
    ``limit`` the text is cut at a word boundary (see :func:`truncate`).

    Text without ``<`` skips the HTML parser (entities are decoded directly).
    Markup of those removed kinds that appears only after decoding (double-escaped
    ``&lt;script&gt;``) is removed too: see :func:`strip_unsafe_markup`.
    """
    if "<" not in html:
        text = html_lib.unescape(html) if "&" in html else html
    else:
        text = _lexbor_text(html)
    text = strip_unsafe_markup(text)
    text = fold_whitespace(text, keep_paragraphs=keep_paragraphs)
    return truncate(text, limit) if limit is not None else text


def strip_unsafe_markup(text: str) -> str:
    """``text`` unchanged, unless it holds literal script, style, embed, frame, image or
    form markup: then it is read as HTML once more, so those elements go with their
    content and the other tags with them ("<b>x</b>" alone stays literal text).

    For decoded text and plain-text fields, which reach readers (and, escaped, Telegram)
    as they are: a feed that escapes its HTML twice must not show a script's source.
    """
    if "<" not in text or not _UNSAFE_RESIDUE.search(text):
        return text
    return _lexbor_text(text)


def clean_title(raw: str, *, is_html: bool = True, limit: int = TITLE_LIMIT) -> str:
    """A one-line plain-text title: HTML stripped, entities decoded, whitespace folded.

    ``is_html=False`` is for titles declared as plain text (Atom ``type="text"``):
    their ``<`` and ``&`` are literal characters, so only whitespace is folded (and
    script-like markup removed, see :func:`strip_unsafe_markup`).
    """
    text = html_to_text(raw) if is_html else fold_whitespace(strip_unsafe_markup(raw))
    return truncate(text, limit)


def content_hash(title: str, summary: str, content: str) -> str:
    """SHA-256 (hex) of the three stored texts: changes when an article is edited."""
    # Each text is followed by a separator that cannot occur in text, which keeps
    # ("ab", "c") apart from ("a", "bc"). One encode and one update: the same bytes
    # as hashing the six pieces in turn, with a third of the calls.
    data = f"{title}\x00{summary}\x00{content}\x00".encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()
