"""Workers in their own network namespaces: their traffic really crosses a (veth) interface."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.simproc import start_simulator

from .harness import DistributedRun

pytestmark = pytest.mark.slow


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _rx_bytes(ifname: str) -> int:
    return int(Path(f"/sys/class/net/{ifname}/statistics/rx_bytes").read_text())


@pytest.fixture
def worker_namespaces():
    """Two namespaces, each joined to the root namespace by a veth pair on its own /30.

    Yields [(namespace, host-side interface, host address, namespace address)];
    always deleted again, also when the test fails."""
    if shutil.which("ip") is None:
        pytest.fail("the `ip` command is missing: apt-get install -y iproute2")
    tag = os.getpid() % 10000
    octet = 100 + os.getpid() % 100  # 10.<octet>.0.0/29: unlikely to meet a parallel run's
    made: list[str] = []
    nets = []
    try:
        for i in range(2):
            ns, host_if, ns_if = f"lk{tag}w{i}", f"lk{tag}h{i}", f"lk{tag}n{i}"
            host_addr, ns_addr = f"10.{octet}.0.{4 * i + 1}", f"10.{octet}.0.{4 * i + 2}"
            _ip("netns", "add", ns)
            made.append(ns)
            _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
            _ip("link", "set", ns_if, "netns", ns)
            _ip("addr", "add", f"{host_addr}/30", "dev", host_if)
            _ip("link", "set", host_if, "up")
            _ip("-n", ns, "addr", "add", f"{ns_addr}/30", "dev", ns_if)
            _ip("-n", ns, "link", "set", ns_if, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "route", "add", "default", "via", host_addr)
            nets.append((ns, host_if, host_addr, ns_addr))
        yield nets
    finally:
        for ns in made:  # deleting a namespace deletes its veth end, and with it the pair
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_workers_in_network_namespaces_merge_exactly(worker_namespaces, tmp_path):
    (ns0, if0, addr0, _), (ns1, if1, addr1, _) = worker_namespaces
    # Master and simulator listen on every host-side address (one per worker /30).
    with start_simulator("--host", "0.0.0.0", "--profile", "fixed", "--fixed", "ttft_ms=30,itl_ms=5,tokens=8") as sim:
        port = sim.port
        run = DistributedRun(tmp_path, "netns-2w", f"http://{addr0}:{port}/v1")
        rx_before = {if0: _rx_bytes(if0), if1: _rx_bytes(if1)}
        try:
            run.start_master(expect_workers=2, users=6, run_time="6s", bind="0.0.0.0")
            run.start_worker(master_host=addr0, prefix=["ip", "netns", "exec", ns0],
                             host=f"http://{addr0}:{port}/v1")
            run.start_worker(master_host=addr1, prefix=["ip", "netns", "exec", ns1],
                             host=f"http://{addr1}:{port}/v1")
            code = run.wait_master(90)
        finally:
            run.stop_all()
        served = sim.stats()
    assert code == 0, run.master.log()[-3000:]
    summary = run.assert_served_exactly(served, min_attempts=50)
    nodes = summary["workers"]["nodes"]
    assert len(nodes) == 2 and all(n["final"] and n["requests"] > 0 for n in nodes.values())
    # each worker's requests (a few hundred bytes each) came in over its own veth
    for ifname in (if0, if1):
        assert _rx_bytes(ifname) - rx_before[ifname] > 200 * min(n["requests"] for n in nodes.values())
