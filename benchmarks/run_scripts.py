"""Running the project's scripts from a benchmark (quality.py), so that none is ever left running alone.

Each script runs in a session of its own, so that the terminal's Ctrl-C reaches
the benchmark alone, which passes each Ctrl-C (and SIGTERM: kill, a scheduler's
time limit) on to the script running, then stops: a train.py started for a
30-minute budget once went on training, an orphan, for 100,000 epochs when the
benchmark was killed. Output goes to files, not pipes: a pipe nobody reads
while a script trains could fill and stop it.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def script(name, *arguments):
    return [sys.executable, os.path.join(ROOT, name), *arguments]


def last_line(text):
    """The last line a script printed: its one-line error, by the project's rule."""
    lines = text.strip().splitlines()
    return lines[-1] if lines else None


class Signals:
    """Ctrl-C and SIGTERM, counted rather than raised, once `catch` is called."""
    count = 0

    @classmethod
    def catch(cls):
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, cls.count_one)

    @classmethod
    def count_one(cls, signum, frame):
        cls.count += 1

    @classmethod
    def stop_if_any(cls, name):
        if cls.count:
            sys.exit(f"stopped by a signal; {name} was stopped too (each run folder keeps what train.py saved)")


def run_script(command, seconds=None):
    """Run a script until it ends, stopping it like Ctrl-C after `seconds` and at each signal
    we get; returns (exit code, its output, its error output, whether time ran out). Output
    goes to files: a pipe nobody reads while a script trains could fill and stop it."""
    name = os.path.basename(command[1])
    Signals.stop_if_any(name)  # a signal while nothing ran: start nothing more
    with tempfile.TemporaryFile("w+") as output, tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(command, stdout=output, stderr=errors, text=True, start_new_session=True)
        deadline, passed_on = time.time() + (seconds or float("inf")), 0
        while process.poll() is None:
            wanted = Signals.count + (time.time() >= deadline)  # the first Ctrl-C: finish the step, save
            if wanted > passed_on:
                process.send_signal(signal.SIGINT)
                passed_on = wanted
            time.sleep(0.2)
        Signals.stop_if_any(name)
        output.seek(0)
        errors.seek(0)
        return process.returncode, output.read(), errors.read(), time.time() >= deadline
