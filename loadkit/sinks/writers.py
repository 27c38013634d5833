"""Where formatted lines go: InfluxDB 1.x ``/write``, InfluxDB 2/3 ``/api/v2/write``
(through influxdb-client's synchronous write API), or a line-protocol file.

A writer takes a batch of lines and either stores all of it or raises:
:class:`RetryableWriteError` (down, slow, 5xx, 429: try again later) or
:class:`RejectedWriteError` (4xx: the same batch will never be accepted).
Errors never carry the token. Writers are used by one flusher at a time.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from loadkit.settings import Settings, redact, secrets_of
from loadkit.errors import SinkError

__all__ = [
    "Writer",
    "InfluxV1Writer",
    "InfluxV2Writer",
    "FileWriter",
    "RetryableWriteError",
    "RejectedWriteError",
    "make_writer",
    "safe_url",
    "WRITE_TIMEOUT_S",
]

WRITE_TIMEOUT_S = 5.0


class RetryableWriteError(SinkError):
    """The target is down or slow; the batch may be written later."""


class RejectedWriteError(SinkError):
    """The target refused the batch (4xx); retrying cannot help."""


def safe_url(url: str) -> str:
    """``url`` without user info or query (it may carry credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class Writer:
    target = "file"
    url = ""

    def write(self, lines: list[str]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _v1_auth(token: str) -> tuple[dict[str, str], tuple[str, str] | None]:
    """``user:password`` is HTTP basic auth (every 1.x, and 2.x's v1 API);
    anything else is ``Authorization: Token`` (1.8+, 2.x, 3.x)."""
    if not token:
        return {}, None
    user, sep, password = token.partition(":")
    if sep and user:
        return {}, (user, password)
    return {"Authorization": f"Token {token}"}, None


def _classify(status: int, body: str, what: str, secrets: list[str]) -> SinkError:
    text = redact(" ".join(body.split())[:200], secrets)
    if status in (408, 429) or status >= 500:
        return RetryableWriteError(f"{what} answered HTTP {status}: {text}")
    return RejectedWriteError(f"{what} refused the write (HTTP {status}): {text}")


class InfluxV1Writer(Writer):
    """POST ``/write?db=<db>&precision=ns`` (InfluxDB 1.x API)."""

    target = "influx-v1"

    def __init__(self, settings: Settings, timeout_s: float = WRITE_TIMEOUT_S) -> None:
        self.url = safe_url(settings.influx_url)
        self.db = settings.influx_db or settings.influx_bucket
        headers, auth = _v1_auth(settings.influx_token)
        self._secrets = secrets_of(settings)
        # Used by the flusher only, never shared with users (DESIGN: transports).
        self._client = httpx.Client(
            base_url=settings.influx_url.rstrip("/"), headers=headers, auth=auth, timeout=timeout_s, trust_env=False
        )

    def write(self, lines: list[str]) -> None:
        body = ("\n".join(lines) + "\n").encode("utf-8")
        try:
            r = self._client.post("/write", params={"db": self.db, "precision": "ns"}, content=body)
        except httpx.HTTPError as exc:
            raise RetryableWriteError(f"InfluxDB {self.url} unreachable: {type(exc).__name__}") from None
        if r.status_code >= 300:
            raise _classify(r.status_code, r.text, f"InfluxDB {self.url}", self._secrets)

    def close(self) -> None:
        self._client.close()


class InfluxV2Writer(Writer):
    """InfluxDB 2/3 API through influxdb-client's synchronous write API.

    Not its batching WriteApi: that one flushes from a background scheduler
    that stalls the gevent loop (DESIGN.md). Its own retries are off: the
    sink retries with backoff and counts what it drops."""

    target = "influx-v2"

    def __init__(self, settings: Settings, timeout_s: float = WRITE_TIMEOUT_S) -> None:
        from influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.url = safe_url(settings.influx_url)
        self.bucket = settings.influx_bucket
        self.org = settings.influx_org or "-"
        self._secrets = secrets_of(settings)
        self._client = InfluxDBClient(
            url=settings.influx_url, token=settings.influx_token or None, org=self.org,
            timeout=int(timeout_s * 1000), retries=False, enable_gzip=False,
        )
        self._api = self._client.write_api(write_options=SYNCHRONOUS)

    def write(self, lines: list[str]) -> None:
        from influxdb_client.client.write_api import WritePrecision
        from influxdb_client.rest import ApiException

        body = "\n".join(lines)
        try:
            self._api.write(bucket=self.bucket, org=self.org, record=body, write_precision=WritePrecision.NS)
        except ApiException as exc:
            raise _classify(int(exc.status or 0) or 503, str(exc.body or exc.reason or ""),
                            f"InfluxDB {self.url}", self._secrets) from None
        except Exception as exc:  # urllib3 connect/read errors, timeouts
            raise RetryableWriteError(f"InfluxDB {self.url} unreachable: {type(exc).__name__}") from None

    def close(self) -> None:
        try:
            self._api.close()
        finally:
            self._client.close()


class FileWriter(Writer):
    """Appends the same line protocol to ``points.lp`` (replayable with ``loadkit report push``)."""

    target = "file"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.url = str(self.path)
        self._file = open(self.path, "a", encoding="utf-8")

    def write(self, lines: list[str]) -> None:
        try:
            self._file.write("\n".join(lines) + "\n")
            self._file.flush()
        except OSError as exc:
            raise RetryableWriteError(f"cannot write {self.path}: {exc.strerror}") from None

    def close(self) -> None:
        self._file.close()


def make_writer(settings: Settings, points_path: Path) -> Writer:
    """InfluxDB v2 when a bucket is set, 1.x when a database is, else the file."""
    if settings.influx_url and settings.influx_bucket and not settings.influx_db:
        return InfluxV2Writer(settings)
    if settings.influx_url:
        return InfluxV1Writer(settings)
    return FileWriter(points_path)
