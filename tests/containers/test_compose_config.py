"""The CI override keeps every target inside the Compose project, and publishes only on loopback."""

from __future__ import annotations

from urllib.parse import urlsplit

import yaml

from .compose import DOCKER, compose_tool, run, run_env


def _rendered(tmp_path) -> dict:
    env_file = tmp_path / "ci.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in run_env("cfg", workers=2, users=4, run_time="5s").items()))
    out = run([*compose_tool(), "-f", str(DOCKER / "docker-compose.yml"), "-f", str(DOCKER / "compose.ci.yml"),
               "--env-file", str(env_file), "config"], cwd=DOCKER)
    return yaml.safe_load(out.stdout)


def test_ci_override_targets_only_the_projects_own_services(tmp_path):
    services = _rendered(tmp_path)["services"]
    for name in ("master", "worker"):
        env = services[name]["environment"]
        assert urlsplit(env["LOADKIT_HOST"]).hostname == "simulator", name
        assert urlsplit(env["LOADKIT_INFLUX_URL"]).hostname == "influxdb", name
        assert env["LOADKIT_INFLUX_DB"] == "llmload" and env["LOADKIT_INFLUX_OPTIONAL"] == "false"
        assert "network_mode" not in services[name]  # the project's own bridge network
    assert services["influxdb"]["image"] == "loadkit-influxdb1:local"
    for name, service in services.items():
        for port in service.get("ports", []):
            host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).split(":")[0]
            assert host_ip == "127.0.0.1", (name, port)
