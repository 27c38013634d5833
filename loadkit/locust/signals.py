"""SIGTERM and Ctrl-C to a plain `locust` master or single process: stop like the end of --run-time.

Locust's own handling ends a live run at once: SIGTERM (`docker stop`, Kubernetes, `timeout`) runs Locust's
shutdown, which fires ``quitting`` while users are still sending; Ctrl-C raises KeyboardInterrupt in the main
greenlet, which then does the same. Either way ``quitting`` is where loadkit first sees a run that is still
live, so that is where it stops it the way --run-time's end does (:func:`drain`): users stop and in-flight
requests get --stop-timeout (a master first collects its workers' final snapshots, as at any stop); then
the hooks write summary, JUnit and report marked interrupted, and Locust exits with the summary's code,
143 (SIGTERM) or 130 (SIGINT). A second signal while that drains finishes at once with what has ended.

`loadkit run` keeps signals to itself and asks for the same stop through its stop file
(loadkit.locust.stopfile); its second signal reaches Locust as SIGTERM and also finishes at once.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time

import gevent
from locust.runners import STATE_CLEANUP, STATE_RUNNING, STATE_SPAWNING, STATE_STOPPING, MasterRunner

__all__ = ["install", "leave_sigint_to_master", "before_finish", "after_finish", "is_live"]

log = logging.getLogger("loadkit")

_FINISH_WAIT_S = 60.0  # the summary, JUnit and report of a big run take seconds, not minutes
_KILL_WAIT_S = 2.0  # a killed user records its cut request at once; this only bounds a stuck one


class _State:
    """This process's signals (one runtime per process)."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.draining = False
        self.finished = False  # a quitting is finishing the run (Locust may fire quitting twice)
        self.done = False  # ... and has written it


_STATE = _State()


def install(rt, runner) -> None:
    """Note every SIGTERM/SIGINT (Locust still handles them: its SIGTERM watcher and KeyboardInterrupt)."""
    _STATE.received.clear()
    _STATE.draining = _STATE.finished = _STATE.done = False
    gevent.signal_handler(signal.SIGTERM, _note, rt, runner, "SIGTERM")
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return  # SIGINT ignored (or handled) by whoever started us: leave it so
    hub = gevent.get_hub()

    def on_sigint(_signum, _frame) -> None:
        _note(rt, runner, "SIGINT")
        if _STATE.finished:
            return  # the run is being written and Locust exits right after: nothing left to stop
        # Python's default raises KeyboardInterrupt wherever the handler runs, mostly in the hub, which
        # prints it as a traceback before passing it on; the main greenlet is where Locust (and a drain)
        # expects it, so it is thrown there, from the hub's next callback.
        hub.loop.run_callback(hub.parent.throw, KeyboardInterrupt)

    signal.signal(signal.SIGINT, on_sigint)


def leave_sigint_to_master(environment) -> None:
    """A worker forked by ``locust --processes N`` (no ``--worker``): leave the first SIGINT to the master.

    A terminal's Ctrl-C goes to the whole process group, the forked workers too, and a worker that quits on it
    sends no final report: its requests since the last 3 s report were lost. Its master drains on the same
    Ctrl-C and has it stop its users and report, as at any stop. SIGTERM still ends a worker as before. Not
    for ``--worker --processes N`` (workers of a master elsewhere; their parent leaves Ctrl-C to them)."""
    options = getattr(environment, "parsed_options", None)
    if not getattr(options, "processes", None):
        return
    worker_asked = "--worker" in sys.argv or os.environ.get("LOCUST_MODE_WORKER", "").lower() in ("1", "true")
    if not worker_asked and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        def first_to_master(_signum, _frame) -> None:  # a second Ctrl-C (the master's "at once") ends it too
            signal.signal(signal.SIGINT, signal.default_int_handler)

        signal.signal(signal.SIGINT, first_to_master)


def _note(rt, runner, name: str) -> None:
    _STATE.received.append(name)
    if is_live(runner):
        rt.run_interrupted = True
    if rt.stop_signal is None and (is_live(runner) or _STATE.draining):
        rt.stop_signal = name


def is_live(runner) -> bool:
    return runner is not None and runner.state in (STATE_RUNNING, STATE_SPAWNING)


def before_finish(rt, environment) -> str | None:
    """At ``quitting`` of a master or local process, before the run is finished there (a web UI run that
    is drained here is written at its ``test_stop``, as after a Stop).

    Returns None when this ``quitting`` must not finish the run (another one has), "cut" when the run is
    finished at once (a second signal: users were killed, their in-flight requests are "interrupted";
    a master's workers then send no final report), else "finish"."""
    runner = environment.runner
    if _STATE.finished:
        _wait_finished()
        return None
    gevent.sleep(0)  # let the signal watchers that are due note their signal first
    cut = False
    if _STATE.draining:
        if len(_STATE.received) < 2:  # the run's own end came during the drain: let the drain complete
            try:
                while _STATE.draining:
                    gevent.sleep(0.05)
            except KeyboardInterrupt:
                pass
        cut = _STATE.draining
    elif is_live(runner):
        cut = not drain(rt, environment)
    elif _STATE.received and runner is not None and runner.state in (STATE_CLEANUP, STATE_STOPPING):
        cut = True  # a signal while a stop drains (`loadkit run`'s second signal, forwarded as SIGTERM)
    if _STATE.finished:
        _wait_finished()
        return None
    if cut:
        log.warning("loadkit: second signal: finishing at once with the requests that ended")
        _kill_users(runner)
    _STATE.finished = True
    return "cut" if cut else "finish"


def after_finish() -> None:
    """The run's summary is written: a ``quitting`` waiting in :func:`before_finish` may go on (and exit)."""
    _STATE.done = True


def _wait_finished() -> None:
    """Hold this ``quitting`` until the one finishing the run has written it: Locust exits right after."""
    deadline = time.monotonic() + _FINISH_WAIT_S
    try:
        while not _STATE.done and time.monotonic() < deadline:
            gevent.sleep(0.05)
    except KeyboardInterrupt:
        pass  # a signal after the stop began: the finish under way is what there is


def drain(rt, environment) -> bool:
    """Stop the live run as the end of --run-time does; False when a second Ctrl-C cut it short.

    Not ``runner.quit()``: that kills the runner greenlet, which Locust's main greenlet waits on, and a
    second shutdown would race this one; Locust's own shutdown quits the runner after ``quitting``."""
    runner = environment.runner
    if rt.stop_signal is None and _STATE.received:
        rt.stop_signal = _STATE.received[0]
    rt.run_interrupted = True
    log.info("loadkit: %s received: stopping users (in-flight requests get --stop-timeout %gs; signal again "
             "to stop at once)", rt.stop_signal or "a stop", environment.stop_timeout or 0)
    _STATE.draining = True
    try:
        if isinstance(runner, MasterRunner):
            # As MasterRunner.quit does: test_stopping has the workers stop their users and send final
            # snapshots; Locust's shutdown then sends them quit.
            runner.stop(send_stop_to_client=False)
        else:
            runner.stop()
        return True
    except KeyboardInterrupt:
        return False
    finally:
        _STATE.draining = False


def _kill_users(runner) -> None:
    """Kill this process's users now: each in-flight request is recorded as "interrupted" (user.py)."""
    if runner is None or isinstance(runner, MasterRunner):
        return  # a master has no users: Locust's shutdown sends its workers quit
    runner.user_greenlets.kill(block=True, timeout=_KILL_WAIT_S)
