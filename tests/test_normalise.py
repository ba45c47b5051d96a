"""URL canonicalisation, HTML-to-text and bounds."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

# The private readers are imported to check that the fast one matches lexbor.
from jobs.normalise import (
    ELLIPSIS,
    canonical_url,
    clean_title,
    content_hash,
    fold_whitespace,
    html_to_text,
    truncate,
)


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("https://kapital.example.kz/news/1", None, "https://kapital.example.kz/news/1"),
        ("  https://kapital.example.kz/news/1 \n", None, "https://kapital.example.kz/news/1"),
        ("HTTPS://Kapital.Example.KZ/News/1", None, "https://kapital.example.kz/News/1"),
        ("http://a.example.kz:80/x", None, "http://a.example.kz/x"),
        ("https://a.example.kz:443/x", None, "https://a.example.kz/x"),
        ("https://a.example.kz:8443/x", None, "https://a.example.kz:8443/x"),
        ("https://a.example.kz", None, "https://a.example.kz/"),
        ("https://a.example.kz/x#comments", None, "https://a.example.kz/x"),
        (
            "https://a.example.kz/x?utm_source=tg&id=5&utm_medium=social&p=2",
            None,
            "https://a.example.kz/x?id=5&p=2",
        ),
        (
            "https://a.example.kz/x?fbclid=1&gclid=2&yclid=3&mc_cid=4&mc_eid=5&_ga=6&igshid=7",
            None,
            "https://a.example.kz/x",
        ),
        # Parameter order is kept: it can matter to the site.
        ("https://a.example.kz/x?z=1&a=2", None, "https://a.example.kz/x?z=1&a=2"),
        # ref/ref_src/from are removed only when they name a channel.
        ("https://a.example.kz/x?ref=rss&id=1", None, "https://a.example.kz/x?id=1"),
        ("https://a.example.kz/x?ref_src=twsrc%5Etfw", None, "https://a.example.kz/x"),
        ("https://a.example.kz/x?from=yxnews", None, "https://a.example.kz/x"),
        ("https://a.example.kz/x?ref=v2.1", None, "https://a.example.kz/x?ref=v2.1"),
        ("https://a.example.kz/x?from=2024-01-01", None, "https://a.example.kz/x?from=2024-01-01"),
        (
            "/news/2?utm_campaign=x",
            "https://site.example.uz/feed/",
            "https://site.example.uz/news/2",
        ),
        ("news/2", "https://site.example.uz/feed/", "https://site.example.uz/feed/news/2"),
        ("//cdn.example.uz/a", "https://site.example.uz/", "https://cdn.example.uz/a"),
        ("https://мвд.example.kz/a", None, "https://xn--b1aew.example.kz/a"),
        (
            "https://a.example.kz/новости/тест",
            None,
            "https://a.example.kz/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8/%D1%82%D0%B5%D1%81%D1%82",
        ),
        ("https://a.example.kz/a%2fb%c3%a9", None, "https://a.example.kz/a%2Fb%C3%A9"),
        ("mailto:editor@example.kz", None, None),
        ("javascript:alert(1)", "https://a.example.kz/", None),
        ("ftp://files.example.kz/a", None, None),
        ("http://[broken", None, None),
        ("https://a.example.kz:99999/", None, None),
        ("", None, None),
        ("/relative/without/base", None, None),
    ],
)
def test_canonical_url(url: str, base: str | None, expected: str | None) -> None:
    assert canonical_url(url, base) == expected


def test_canonical_url_is_idempotent_on_examples() -> None:
    for url in [
        "https://a.example.kz/x?id=5&p=2",
        "https://a.example.kz/%D0%BD?q=%D1%82",
        "http://a.example.kz:8080/",
    ]:
        assert canonical_url(url) == url


_URL_PIECES = st.sampled_from([*"-._~'(!=&@ ", "a", "News", "2024", "%2f", "%C3%A9", "новости"])
_QUERY_PIECES = st.sampled_from(["id=5", "utm_source=rss", "ref=rss", "ref=abc", "from=2024"])
_QUERY_PIECES |= st.sampled_from(["q=солнце", "a b=c", "x", "", "p=%2f"])


@given(
    st.sampled_from(["http", "https"]),
    st.sampled_from(["kapital.example.kz", "a.example.uz", "x1-y.example"]),
    st.lists(st.lists(_URL_PIECES, max_size=4).map("".join), max_size=4).map("/".join),
    st.lists(_QUERY_PIECES, max_size=4).map("&".join),
    st.sampled_from(["", "#top", "#a?b"]),
)
def test_canonical_url_fast_path_agrees_with_the_general_one(
    scheme: str, host: str, path: str, query: str, fragment: str
) -> None:
    url = f"{scheme}://{host}/{path}" + (f"?{query}" if query else "") + fragment
    # An upper-case scheme is legal and takes the general (urlsplit) path.
    assert canonical_url(url) == canonical_url(scheme.upper() + url[len(scheme) :])


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("Plain words stay", "Plain words stay"),
        ("<p>Hello <b>Astana</b>!</p>", "Hello Astana!"),
        ("<p>One</p><p>Two</p>", "One Two"),
        ("Line<br>break", "Line break"),
        ("<ul><li>solar</li><li>wind</li></ul>", "solar wind"),
        ("a &amp; b", "a & b"),
        ("AT&amp;amp;T", "AT&amp;T"),  # decoded once, not twice
        ("&lt;b&gt;not a tag&lt;/b&gt;", "<b>not a tag</b>"),
        ("12&#37; &#8212; &#x2014; &laquo;x&raquo; &nbsp;y", "12% — — «x» y"),
        ("<script>track()</script>News<style>p{}</style>", "News"),
        ('<img src="https://px.example/t.gif" width="1" height="1">Text', "Text"),
        ("<noscript><img src=x></noscript><iframe src=v></iframe>Body", "Body"),
        ("<svg><text>logo</text></svg>Body", "Body"),
        ("  lots \n\t of   space\u00a0here  ", "lots of space here"),
        ("zero\u200bwidth soft\u00adhyphen", "zerowidth softhyphen"),
        ("", ""),
    ],
)
def test_html_to_text(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


def test_html_to_text_can_keep_paragraphs() -> None:
    html = "<p>First   paragraph.</p>\n\n<p>Second <b>one</b>.</p>"
    assert html_to_text(html, keep_paragraphs=True) == "First paragraph.\nSecond one."


def test_html_to_text_limit_cuts_at_a_word_boundary() -> None:
    text = html_to_text(
        "<p>Kazakhstan plans three new solar plants in Turkestan region</p>", limit=30
    )
    assert text == "Kazakhstan plans three new…"
    assert len(text) <= 30


def test_truncate() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("alpha beta gamma", 12) == "alpha beta…"
    assert truncate("alpha, beta gamma", 12) == "alpha, beta…"
    assert truncate("alpha, beta gamma", 8) == "alpha…"
    # One long word is cut inside rather than dropped.
    assert truncate("Supercalifragilistic", 8) == "Superca…"
    assert truncate("anything", 0) == ""


@given(st.text(max_size=400), st.integers(min_value=1, max_value=200))
def test_limit_is_always_respected(text: str, limit: int) -> None:
    out = html_to_text(text, limit=limit)
    assert len(out) <= limit
    assert out == out.strip()


@given(st.text(alphabet=st.characters(blacklist_characters="<&"), max_size=300))
def test_text_without_markup_only_folds_whitespace(text: str) -> None:
    assert html_to_text(text) == fold_whitespace(text)


_SPACES_AND_INVISIBLES = "ab Юж\n\t\r\x0b\x0c\x1c\x1f\x85\u00a0\u2009\u200b\u00ad\ufeff\x07\x9f"


@given(st.text(alphabet=_SPACES_AND_INVISIBLES, max_size=60))
def test_fold_whitespace_removes_invisibles_before_folding(text: str) -> None:
    # Paragraph mode removes invisibles the plain way: both modes must agree on words.
    paragraphs = fold_whitespace(text, keep_paragraphs=True)
    assert fold_whitespace(text) == " ".join(paragraphs.split())
    assert fold_whitespace("a\x1fb c\x85d e\u200bf") == "ab cd ef"


def test_clean_title() -> None:
    assert clean_title("  <b>Astana</b> Hub &amp; partners ") == "Astana Hub & partners"
    assert clean_title("Prices &lt; 5 tenge", is_html=False) == "Prices &lt; 5 tenge"
    long_title = "word " * 100
    cleaned = clean_title(long_title)
    assert len(cleaned) <= 300
    assert cleaned.endswith(ELLIPSIS)


def test_content_hash() -> None:
    first = content_hash("Title", "Summary", "")
    assert len(first) == 64
    assert first == content_hash("Title", "Summary", "")
    assert first != content_hash("Title", "Summary.", "")
    # Field boundaries matter: moving text between fields is an edit.
    assert content_hash("ab", "c", "") != content_hash("a", "bc", "")
    # Stored hashes must not change between versions: each text then a NUL byte.
    assert first == hashlib.sha256(b"Title\x00Summary\x00\x00").hexdigest()
