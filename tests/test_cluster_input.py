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
