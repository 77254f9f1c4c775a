"""A deadline for a cluster to come up (--strategy multi-worker).

TensorFlow's MultiWorkerMirroredStrategy() waits until every worker of
TF_CONFIG has joined, inside C++ and holding Python's global lock, for as long
as it takes: a worker that never starts (a wrong address, a machine that is
down) leaves the others waiting for ever, deaf to Ctrl-C and SIGTERM, whose
Python handlers (and any Python thread) could run only once the wait returns.
So a small watchdog *process* (this file, run as a script) waits beside it:
  * past the deadline (GAN_CLUSTER_TIMEOUT seconds, 600 by default) it names
    the workers that do not answer, in one line, and ends the trainer;
  * on SIGINT (Ctrl-C) it says so in one line and ends the trainer at once.
    The C level of Python's signal handling writes each signal's number to a
    "wakeup" file descriptor (signal.set_wakeup_fd) the moment it arrives,
    without the global lock; the watchdog reads the other end. SIGTERM is
    watched the same way, but TensorFlow replaces Python's SIGTERM handler
    with its own (tsl's SigtermNotifier, for preemption) as the strategy
    starts, so during the wait only the deadline answers a SIGTERM.
It ends the trainer with SIGKILL, the one way to end a process stuck in C++;
nothing has been written by then (the run's files come after), and once the
cluster is up the watchdog simply exits. This file imports the standard
library only, so that the watchdog starts in a fraction of a second.
"""
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time

TIMEOUT_VARIABLE = "GAN_CLUSTER_TIMEOUT"
DEFAULT_TIMEOUT = 600.0  # seconds: time enough to start every worker by hand


def timeout_seconds(environ=os.environ):
    """GAN_CLUSTER_TIMEOUT as seconds; ValueError in one line if it is not a positive number."""
    text = environ.get(TIMEOUT_VARIABLE)
    if text is None:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < 10**7:  # also NaN and infinity
        raise ValueError(f"{TIMEOUT_VARIABLE} {text[:40]!r}: must be a number of seconds, more than 0")
    return seconds


def other_workers(tf_config_text):
    """The addresses in TF_CONFIG of every task but this one (TF_CONFIG checked by cluster.check_tf_config).
    None for no TF_CONFIG, and "{}", are a machine training alone: there is nobody to wait for."""
    config = json.loads(tf_config_text) if tf_config_text else {}
    if not config:
        return []
    task = config["task"]
    return [address for job, addresses in config["cluster"].items() for index, address in enumerate(addresses)
            if (job, index) != (task["type"], task["index"])]


def silent(addresses, timeout=1.0):
    """The addresses nothing answers on (no TCP connection within `timeout` seconds each)."""
    found = []
    for address in addresses:
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
        except OSError:
            found.append(address)
    return found


class StartUpWatch:
    """`with StartUpWatch(seconds, peers):` around the call that waits for the cluster (main thread only)."""

    def __init__(self, seconds, peers):
        self.seconds, self.peers = seconds, peers

    def __enter__(self):
        signals_out, signals_in = os.pipe()
        done_out, self.done = os.pipe()
        os.set_blocking(signals_in, False)  # a signal must never block on a full pipe
        # A session of its own: the terminal's Ctrl-C reaches the trainer only, which passes it on.
        self.watchdog = subprocess.Popen([sys.executable, os.path.abspath(__file__), str(os.getpid()),
                                          str(self.seconds), str(signals_out), str(done_out), *self.peers],
                                         pass_fds=(signals_out, done_out), start_new_session=True)
        os.close(signals_out)
        os.close(done_out)
        self.signals_in, self.previous = signals_in, signal.set_wakeup_fd(signals_in, warn_on_full_buffer=False)
        return self

    def __exit__(self, *exception):
        signal.set_wakeup_fd(self.previous)
        os.close(self.done)  # the cluster is up (or the wait failed): the watchdog exits
        os.close(self.signals_in)
        self.watchdog.wait()


def watch(trainer, seconds, signals, done, peers):
    """The watchdog: end `trainer` on SIGINT or SIGTERM, or past the deadline; return once `done` closes."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([signals, done], [], [], max(deadline - time.monotonic(), 0))
        if done in ready:
            return
        number = os.read(signals, 1)[0] if signals in ready else None
        if number in (signal.SIGINT, signal.SIGTERM):  # another signal's handler runs later: wait on
            stop(trainer, f"error: stopped by {signal.Signals(number).name} while waiting for the cluster "
                          "(TF_CONFIG) to come up; nothing was trained or written")
    stop(trainer, f"error: the cluster did not come up within {seconds:g} s: no answer from "
                  f"{', '.join(silent(peers) or peers)} (start every worker with the same TF_CONFIG; "
                  f"{TIMEOUT_VARIABLE}=SECONDS waits longer); nothing was trained or written")


def stop(trainer, message):
    print(message, file=sys.stderr, flush=True)
    os.kill(trainer, signal.SIGKILL)
    sys.exit(0)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the trainer's to answer; this process only watches
    trainer_pid, limit, signals_fd, done_fd, *addresses = sys.argv[1:]
    watch(int(trainer_pid), float(limit), int(signals_fd), int(done_fd), addresses)
