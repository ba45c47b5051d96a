"""Robustness run: every file of ``../shared/feeds-wild`` collected from loopback.

Serves each file listed in the corpus's ``manifest.tsv`` from a loopback HTTP server
(in a child process, so it does not share the collector's GIL), with the response
header the manifest records for it (a ``Content-Type`` with a charset matters for the
encoding cases; files without one are served without a Content-Type at all, as the
original suites parsed them with no HTTP information). One feed is configured per file
and one real collection (:class:`jobs.collect.Collector`: fetch, parse, normalise,
classify, store into a fresh SQLite archive) runs under a time limit.

Reported:

* files tried, files giving articles, files giving a recorded per-feed error (by kind);
* crashes (must be 0): the run raising, or a feed failing through one of the
  collector's safety nets (``internal error``, ``could not parse``, ``could not store``,
  a dead parser process) instead of a reason of its own;
* hangs (must be 0): feeds with no outcome when the time limit ran out;
* unsafe or garbled stored text (must be 0): markup or script residue (``<script``,
  ``javascript:``, ``<iframe``, ``onerror=``...) in a stored title/summary/content, an
  article URL that is not http(s), a U+FFFD replacement character in a file the
  corpus does not describe as undecodable;
* a text pass over every entry of every file, linked or not (most of the corpus's
  sanitizer cases have entries without links, which the collector rightly skips):
  each title, summary and content the raw reader finds goes through the project's
  cleaning (:func:`jobs.normalise.clean_title`, :func:`jobs.normalise.html_to_text`)
  and must come out without script, style, frame, embed or image residue;
* total time and peak memory (max RSS of this process and of the parser worker).

The JSON goes to ``bench/results/wild_feeds.json``. Exit status 0 only when crashes,
hangs and unsafe text are all zero and every file gave articles or a recorded error.

    python -m bench.wild_feeds [--corpus ../shared/feeds-wild] [--time-limit 300]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import csv
import logging
import multiprocessing
import re
import resource
import sqlite3
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import feedparser

from bench.report import write_figures
from jobs.classify import Classifier, load_rules
from jobs.collect import Collector, CollectSettings, FeedReport, FeedStatus
from jobs.fetch import FetchSettings
from jobs.normalise import clean_title, html_to_text
from storage import FeedSpec, Store

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "feeds-wild"

#: Error texts that mean a safety net caught an exception: a crash, not a reason.
CRASH_PREFIXES = (
    "internal error",
    "could not parse the feed",
    "could not store",
    "the parser process died",
)
#: (kind, pattern) in order: the first matching pattern names a recorded error's kind.
ERROR_KINDS = (
    ("empty_body", re.compile(r"^empty body")),
    ("html_page", re.compile(r"^not a feed: the server returned an HTML page")),
    ("not_a_feed", re.compile(r"^not a feed")),
    ("malformed_xml", re.compile(r"^malformed XML")),
    ("no_usable_entries", re.compile(r"^no usable entries")),
    ("unsafe_xml", re.compile(r"^unsafe XML")),
    ("http_status", re.compile(r"^HTTP \d")),
    ("timeout", re.compile(r"did not finish|timed out")),
    ("too_large", re.compile(r"exceeds .* bytes|too many entries")),
    ("crash", re.compile("^(?:" + "|".join(re.escape(p) for p in CRASH_PREFIXES) + ")")),
)
#: Residue of markup that must never reach stored text (case-insensitive).
UNSAFE_TEXT = re.compile(
    r"<\s*/?\s*(?:script|style|iframe|object|embed|img|svg|form|meta|link|a|div|p|span)\b"
    r"|javascript\s*:|vbscript\s*:|\bon(?:error|load|click|mouseover)\s*=|expression\s*\(",
    re.IGNORECASE,
)
MOJIBAKE = re.compile("\ufffd")
#: What a script's or style's *content* looks like in the corpus's sanitizer cases.
SCRIPT_CONTENT = re.compile(r"alert\s*\(|document\.|window\.|\{\s*[a-z-]+\s*:", re.IGNORECASE)


def text_pass(corpus: Path, files: list[WildFile]) -> tuple[int, list[dict[str, str]]]:
    """Clean every raw title/summary/content of every file; return (texts, findings)."""
    checked = 0
    findings: list[dict[str, str]] = []
    for f in files:
        body = (corpus / f.path).read_bytes()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
        values: list[tuple[str, str]] = []
        feed_title = parsed.feed.get("title")
        if isinstance(feed_title, str):
            values.append(("feed title", clean_title(feed_title)))
        for entry in parsed.entries:
            for name in ("title",):
                if isinstance(entry.get(name), str):
                    values.append((name, clean_title(entry[name])))
            if isinstance(entry.get("summary"), str):
                values.append(("summary", html_to_text(entry["summary"])))
            for content in entry.get("content") or ():
                if isinstance(content.get("value"), str):
                    values.append(("content", html_to_text(content["value"])))
        for name, value in values:
            checked += 1
            if match := UNSAFE_TEXT.search(value) or SCRIPT_CONTENT.search(value):
                start = max(match.start() - 40, 0)
                findings.append(
                    {"file": f.path, "field": name, "value": value[start : start + 120]}
                )
    return checked, findings


@dataclass(frozen=True)
class WildFile:
    index: int
    path: str
    category: str
    headers: tuple[tuple[str, str], ...]
    description: str

    @property
    def key(self) -> str:
        return f"wild{self.index:03d}"

    @property
    def url_path(self) -> str:
        return f"/{self.index:03d}/{self.path}"


def load_manifest(corpus: Path) -> list[WildFile]:
    with (corpus / "manifest.tsv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    files: list[WildFile] = []
    for index, row in enumerate(rows):
        headers: list[tuple[str, str]] = []
        raw = (row.get("http_headers") or "").strip()
        if raw:
            name, _, value = raw.partition(":")
            headers.append((name.strip(), value.strip()))
        files.append(
            WildFile(
                index=index,
                path=row["path"],
                category=row["category"],
                headers=tuple(headers),
                description=row.get("description") or "",
            )
        )
    return files


def serve(routes: dict[str, tuple[bytes, list[tuple[str, str]]]], port_queue: Any) -> None:
    """Serve ``routes`` (path -> body, headers) forever (child process)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            found = routes.get(self.path)
            if found is None:
                self.send_error(404)
                return
            body, headers = found
            self.send_response(200)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_queue.put(server.server_address[1])
    server.serve_forever()


class _Outcomes(logging.Handler):
    """Records which feeds reached an outcome (the collector logs one line per feed)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.keys: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("feed="):
            self.keys.add(message.split()[0].removeprefix("feed="))


def error_kind(error: str) -> str:
    for kind, pattern in ERROR_KINDS:
        if pattern.search(error):
            return kind
    return "other"


def rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds for the run")
    parser.add_argument("--workers", type=int, default=1, help="parse/classify processes")
    parser.add_argument("--json", type=Path, default=Path("bench/results/wild_feeds.json"))
    parser.add_argument("--verbose", action="store_true", help="list every file's outcome")
    args = parser.parse_args(argv)

    files = load_manifest(args.corpus)
    routes = {f.url_path: ((args.corpus / f.path).read_bytes(), list(f.headers)) for f in files}
    print(f"{len(files)} files from {args.corpus}")

    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    server = context.Process(target=serve, args=(routes, ports), daemon=True)
    server.start()
    port = ports.get(timeout=30)

    outcomes = _Outcomes()
    logging.getLogger("jobs.collect").addHandler(outcomes)
    logging.getLogger("jobs.collect").setLevel(logging.INFO)
    logging.getLogger("jobs.collect").propagate = False

    reports: dict[str, FeedReport] = {}
    run_error: str | None = None
    timed_out = False
    with tempfile.TemporaryDirectory() as scratch:
        db_path = Path(scratch) / "wild.db"
        store = Store.open(f"sqlite:///{db_path}")
        store.sync_feeds(
            [
                FeedSpec(
                    key=f.key,
                    name=f.path,
                    url=f"http://127.0.0.1:{port}{f.url_path}",
                    language=None,
                    country="kz",
                )
                for f in files
            ]
        )
        settings = CollectSettings(
            fetch=FetchSettings(
                max_connections=16,
                max_per_host=16,
                retries=0,
                connect_timeout=5,
                read_timeout=10,
                total_timeout=20,
            ),
            workers=args.workers,
        )
        started = time.perf_counter()
        with Collector(store, Classifier(load_rules()), settings, clock=lambda: NOW) as collector:

            async def limited() -> None:
                report = await asyncio.wait_for(collector.run(force=True), args.time_limit)
                reports.update({r.key: r for r in report.feeds})

            try:
                asyncio.run(limited())
            except TimeoutError:
                timed_out = True
            except Exception as exc:  # the run itself must never raise: count it
                run_error = f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - started
        worker_peak = rss_mb(resource.RUSAGE_CHILDREN)
        states = {s.spec.key: s for s in store.feed_states(enabled_only=False)}
        store.close()
        with sqlite3.connect(db_path) as db:
            rows = db.execute(
                "SELECT f.key, a.url, a.title, a.summary, a.content"
                " FROM articles a JOIN feeds f ON f.id = a.feed_id"
            ).fetchall()
    server.terminate()
    server.join()

    articles: collections.Counter[str] = collections.Counter()
    unsafe: list[dict[str, str]] = []
    replacement: list[str] = []
    for key, url, title, summary, content in rows:
        articles[key] += 1
        if not re.match(r"https?://", url):
            unsafe.append({"feed": key, "field": "url", "value": url[:200]})
        for field_name, value in (("title", title), ("summary", summary), ("content", content)):
            if value and (match := UNSAFE_TEXT.search(value)):
                start = max(match.start() - 40, 0)
                unsafe.append(
                    {"feed": key, "field": field_name, "value": value[start : start + 120]}
                )
            if value and MOJIBAKE.search(value):
                replacement.append(key)

    texts_checked, text_findings = text_pass(args.corpus, files)
    by_key = {f.key: f for f in files}
    with_articles: list[str] = []
    errors: collections.Counter[str] = collections.Counter()
    crashes: list[dict[str, str]] = []
    hangs: list[str] = []
    no_outcome: list[str] = []
    empty_ok: list[str] = []
    unrecorded: list[str] = []
    details: list[dict[str, Any]] = []
    for f in files:
        report = reports.get(f.key)
        state = states.get(f.key)
        if report is None:
            if f.key not in outcomes.keys:
                hangs.append(f.path)
            continue
        outcome: dict[str, Any] = {"file": f.path, "status": report.status.value}
        if report.status is FeedStatus.FAILED:
            kind = error_kind(report.error or "")
            outcome.update(kind=kind, error=report.error)
            errors[kind] += 1
            if kind == "crash":
                crashes.append({"file": f.path, "error": report.error or ""})
            if state is None or not state.last_error:
                unrecorded.append(f.path)
        elif articles[f.key]:
            outcome["articles"] = articles[f.key]
            with_articles.append(f.path)
        else:
            # A valid feed document with no entries at all (an empty channel): success, 0 new.
            outcome["skipped"] = report.skipped
            outcome["warnings"] = list(report.warnings)
            empty_ok.append(f.path)
        details.append(outcome)
    if run_error:
        crashes.append({"file": "(the whole run)", "error": run_error})
    if timed_out:
        no_outcome = hangs[:]

    # U+FFFD is expected only where the corpus describes undecodable bytes.
    expected_fffd = {"encoding"}
    garbled = sorted(
        {
            by_key[k].path
            for k in replacement
            if k in by_key
            and by_key[k].category not in expected_fffd
            and "invalid" not in by_key[k].description.lower()
        }
    )

    main_peak = rss_mb()
    peak = main_peak + (worker_peak if args.workers else 0)
    figures: dict[str, Any] = {
        "files_tried": len(files),
        "files_with_articles": len(with_articles),
        "files_with_recorded_error": sum(errors.values()),
        "errors_by_kind": dict(sorted(errors.items())),
        "files_valid_but_no_articles": len(empty_ok),
        "articles_stored": sum(articles.values()),
        "crashes": len(crashes),
        "hangs": len(hangs),
        "errors_not_recorded_in_health": len(unrecorded),
        "unsafe_text": len(unsafe),
        "garbled_text_files": len(garbled),
        "text_pass_values_checked": texts_checked,
        "text_pass_unsafe": len(text_findings),
        "total_seconds": round(seconds, 2),
        "time_limit_seconds": args.time_limit,
        "timed_out": timed_out,
        "peak_rss_mb": round(peak, 1),
        "main_rss_mb": round(main_peak, 1),
        "worker_rss_mb": round(worker_peak, 1),
        "workers": args.workers,
        "python": sys.version.split()[0],
        "crash_list": crashes,
        "hang_list": hangs,
        "no_articles_list": empty_ok,
        "unrecorded_list": unrecorded,
        "unsafe_list": unsafe[:50],
        "garbled_list": garbled,
        "text_pass_unsafe_list": text_findings[:50],
        "files": details,
    }
    print(f"files tried:                  {len(files):6d}")
    print(
        f"  gave articles:              {len(with_articles):6d}  ({sum(articles.values())} stored)"
    )
    print(
        f"  gave a recorded error:      {sum(errors.values()):6d}  {dict(sorted(errors.items()))}"
    )
    print(f"  valid feed with no entries: {len(empty_ok):6d}  (recorded as fetched, 0 new)")
    print(f"crashes:                      {len(crashes):6d}  (must be 0)")
    print(f"hangs:                        {len(hangs):6d}  (must be 0)")
    print(f"errors missing from health:   {len(unrecorded):6d}  (must be 0)")
    print(f"unsafe stored text / URLs:    {len(unsafe):6d}  (must be 0)")
    print(
        f"text pass: unsafe residue:   {len(text_findings):6d}  (must be 0; "
        f"{texts_checked} raw titles/summaries/contents cleaned)"
    )
    print(f"files with U+FFFD in text:    {len(garbled):6d}  (outside undecodable-bytes cases)")
    print(f"total time:                   {seconds:8.2f} s (limit {args.time_limit:g} s)")
    print(
        f"peak memory (max RSS):        {peak:8.1f} MB (main {main_peak:.0f} MB + worker "
        f"{worker_peak:.0f} MB)"
    )
    if args.verbose or crashes or hangs or unsafe or unrecorded or text_findings:
        for item in text_findings[:50]:
            print(f"  TEXT  {item['file']} {item['field']}: {item['value']!r}")
        for item in crashes:
            print(f"  CRASH {item['file']}: {item['error']}")
        for path in hangs:
            print(f"  HANG  {path}")
        for item in unsafe[:50]:
            print(f"  UNSAFE {item['feed']} {item['field']}: {item['value']!r}")
        for path in unrecorded:
            print(f"  UNRECORDED {path}")
    if args.verbose:
        for item in details:
            print(f"  {item}")
    write_figures(args.json, figures)
    ok = not (crashes or hangs or unsafe or unrecorded or no_outcome or text_findings)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
