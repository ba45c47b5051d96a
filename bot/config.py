"""Reading and validating the TOML configuration file.

:func:`load_config` is the only way settings enter the program. A file that cannot be
used raises :class:`ConfigError` naming the file, the key and the reason, so start-up
stops with a message an operator can act on. Secrets may come from the environment
(``STEPPE_TELEGRAM_TOKEN``, ``STEPPE_DATABASE_URL``) and never appear in messages.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

TOKEN_ENV = "STEPPE_TELEGRAM_TOKEN"  # noqa: S105 (a variable name, not a secret)
DATABASE_URL_ENV = "STEPPE_DATABASE_URL"
DEFAULT_CONFIG_NAME = "config.toml"
EXAMPLE_CONFIG_NAME = "config.example.toml"

Language = Literal["en", "ru", "kk", "uz"]
Country = Literal["kz", "uz", "kg", "tj", "tm", "az"]
PositiveFloat = Annotated[float, Field(gt=0)]


class ConfigError(Exception):
    """The configuration cannot be used. ``str()`` reads ``file: key: reason``."""

    def __init__(self, file: str, key: str | None, reason: str) -> None:
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {reason}")
        self.file = file
        self.key = key
        self.reason = reason


#: The shortest ``[collection] keep_days`` other than 0 (for ever).
_MIN_KEEP_DAYS = 7


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TelegramConfig(_Section):
    token: SecretStr = SecretStr("")
    api_base_url: str = "https://api.telegram.org"
    admins: tuple[int, ...] = ()
    poll_timeout: Annotated[int, Field(ge=0, le=50)] = 30
    """Seconds one getUpdates long poll may wait (long polling mode)."""
    webhook_url: str = ""
    """Public HTTPS URL for webhook mode; empty means long polling."""
    webhook_listen: str = "127.0.0.1"
    webhook_port: Annotated[int, Field(ge=1, le=65535)] = 8443
    webhook_secret: SecretStr = SecretStr("")
    """Checked on every webhook request (Telegram's X-Telegram-Bot-Api-Secret-Token)."""

    @field_validator("api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _require_http_url(value)

    @field_validator("webhook_url")
    @classmethod
    def _https_url(cls, value: str) -> str:
        if value and urlsplit(value).scheme != "https":
            raise ValueError("must be an https:// URL (Telegram posts only to HTTPS)")
        return value


class DatabaseConfig(_Section):
    url: SecretStr = SecretStr("")


class CollectionConfig(_Section):
    interval_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 30
    max_connections: Annotated[int, Field(ge=1, le=256)] = 16
    max_per_host: Annotated[int, Field(ge=1, le=16)] = 2
    connect_timeout: PositiveFloat = 10.0
    read_timeout: PositiveFloat = 30.0
    total_timeout: PositiveFloat = 120.0
    max_body_bytes: Annotated[int, Field(ge=1024)] = 10_000_000
    max_redirects: Annotated[int, Field(ge=0, le=20)] = 5
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    backoff_seconds: Annotated[float, Field(ge=0)] = 1.0
    max_retry_after: Annotated[float, Field(ge=0)] = 60.0
    max_backoff_hours: PositiveFloat = 6.0
    max_refresh_hint_hours: Annotated[float, Field(ge=0, le=24)] = 2.0
    """Longest wait a feed's own hints (HTTP caching headers, RSS ``<ttl>``) may add to
    ``interval_minutes``; 0 ignores them."""
    user_agent: Annotated[str, Field(min_length=1)] = (
        "SteppeDigest/0.1 (+https://github.com/steppe-digest/steppe-digest; RSS collector)"
    )
    max_entries_per_feed: Annotated[int, Field(ge=1, le=10_000)] = 500
    story_window_hours: PositiveFloat = 48.0
    workers: Annotated[int, Field(ge=0, le=32)] = 1
    keep_days: Annotated[int, Field(ge=0, le=36_500)] = 0
    """Days the archive keeps an article after its publication; 0: for ever."""

    @field_validator("keep_days")
    @classmethod
    def _keep_a_week(cls, value: int) -> int:
        # A digest looks back up to 7 days (digest.max_window_hours): it must find them.
        if 0 < value < _MIN_KEEP_DAYS:
            raise ValueError(f"must be 0 (keep every article) or at least {_MIN_KEEP_DAYS}")
        return value


class DigestConfig(_Section):
    """What a digest holds (``[digest]``)."""

    max_per_topic: Annotated[int, Field(ge=1, le=20)] = 5
    first_window_hours: Annotated[float, Field(gt=0, le=168)] = 24.0
    """How far back a chat's first digest looks."""
    max_window_hours: Annotated[float, Field(gt=0, le=168)] = 48.0
    """How far back any digest looks, however long since the last one."""
    quiet_day: Literal["note", "silent"] = "note"
    """When nothing is new: a short note, or no message at all."""


class DeliveryConfig(_Section):
    """How digests are sent (``[delivery]``)."""

    messages_per_second: Annotated[float, Field(gt=0, le=1000)] = 30.0
    """Overall sending rate; Telegram allows about 30/s, 1000/s with paid broadcasts."""
    chat_interval_seconds: Annotated[float, Field(ge=0, le=60)] = 1.0
    group_messages_per_minute: Annotated[int, Field(ge=1, le=60)] = 20
    grace_hours: Annotated[float, Field(ge=0, le=24)] = 6.0
    """Digests due longer ago than this (the service was down) are skipped, recorded."""
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    backoff_seconds: Annotated[float, Field(gt=0)] = 2.0
    max_backoff_seconds: Annotated[float, Field(gt=0)] = 120.0
    max_flood_wait_seconds: Annotated[float, Field(ge=0)] = 60.0
    """A longer 429 wait gives the digest back to the ledger instead of holding it."""
    lease_seconds: Annotated[float, Field(ge=30)] = 300.0
    batch: Annotated[int, Field(ge=1, le=10_000)] = 200
    request_timeout: PositiveFloat = 10.0


class MetricsConfig(_Section):
    """The operator's HTTP endpoint (``[metrics]``): ``/metrics`` and ``/healthz``."""

    enabled: bool = False
    listen: str = "127.0.0.1"
    """Address to listen on; keep it private (loopback, or a monitoring network)."""
    port: Annotated[int, Field(ge=1, le=65535)] = 9464
    late_after_minutes: Annotated[float, Field(ge=0, le=24 * 60)] = 15.0
    """A digest sent this long after its due time counts as late."""


class AlertsConfig(_Section):
    """Messages to ``telegram.admins`` about feeds that keep failing (``[alerts]``)."""

    enabled: bool = True
    feed_failing_hours: Annotated[float, Field(gt=0, le=24 * 30)] = 24.0
    """A feed failing this long is reported once, and once again when it recovers."""


class FeedConfig(_Section):
    key: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
    name: Annotated[str, Field(min_length=1, max_length=100)]
    url: str
    language: Language | None = None
    country: Country
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _require_http_url(value)


class Settings(_Section):
    """The whole validated configuration."""

    data_dir: Path = Path("data")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    """``text``: key=value (logfmt) lines; ``json``: one JSON object per line."""
    telegram: TelegramConfig = TelegramConfig()
    database: DatabaseConfig = DatabaseConfig()
    collection: CollectionConfig = CollectionConfig()
    digest: DigestConfig = DigestConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    metrics: MetricsConfig = MetricsConfig()
    alerts: AlertsConfig = AlertsConfig()
    classifier: dict[str, Any] = Field(default_factory=dict)
    feeds: tuple[FeedConfig, ...] = ()
    source: str = Field(default="<defaults>", exclude=True)
    """Where the settings came from (a path), for messages."""

    @property
    def database_url(self) -> str:
        """The database URL, defaulting to a SQLite file inside :attr:`data_dir`."""
        url = self.database.url.get_secret_value()
        if url:
            return url
        return f"sqlite:///{(self.data_dir / 'steppe.db').as_posix()}"


def _require_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    return value


def default_config_path(cwd: Path | None = None) -> Path | None:
    """``./config.toml`` if present, else the shipped ``config.example.toml``, else None."""
    local = (cwd or Path.cwd()) / DEFAULT_CONFIG_NAME
    if local.is_file():
        return local
    example = Path(__file__).resolve().parent.parent / EXAMPLE_CONFIG_NAME
    return example if example.is_file() else None


def load_config(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read, validate and complete the settings.

    ``path`` None means :func:`default_config_path`. Environment overrides apply after
    the file. A relative ``data_dir`` is resolved against the file's directory.
    Raises :class:`ConfigError` with the file, key and reason.
    """
    env = os.environ if environ is None else environ
    if path is None:
        path = default_config_path()
    raw: dict[str, Any] = {}
    file_label = str(path) if path is not None else "<defaults>"
    if path is not None:
        raw = _read_toml(path)
    _apply_environment(raw, env)
    try:
        settings = Settings.model_validate({**raw, "source": file_label})
    except ValidationError as exc:
        error = exc.errors()[0]
        key = _dotted(error["loc"])
        raise ConfigError(file_label, key or None, _reason(error)) from None
    _check_unique_feeds(settings)
    base = path.resolve().parent if path is not None else Path.cwd()
    if not settings.data_dir.is_absolute():
        settings = settings.model_copy(update={"data_dir": base / settings.data_dir})
    return settings


def _check_unique_feeds(settings: Settings) -> None:
    for field_name in ("key", "url"):
        seen: dict[str, int] = {}
        for index, feed in enumerate(settings.feeds):
            value = getattr(feed, field_name)
            if value in seen:
                raise ConfigError(
                    settings.source,
                    f"feeds[{index}].{field_name}",
                    f"{value!r} is already used by feeds[{seen[value]}]",
                )
            seen[value] = index


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(str(path), None, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), None, f"cannot read the file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), None, f"not valid TOML: {exc}") from None


def _apply_environment(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    for variable, (section, key) in {
        TOKEN_ENV: ("telegram", "token"),
        DATABASE_URL_ENV: ("database", "url"),
    }.items():
        value = env.get(variable, "").strip()
        if value:
            table = raw.setdefault(section, {})
            if isinstance(table, dict):
                table[key] = value


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _reason(error: Mapping[str, Any]) -> str:
    message = str(error["msg"])
    if error.get("type") == "extra_forbidden":
        return "unknown setting (check the spelling against config.example.toml)"
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    # Never echo a secret back: inputs are only shown for non-secret settings.
    loc = tuple(error.get("loc", ()))
    secret = "token" in loc or "webhook_secret" in loc or loc[:2] == ("database", "url")
    if not secret:
        value = error.get("input")
        if isinstance(value, str | int | float | bool) and not isinstance(value, dict):
            message += f" (got {value!r})"
    return message
