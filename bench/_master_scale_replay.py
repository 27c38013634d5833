"""Light Locust workers for bench/master_scale.py: many per process, each a zmq client speaking the
worker side of Locust's protocol to a real master, replaying a recorded stats message every
report interval. They run no users and send no requests: the master's cost is all there is.

    python bench/_master_scale_replay.py HOST PORT COUNT RECORDED.msgpack PREFIX
"""

from __future__ import annotations

import sys
import time

import gevent
from gevent import monkey

monkey.patch_all()

from locust import __version__  # noqa: E402
from locust.rpc import Message, rpc  # noqa: E402

REPORT_INTERVAL_S = 3.0  # locust.runners.WORKER_REPORT_INTERVAL
HEARTBEAT_INTERVAL_S = 1.0


class ReplayWorker:
    def __init__(self, host: str, port: int, client_id: str, recorded: dict) -> None:
        self.client_id = client_id
        self.client = rpc.Client(host, port, client_id)
        self.recorded = recorded
        self.state = "ready"
        self.reporting = None
        self.quit = gevent.event.Event()

    def _stats(self, final: bool = False) -> dict:
        data = dict(self.recorded)
        snap = dict(data["loadkit"], worker=self.client_id, final=final, sent_at=time.time())
        data["loadkit"] = snap
        return data

    def heartbeat(self) -> None:
        while not self.quit.is_set():
            self.client.send(Message("heartbeat", {"state": self.state, "current_cpu_usage": 1.0,
                                                   "current_memory_usage": 50_000_000}, self.client_id))
            gevent.sleep(HEARTBEAT_INTERVAL_S)

    def report(self) -> None:
        while not self.quit.is_set():
            gevent.sleep(REPORT_INTERVAL_S)
            self.client.send(Message("stats", self._stats(), self.client_id))

    def listen(self) -> None:
        self.client.send(Message("client_ready", __version__, self.client_id))
        while not self.quit.is_set():
            msg = self.client.recv()
            if msg.type == "spawn":
                self.client.send(Message("spawning", None, self.client_id))
                counts = msg.data["user_classes_count"]
                self.client.send(Message("spawning_complete", {"user_classes_count": counts,
                                                               "user_count": sum(counts.values())}, self.client_id))
                self.state = "running"
                if self.reporting is None:
                    self.reporting = gevent.spawn(self.report)
            elif msg.type == "loadkit_flush":
                self.state = "stopped"
                self.client.send(Message("loadkit_final", self._stats(final=True)["loadkit"], self.client_id))
            elif msg.type == "stop":
                self.state = "ready"
                self.client.send(Message("client_stopped", None, self.client_id))
            elif msg.type == "quit":
                self.quit.set()


def main() -> int:
    host, port, count, path, prefix = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    with open(path, "rb") as fh:
        recorded = Message.unserialize(fh.read()).data
    workers = [ReplayWorker(host, port, f"{prefix}-{i}", recorded) for i in range(count)]
    greenlets = [gevent.spawn(w.listen) for w in workers] + [gevent.spawn(w.heartbeat) for w in workers]
    gevent.joinall([g for g in greenlets[:count]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
