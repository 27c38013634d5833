"""docker/ and k8s/ validate, and their container command lines are loadkit.locust.commands' own."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from loadkit.locust.commands import (COMPOSE_LOCUSTFILE, K8S_LOCUSTFILE, master_command, simulator_command,
                                     worker_command)

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker" / "docker-compose.yml"
K8S = REPO / "k8s"
OVERLAYS = ["headless-ci", "webui"]
# The versions k8s/README.md names: the oldest still supported upstream-ish and the current
# release (kubernetes-validate 1.37 knows up to it).
KUBERNETES_VERSIONS = ("1.33.0", "1.37.0")


def _flag(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def _expected(argv: list[str]) -> list[str]:
    """What commands.py returns for the values written in ``argv`` (same role, same values)."""
    if argv[1:3] == ["-m", "loadkit.simulator"]:
        return simulator_command(bind=_flag(argv, "--host"), port=int(_flag(argv, "--port")),
                                 profile=_flag(argv, "--profile"))
    assert argv[1:3] == ["-m", "locust"], argv
    if "--worker" in argv:
        return worker_command(_flag(argv, "-f"), master_host=_flag(argv, "--master-host"),
                              master_port=int(_flag(argv, "--master-port")))
    assert "--master" in argv, argv
    return master_command(_flag(argv, "-f"), expect_workers=int(_flag(argv, "--expect-workers")),
                          users=int(_flag(argv, "-u")), spawn_rate=float(_flag(argv, "-r")),
                          run_time=_flag(argv, "-t"), host=_flag(argv, "--host"), headless="--headless" in argv,
                          stop_timeout_s=int(_flag(argv, "--stop-timeout")),
                          bind_port=int(_flag(argv, "--master-bind-port")))


def _tool(name: str, install: str) -> str:
    path = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(path).exists():
        pytest.fail(f"`{name}` is missing; install it: {install}")
    return path


@pytest.fixture(scope="module")
def compose() -> dict:
    exe = _tool("docker-compose", "apt-get install -y docker-compose")
    out = subprocess.run([exe, "-f", str(COMPOSE), "--env-file", str(COMPOSE.parent / ".env.example"), "config"],
                         capture_output=True, text=True)
    assert out.returncode == 0, f"docker-compose config rejected {COMPOSE}:\n{out.stderr}"
    return yaml.safe_load(out.stdout)


def _kustomize(path: Path) -> list[dict]:
    exe = _tool("kubectl", "apt-get install -y kubernetes-client")
    out = subprocess.run([exe, "kustomize", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, f"kubectl kustomize {path} failed:\n{out.stderr}"
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {name: _kustomize(K8S / "overlays" / name) for name in OVERLAYS} | {"base": _kustomize(K8S / "base")}


def _find(docs: list[dict], kind: str, name: str) -> dict:
    [doc] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def _container_command(doc: dict) -> list[str]:
    [container] = doc["spec"]["template"]["spec"]["containers"]
    return container["command"]


def test_compose_file_validates_and_runs_the_commands_of_the_tests(compose):
    services = compose["services"]
    assert set(services) >= {"master", "worker", "simulator", "influxdb", "grafana"}
    for name in ("master", "worker", "simulator"):
        argv = services[name]["command"]
        assert argv == _expected(argv), name
    master, worker = services["master"]["command"], services["worker"]["command"]
    assert _flag(master, "-f") == _flag(worker, "-f") == COMPOSE_LOCUSTFILE
    assert _flag(worker, "--master-host") == "master"
    assert _flag(master, "--expect-workers") == "2"  # .env.example WORKERS, the --scale default
    assert "--headless" in master


def test_compose_secrets_come_from_the_environment_not_the_image(compose):
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    # python:3.11-slim by default; docker/build-base.sh's Debian-built base where no registry answers
    assert dockerfile.startswith("#") and "ARG BASE_IMAGE=python:3.11-slim" in dockerfile
    assert "FROM ${BASE_IMAGE}" in dockerfile
    assert "API_KEY" not in "".join(l for l in dockerfile.splitlines() if not l.lstrip().startswith("#"))
    assert "USER 10001" in dockerfile and "requirements.lock" in dockerfile
    influx = compose["services"]["influxdb"]["environment"]
    assert influx["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert influx["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"] == compose["services"]["worker"]["environment"]["LOADKIT_INFLUX_TOKEN"]
    grafana_mounts = compose["services"]["grafana"]["volumes"]
    assert any(str(v).startswith(str(REPO / "docker" / "grafana" / "provisioning")) for v in grafana_mounts)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("target", ["base", *OVERLAYS])
def test_every_manifest_validates_against_kubernetes(rendered, target, version, tmp_path):
    exe = _tool("kubernetes-validate", "pip install kubernetes-validate")
    path = tmp_path / f"{target}.yaml"
    path.write_text(yaml.safe_dump_all(rendered[target]))
    out = subprocess.run([exe, "--strict", "--quiet", "-k", version, str(path)],
                         capture_output=True, text=True)
    assert out.returncode == 0, f"{target} on Kubernetes {version}: {out.stdout}{out.stderr}"


def test_k8s_readme_names_the_validated_versions():
    text = (K8S / "README.md").read_text()
    for version in KUBERNETES_VERSIONS:
        assert version.rsplit(".", 1)[0] in text, version


def test_k8s_commands_are_the_commands_of_the_tests(rendered):
    ci, webui = rendered["headless-ci"], rendered["webui"]
    job = _container_command(_find(ci, "Job", "loadkit-master"))
    ui = _container_command(_find(webui, "Deployment", "loadkit-master"))
    worker = _find(ci, "Deployment", "loadkit-worker")
    sim = _container_command(_find(ci, "Deployment", "loadkit-simulator"))
    for argv in (job, ui, _container_command(worker), sim):
        assert argv == _expected(argv)
    assert "--headless" in job and "--headless" not in ui
    assert not any(d["kind"] == "Job" for d in webui)
    # the master waits for exactly the workers the Deployment starts, at the Service's address
    assert int(_flag(job, "--expect-workers")) == worker["spec"]["replicas"]
    service = _find(ci, "Service", "loadkit-master")
    assert _flag(_container_command(worker), "--master-host") == service["metadata"]["name"]
    pod_labels = _find(ci, "Job", "loadkit-master")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert {p["port"] for p in service["spec"]["ports"]} == {5557, 8089}
    assert _flag(job, "-f") == K8S_LOCUSTFILE


def test_k8s_locustfile_configmap_is_the_packaged_locustfile(rendered):
    cm = _find(rendered["base"], "ConfigMap", "loadkit-locustfiles")
    assert cm["data"]["chat.py"] == (REPO / "loadkit" / "locustfiles" / "chat.py").read_text()


def test_k8s_api_key_only_from_the_secret(rendered):
    for doc in rendered["headless-ci"]:
        if doc["kind"] in ("Job", "Deployment") and doc["metadata"]["name"].startswith("loadkit-") \
                and doc["metadata"]["name"] != "loadkit-simulator":
            [container] = doc["spec"]["template"]["spec"]["containers"]
            [key] = [e for e in container["env"] if e["name"] == "LOADKIT_API_KEY"]
            assert key["valueFrom"]["secretKeyRef"]["name"] == "loadkit-secrets"
    settings = _find(rendered["base"], "ConfigMap", "loadkit-settings")
    assert not any("KEY" in k or "TOKEN" in k for k in settings["data"])
