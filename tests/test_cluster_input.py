"""Strategies the batch cannot split over, and a TF_CONFIG TensorFlow cannot read:
one line each, before TensorFlow loads where the numbers are known then."""
import json

import pytest

from conftest import TINY, run_script
from machinery.options import RunError


def refused(arguments, message, tmp_path, tf_config=None, monkeypatch=None):
    if tf_config is not None:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    result = run_script("train.py", *arguments, "--out", str(tmp_path / "run"), timeout=60)
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1, lines[-8:]
    assert lines[0].startswith("error: ") and message in lines[0], lines[0]
    assert not (tmp_path / "run").exists()


def test_cpu_replicas_that_do_not_split_the_batch(real_archive, tmp_path):
    """16 images: 8 real and 8 generated in D's batch, which 3 replicas cannot share equally."""
    refused(["--data", real_archive, *TINY, "--strategy", "mirrored", "--cpu-replicas", "3"],
            "--batch-size 16 with 3 replicas (--strategy mirrored --cpu-replicas 3): each replica must take as "
            "many real images as generated ones; use a multiple of 6", tmp_path)


def test_cpu_replicas_without_the_mirrored_strategy(real_archive, tmp_path):
    refused(["--data", real_archive, *TINY, "--cpu-replicas", "2"],
            "--cpu-replicas 2: only with --strategy mirrored", tmp_path)


def cluster(workers, task=None):
    return json.dumps({"cluster": {"worker": [f"localhost:{2000 + i}" for i in range(workers)]},
                       "task": task if task is not None else {"type": "worker", "index": 0}})


@pytest.mark.parametrize("tf_config, message", [
    ("{not json", "TF_CONFIG: not JSON (Expecting property name"),
    ("", "TF_CONFIG: not JSON"),
    ("[1, 2]", "TF_CONFIG: a JSON list, expected an object such as"),
    ('{"cluster": ["localhost:2000"], "task": {"type": "worker", "index": 0}}',
     "TF_CONFIG: \"cluster\" must map job names to lists of \"host:port\" addresses"),
    ('{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}',
     "TF_CONFIG: \"cluster\" has no worker"),
    (cluster(2, task={}), "TF_CONFIG: \"task\" must name its \"type\" and \"index\""),
    (cluster(2, task={"type": "worker"}), "TF_CONFIG: \"task\" must name its \"type\" and \"index\""),
    (cluster(2, task={"type": "worker", "index": "0"}), "TF_CONFIG: task index \"0\" must be a whole number"),
    (cluster(2, task={"type": "worker", "index": True}), "TF_CONFIG: task index true must be a whole number"),
    (cluster(2, task={"type": "worker", "index": 2}),
     "TF_CONFIG: task index 2 is not in the cluster's 2 worker tasks (0 to 1)"),
    (cluster(2, task={"type": "ps", "index": 0}), "TF_CONFIG: task type \"ps\" is not a job of the cluster"),
    ('{"task": {"type": "worker", "index": 0}}', "TF_CONFIG: no \"cluster\""),
])
def test_a_malformed_tf_config_is_one_line(real_archive, tmp_path, monkeypatch, tf_config, message):
    refused(["--data", real_archive, *TINY, "--strategy", "multi-worker"], message, tmp_path, tf_config, monkeypatch)


def test_a_cluster_whose_workers_cannot_split_the_batch(real_archive, tmp_path, monkeypatch):
    refused(["--data", real_archive, *TINY, "--strategy", "multi-worker"],
            "--batch-size 16 with 3 workers (--strategy multi-worker, TF_CONFIG): each worker must take as many "
            "real images as generated ones; use a multiple of 6", tmp_path, cluster(3), monkeypatch)


class Replicas:
    """Stands for a tf.distribute strategy: all check_batch_split reads of it."""

    def __init__(self, count):
        self.num_replicas_in_sync = count


def test_the_replicas_tensorflow_finds_are_checked_against_the_batch():
    """With --strategy mirrored on GPUs the count is known only once TensorFlow has looked."""
    from machinery import devices

    devices.check_batch_split(Replicas(4), {"batch_size": 16}, "mirrored")  # 8 real and 8 generated: 2 each
    with pytest.raises(RunError, match="--batch-size 16 with 3 replicas \\(--strategy mirrored\\): each replica "
                       "must take as many real images as generated ones; use a multiple of 6"):
        devices.check_batch_split(Replicas(3), {"batch_size": 16}, "mirrored")


@pytest.mark.parametrize("tf_config, message", [
    ('{"cluster": {"worker": ["nohostport"]}, "task": {"type": "worker", "index": 0}}',
     'address "nohostport" is not host:port'),
    ('{"cluster": {"worker": ["localhost:2001"], "ps": ["localhost:2002"]}, "task": {"type": "ps", "index": 0}}',
     "jobs ps are not trained here"),
    ('{"cluster": {"worker": ["localhost:2001"]}, "task": {"type": "worker", "index": 0}, "rpc_layer": 5}',
     "rpc_layer 5 must be a name"),
], ids=["no port", "parameter server", "rpc layer"])
def test_tf_configs_tensorflow_fails_on_later_are_one_line(real_archive, tmp_path, monkeypatch, tf_config, message):
    """A hostile pass found these three passing the check, then TensorFlow's tracebacks."""
    refused(["--data", real_archive, *TINY, "--strategy", "multi-worker"], message, tmp_path, tf_config, monkeypatch)


def free_ports(count):
    """Ports nothing listens on (bound for a moment to find them, then closed)."""
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for each in sockets:
        each.bind(("localhost", 0))
    ports = [each.getsockname()[1] for each in sockets]
    for each in sockets:
        each.close()
    return ports


def waiting_worker(real_archive, tmp_path, seconds):
    """train.py as worker 0 of two, the other never started: (process, the silent worker's address)."""
    import os
    import subprocess
    import sys

    from conftest import ROOT

    ours, theirs = free_ports(2)
    tf_config = json.dumps({"cluster": {"worker": [f"localhost:{ours}", f"localhost:{theirs}"]},
                            "task": {"type": "worker", "index": 0}})
    environment = dict(os.environ, TF_CONFIG=tf_config, GAN_CLUSTER_TIMEOUT=str(seconds), TF_CPP_MIN_LOG_LEVEL="3",
                       PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "train.py", "--data", real_archive, "--out", str(tmp_path / "run"),
                                *TINY, "--strategy", "multi-worker"], cwd=ROOT, env=environment, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return process, f"localhost:{theirs}"


def test_a_worker_that_never_starts_is_one_line_after_the_deadline(real_archive, tmp_path):
    """A hostile pass: the other workers waited for ever, deaf to Ctrl-C and SIGTERM."""
    from test_damaged_runs import after_start_up

    process, silent = waiting_worker(real_archive, tmp_path, 3)
    try:
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    lines = after_start_up(stderr)
    assert process.returncode != 0 and len(lines) == 1, lines[-10:]
    assert lines[0].startswith(f"error: the cluster did not come up within 3 s: no answer from {silent} "), lines
    assert stdout.strip().splitlines()[-1].startswith(f"waiting up to 3 s for the other workers ({silent})")
    assert not (tmp_path / "run").exists()


def test_ctrl_c_while_waiting_for_the_cluster_stops_at_once(real_archive, tmp_path):
    """SIGINT. (SIGTERM cannot be: TensorFlow's own SIGTERM handler, its preemption notifier, replaces
    Python's as the strategy starts; the deadline bounds that wait.)"""
    import signal
    import time

    from test_damaged_runs import after_start_up

    process, _ = waiting_worker(real_archive, tmp_path, 600)
    try:
        assert process.stdout.readline().startswith("waiting up to 600 s for the other workers")
        time.sleep(2)  # inside TensorFlow's wait
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    lines = after_start_up(stderr)
    assert process.returncode != 0 and len(lines) == 1, lines[-10:]
    assert lines[0].startswith("error: stopped by SIGINT while waiting for the cluster"), lines
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("value", ["soon", "0", "-5", "nan", "inf"])
def test_a_bad_cluster_timeout_is_one_line(real_archive, tmp_path, monkeypatch, value):
    monkeypatch.setenv("GAN_CLUSTER_TIMEOUT", value)
    refused(["--data", real_archive, *TINY, "--strategy", "multi-worker"],
            f"GAN_CLUSTER_TIMEOUT '{value}': must be a number of seconds", tmp_path, cluster(2), monkeypatch)
