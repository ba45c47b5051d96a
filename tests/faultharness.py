"""Fault injection for ``tests/test_faults.py``: the real CLI killed, servers that fail.

* :class:`Cli` runs ``steppe --config PATH ...`` (``bot.cli.main``) in a process of its
  own, optionally with its clock pinned (``STEPPE_TEST_NOW``, see
  :data:`bot.wiring.TEST_CLOCK_VARIABLE`); :meth:`CliRun.kill` SIGKILLs it.
* :class:`FaultyBotApi` is the fake Bot API that can SIGKILL the process talking to it
  right after accepting its n-th message and before answering (the one window the
  README admits a duplicate for), and answer every ``sendMessage`` with 429, 5xx or a
  hang while a fake clock is inside an outage.
* :class:`CountingFeedServer` is the loopback feed server whose requests can be waited
  for (to kill or disturb a collection once it is under way).
* :func:`rss` writes the feeds.

Every wait is bounded; nothing here sleeps to let time pass except where the point is a
random moment (a seeded one, so runs repeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any, Self

from bot.fake_api import FakeBotApi
from bot.fake_api.server import ApiError
from tests.feedserver import FeedServer, LoggedRequest

#: Longest any one CLI run may take in these tests before it counts as hung.
RUN_TIMEOUT = 60.0

_ROOT = Path(__file__).resolve().parent.parent


#: The ``steppe`` console script is ``bot.cli:main``. This process imports it once and
#: then, for each order (a JSON line on stdin: arguments, pinned clock, log files),
#: forks a child that runs ``main(argv)`` and nothing else: a real ``steppe`` process
#: with its own database connections, event loop and sockets, killed with SIGKILL by
#: pid, without paying the interpreter's ~1 s start-up per kill. It reports the child's
#: pid, then its exit code (negative: the signal), as JSON lines on stdout.
_FORK_SERVER = """
import json, os, sys, traceback
from bot.cli import main
while line := sys.stdin.readline():
    order = json.loads(line)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            os.environ.pop("STEPPE_TEST_NOW", None)
            if order["now"]:
                os.environ["STEPPE_TEST_NOW"] = order["now"]
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            os.dup2(os.open(order["out"], flags, 0o644), 1)
            os.dup2(os.open(order["err"], flags, 0o644), 2)
            sys.stdin = open(os.devnull)
            code = main(order["argv"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    print(json.dumps({"pid": pid}), flush=True)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)
"""


class CliRun:
    """One ``steppe`` process (a child of the :class:`Cli`'s fork server)."""

    def __init__(self, cli: Cli, pid: int, out_path: Path, err_path: Path) -> None:
        self._cli = cli
        self.pid = pid
        self.out_path = out_path
        self.err_path = err_path
        self.returncode: int | None = None
        """The exit code once it ended; negative: the signal that ended it."""

    @property
    def exited(self) -> bool:
        if self.returncode is None:
            self.returncode = self._cli._exit_code(timeout=0.0)
        return self.returncode is not None

    def kill(self) -> bool:
        """SIGKILL the process; False when it had already exited by itself."""
        if self.exited:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        return self.wait() == -signal.SIGKILL

    def wait(self, timeout: float = RUN_TIMEOUT) -> int:
        """The exit code (negative: the signal); kills the process after ``timeout``."""
        if self.returncode is None:
            self.returncode = self._cli._exit_code(timeout=timeout)
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.returncode = self._cli._exit_code(timeout=RUN_TIMEOUT)
            raise AssertionError(f"steppe hung for {timeout} s:\n{self.output}")
        return self.returncode

    @property
    def output(self) -> str:
        out = self.out_path.read_text(encoding="utf-8", errors="replace")
        err = self.err_path.read_text(encoding="utf-8", errors="replace")
        return f"--- exit {self.returncode}\n--- stdout\n{out}--- stderr\n{err}"


class Cli:
    """Runs ``steppe --config CONFIG ...`` processes one at a time, each logged to files.

    A context manager: the fork server is stopped on exit.
    """

    def __init__(self, config: Path, logs: Path) -> None:
        self.config = config
        self.logs = logs
        self.runs = 0
        logs.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("STEPPE_")}
        with (logs / "fork-server.err").open("wb") as err:
            self._server = subprocess.Popen(
                [sys.executable, "-c", _FORK_SERVER],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
                cwd=_ROOT,
            )
        self._current: CliRun | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._current is not None and not self._current.exited:
            self._current.kill()
        assert self._server.stdin is not None
        self._server.stdin.close()  # no more orders: it exits
        self._server.wait(timeout=RUN_TIMEOUT)
        assert self._server.stdout is not None
        self._server.stdout.close()

    def start(self, *args: str, now: datetime | None = None) -> CliRun:
        """Start ``steppe ARGS``, its clock starting at ``now`` (None: the real clock).
        The previous run must have ended."""
        assert self._current is None or self._current.returncode is not None
        self.runs += 1
        out_path = self.logs / f"run-{self.runs:03d}.out"
        err_path = self.logs / f"run-{self.runs:03d}.err"
        order = {
            "argv": ["--config", str(self.config), *args],
            "now": now.isoformat() if now is not None else None,
            "out": str(out_path),
            "err": str(err_path),
        }
        assert self._server.stdin is not None
        self._server.stdin.write(json.dumps(order).encode() + b"\n")
        self._server.stdin.flush()
        answer = self._read(RUN_TIMEOUT)
        assert answer is not None, "the fork server did not start a run"
        self._current = CliRun(self, int(answer["pid"]), out_path, err_path)
        return self._current

    def run(self, *args: str, now: datetime | None = None) -> CliRun:
        """Start and wait for a run that must exit by itself."""
        run = self.start(*args, now=now)
        run.wait()
        return run

    def _exit_code(self, timeout: float) -> int | None:
        answer = self._read(timeout)
        return None if answer is None else int(answer["code"])

    def _read(self, timeout: float) -> dict[str, Any] | None:
        stdout = self._server.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], timeout)
        if not ready:
            return None
        line = stdout.readline()
        if not line:
            err = (self.logs / "fork-server.err").read_text(encoding="utf-8", errors="replace")
            raise AssertionError(f"the fork server died:\n{err}")
        answer: dict[str, Any] = json.loads(line)
        return answer


class FastClock:
    """Fake time that runs ``speed`` times faster than real time.

    Waiting (``sleep``) takes ``1/speed`` of the time it stands for, and so does
    everything else, concurrently, as in production: a minute of outage passes in
    0.6 s at the default speed, a 0.1 s request timeout stands for 10 s, and chats
    backing off at once overlap instead of adding up (which a clock moved on by each
    ``sleep`` would make them do). ``jump`` skips idle time between scheduler ticks.
    """

    def __init__(self, start: datetime, speed: float = 100.0) -> None:
        self.speed = speed
        self._start = start
        self._began = time.monotonic()
        self._skipped = timedelta(0)

    def __call__(self) -> datetime:
        elapsed = timedelta(seconds=(time.monotonic() - self._began) * self.speed)
        return self._start + self._skipped + elapsed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0) / self.speed)

    def jump(self, to: datetime) -> None:
        """Move on to ``to`` at once (nothing happens in between)."""
        gap = to - self()
        if gap > timedelta(0):
            self._skipped += gap


@dataclass
class Outage:
    """Every ``sendMessage`` fails while the fake clock is before ``until``."""

    kind: str
    """``"429"`` (flood control with ``retry_after``), ``"5xx"`` or ``"hang"`` (held
    unanswered until the client gives up)."""
    until: datetime
    retry_after: int = 5


class FaultyBotApi(FakeBotApi):
    """The fake Bot API with two more faults: a kill in the accept window, and outages
    timed by a fake clock."""

    def __init__(self, *, clock: Callable[[], datetime] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock = clock
        self.accepted = 0
        """``sendMessage`` calls accepted (recorded as sent) so far."""
        self.refused: Counter[str] = Counter()
        """``sendMessage`` calls refused by an :class:`Outage`, by kind."""
        self._kill_at: tuple[int, int] | None = None
        self._outage: Outage | None = None
        server = self._server
        default = server.handle_error

        def handle_error(request: Any, client_address: Any) -> None:
            # A killed client resets its connections: expected here, not worth a traceback.
            if not isinstance(sys.exc_info()[1], ConnectionError):
                default(request, client_address)

        server.handle_error = handle_error  # type: ignore[method-assign]

    def kill_after(self, count: int, pid: int) -> None:
        """SIGKILL ``pid`` once ``count`` messages were accepted in all: after recording
        the ``count``-th and before answering it."""
        with self._lock:
            self._kill_at = (count, pid)

    def disarm(self) -> None:
        with self._lock:
            self._kill_at = None

    def outage(self, outage: Outage | None) -> None:
        with self._lock:
            self._outage = outage

    def wait_accepted(self, count: int, timeout: float = RUN_TIMEOUT) -> bool:
        """Wait until ``count`` messages were accepted; False after ``timeout``."""
        with self._lock:
            return self._lock.wait_for(lambda: self.accepted >= count, timeout)

    def wait_call(self, method: str, count: int = 1, timeout: float = RUN_TIMEOUT) -> bool:
        """Wait until ``method`` was called ``count`` times in all; False after ``timeout``."""
        with self._lock:
            return self._lock.wait_for(
                lambda: sum(name == method for name, _ in self.requests) >= count, timeout
            )

    def handle(self, token: str, method: str, params: dict[str, Any]) -> Any:
        sending = token == self.token and method.lower() == "sendmessage"
        if sending:
            self._refuse_in_outage()
        result = super().handle(token, method, params)
        if sending:
            with self._lock:
                self.accepted += 1
                self._lock.notify_all()
                kill = self._kill_at is not None and self.accepted >= self._kill_at[0]
                pid = self._kill_at[1] if self._kill_at is not None else 0
                if kill:
                    self._kill_at = None
            if kill:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        return result

    def _refuse_in_outage(self) -> None:
        with self._lock:
            outage = self._outage
            now = self.clock() if self.clock is not None else None
            if outage is None or now is None or now >= outage.until:
                return
            self.refused[outage.kind] += 1
        if outage.kind == "429":
            raise ApiError(
                429, f"Too Many Requests: retry after {outage.retry_after}", outage.retry_after
            )
        if outage.kind == "5xx":
            raise ApiError(502, "Bad Gateway")
        # A hang: held until the client (its timeout is short) is long gone.
        with self._lock:
            self._lock.wait_for(lambda: self._closed, timeout=2.0)
        raise ApiError(502, "Bad Gateway")


class CountingFeedServer(FeedServer):
    """A :class:`FeedServer` whose request count can be waited for."""

    def __init__(self) -> None:
        super().__init__()
        self._arrived = threading.Condition()
        self.count = 0

    def _log(self, entry: LoggedRequest) -> None:
        super()._log(entry)
        with self._arrived:
            self.count += 1
            self._arrived.notify_all()

    def wait_requests(self, count: int, timeout: float = RUN_TIMEOUT) -> bool:
        """Wait until ``count`` requests arrived in all; False after ``timeout``."""
        with self._arrived:
            return self._arrived.wait_for(lambda: self.count >= count, timeout)


@dataclass(frozen=True)
class Item:
    guid: str
    link: str
    title: str
    published: datetime


def rss(items: Sequence[Item], *, title: str) -> bytes:
    """An RSS 2.0 document of ``items``."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>https://outlet.example/</link>",
    ]
    for item in items:
        parts.append(
            f"<item><guid>{escape(item.guid)}</guid><link>{escape(item.link)}</link>"
            f"<title>{escape(item.title)}</title>"
            f"<pubDate>{format_datetime(item.published)}</pubDate>"
            f"<description>{escape(item.title)}. Details follow.</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


def children(pid: int) -> dict[int, str]:
    """The processes whose parent is ``pid`` (Linux ``/proc``): pid -> command line."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                found[int(entry.name)] = (entry / "cmdline").read_text().replace("\0", " ")
        except (OSError, ValueError, IndexError):
            continue  # ended while we looked
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` is still running (a zombie counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
