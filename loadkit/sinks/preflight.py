"""``check_influx``: prove before any load that InfluxDB takes our writes.

An empty write exercises everything a real one needs (reachable, token
accepted, database or bucket exists, write permission) without storing a
point: InfluxDB 1.x answers 204, 2.x answers 400 "writing requires points"
only after it has authorised the token and found the bucket.
"""

from __future__ import annotations

import httpx

from loadkit.settings import Settings, redact, secrets_of
from loadkit.errors import SinkError
from loadkit.sinks.writers import _v1_auth, safe_url

__all__ = ["check_influx"]

TIMEOUT_S = 5.0


def _is_v2(settings: Settings) -> bool:
    return bool(settings.influx_bucket) and not settings.influx_db


def check_influx(settings: Settings, timeout_s: float = TIMEOUT_S) -> None:
    """Return None when InfluxDB accepts writes; otherwise raise SinkError with one line (never the token)."""
    if not settings.influx_url:
        return
    url = safe_url(settings.influx_url)
    secrets = secrets_of(settings)
    v2 = _is_v2(settings)
    if v2:
        headers = {"Authorization": f"Token {settings.influx_token}"} if settings.influx_token else {}
        auth = None
        path = "/api/v2/write"
        params = {"org": settings.influx_org or "-", "bucket": settings.influx_bucket, "precision": "ns"}
        where = f"bucket {settings.influx_bucket!r} (org {settings.influx_org!r})"
        fix = "create it (influx bucket create) or set LOADKIT_INFLUX_BUCKET / LOADKIT_INFLUX_ORG"
        token_hint = "check LOADKIT_INFLUX_TOKEN (needs write access to the bucket)"
    else:
        headers, auth = _v1_auth(settings.influx_token)
        path = "/write"
        params = {"db": settings.influx_db, "precision": "ns"}
        where = f"database {settings.influx_db!r}"
        fix = f"create it (CREATE DATABASE \"{settings.influx_db}\") or set LOADKIT_INFLUX_DB"
        token_hint = "check LOADKIT_INFLUX_TOKEN (1.x: user:password)"
    try:
        with httpx.Client(base_url=settings.influx_url.rstrip("/"), headers=headers, auth=auth,
                          timeout=timeout_s, trust_env=False) as client:
            r = client.post(path, params=params, content=b"")
    except httpx.HTTPError as exc:
        raise SinkError(
            f"InfluxDB at {url} is unreachable ({type(exc).__name__}); start it, fix LOADKIT_INFLUX_URL, "
            "or pass --influx-optional to continue with the file sink"
        ) from None
    body = redact(" ".join(r.text.split())[:160], secrets)
    status = r.status_code
    if status < 300:
        return
    if status == 400 and "requires points" in r.text:
        return
    if status in (401, 403):
        raise SinkError(f"InfluxDB at {url} rejected the token (HTTP {status}); {token_hint}")
    if status == 404:
        raise SinkError(f"InfluxDB at {url} has no {where}; {fix}")
    raise SinkError(f"InfluxDB at {url} refused a test write to {where} (HTTP {status}: {body})")
