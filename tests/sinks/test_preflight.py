"""check_influx: one clear line, never the token, before any load."""

from __future__ import annotations

import pytest

from loadkit.settings import Settings
from loadkit.errors import SinkError
from loadkit.sinks import check_influx
from tests.support.servers import InfluxServer, VictoriaMetricsServer, free_port, influx  # noqa: F401

TOKEN = "admin:s3cret-pass-XYZ"


@pytest.fixture(scope="module")
def influx_auth(tmp_path_factory):
    server = InfluxServer(tmp_path_factory.mktemp("influxd-auth"), auth=True).start()
    server.query("CREATE USER admin WITH PASSWORD 's3cret-pass-XYZ' WITH ALL PRIVILEGES")
    server.create_db("llm", auth=("admin", "s3cret-pass-XYZ"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def victoria_auth(tmp_path_factory):
    server = VictoriaMetricsServer(tmp_path_factory.mktemp("vm-auth"), basic_auth=("u", "p")).start()
    yield server
    server.stop()


def _error(settings) -> str:
    with pytest.raises(SinkError) as info:
        check_influx(settings)
    message = str(info.value)
    assert "\n" not in message
    for secret in ("s3cret", "wrong-pass", "v2-t0ken"):
        assert secret not in message
    return message


def test_nothing_to_check_without_an_influx_url():
    check_influx(Settings())


def test_unreachable_influx_is_one_line():
    message = _error(Settings(influx_url=f"http://127.0.0.1:{free_port()}", influx_db="llm", influx_token=TOKEN))
    assert "unreachable" in message and "--influx-optional" in message


def test_wrong_password_on_an_auth_enabled_influxd(influx_auth):
    message = _error(Settings(influx_url=influx_auth.url, influx_db="llm", influx_token="admin:wrong-pass"))
    assert "rejected the token" in message and "401" in message


def test_right_password_passes(influx_auth):
    check_influx(Settings(influx_url=influx_auth.url, influx_db="llm", influx_token=TOKEN))


def test_missing_database_is_named(influx_auth):
    message = _error(Settings(influx_url=influx_auth.url, influx_db="nope", influx_token=TOKEN))
    assert "no database 'nope'" in message and "CREATE DATABASE" in message


def test_missing_database_without_auth(influx):
    assert "no database 'absent'" in _error(Settings(influx_url=influx.url, influx_db="absent"))


def test_wrong_token_on_the_v2_api(victoria_auth):
    message = _error(Settings(influx_url=victoria_auth.url, influx_bucket="b", influx_org="o", influx_token="v2-t0ken"))
    assert "rejected the token" in message and "LOADKIT_INFLUX_TOKEN" in message


def test_v2_api_accepting_writes_passes(tmp_path):
    server = VictoriaMetricsServer(tmp_path).start()
    try:
        check_influx(Settings(influx_url=server.url, influx_bucket="b", influx_org="o", influx_token="v2-t0ken"))
    finally:
        server.stop()
