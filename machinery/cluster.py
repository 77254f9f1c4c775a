"""--strategy's inputs, checked before TensorFlow loads: TF_CONFIG, and how many
replicas share each batch. A first reading can skip this module.

Under a strategy every replica takes an equal share of each batch, and of the
discriminator's batch as many real images as generated ones
(devices.split_per_replica), so half the batch must divide by the number of
replicas. That number is known before TensorFlow loads for `--cpu-replicas`
and, as a lower bound, for a cluster (its workers); devices.check_batch_split
checks it again once TensorFlow has counted the GPUs. machinery/options.py
calls these and turns a ClusterError into its one-line RunError.
"""
import json
import os

EXAMPLE = '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
TRAINING_JOBS = ("chief", "worker")  # the jobs whose tasks train; a parameter server or an evaluator does not


class ClusterError(Exception):
    """A strategy's input that cannot work, in one line."""


def json_kind(value):
    kinds = {dict: "object", list: "list", str: "string", int: "number", float: "number", bool: "true or false"}
    return kinds.get(type(value), "null")


def shown(value):
    return json.dumps(value)[:40]


def check_tf_config(text):
    """How many tasks of the cluster in TF_CONFIG train (1 without one); a TF_CONFIG
    that TensorFlow (or runs.is_chief) would fail on with a traceback raises ClusterError."""
    if text is None:
        return 1
    try:
        config = json.loads(text)
    except ValueError as error:
        raise ClusterError(f"TF_CONFIG: not JSON ({error}); expected an object such as {EXAMPLE}") from None
    if not isinstance(config, dict):
        raise ClusterError(f"TF_CONFIG: a JSON {json_kind(config)}, expected an object such as {EXAMPLE}")
    if not config:  # "{}": no cluster, this machine alone
        return 1
    cluster, task = config.get("cluster"), config.get("task")
    if cluster is None:
        raise ClusterError(f'TF_CONFIG: no "cluster"; expected an object such as {EXAMPLE}')
    if not isinstance(cluster, dict) or not all(isinstance(tasks, list) and all(isinstance(a, str) for a in tasks)
                                                for tasks in cluster.values()):
        raise ClusterError(f'TF_CONFIG: "cluster" must map job names to lists of "host:port" addresses, '
                           f'such as {EXAMPLE}')
    for address in (address for tasks in cluster.values() for address in tasks):
        host, _, port = address.rpartition(":")
        if not host or not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
            raise ClusterError(f"TF_CONFIG: address {shown(address)} is not host:port, such as localhost:12345")
    if not set(cluster) <= set(TRAINING_JOBS):  # parameter servers ("ps") and evaluators: not this project's
        raise ClusterError(f"TF_CONFIG: jobs {', '.join(sorted(set(cluster) - set(TRAINING_JOBS)))} are not "
                           f"trained here: --strategy multi-worker takes {' and '.join(TRAINING_JOBS)} only")
    if "rpc_layer" in config and not isinstance(config["rpc_layer"], str):
        raise ClusterError(f"TF_CONFIG: rpc_layer {shown(config['rpc_layer'])} must be a name such as \"grpc\"")
    workers = sum(len(cluster.get(job, [])) for job in TRAINING_JOBS)
    if not workers:
        raise ClusterError('TF_CONFIG: "cluster" has no worker (nor chief) to train')
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ClusterError('TF_CONFIG: "task" must name its "type" and "index", such as {"type": "worker", "index": 0}')
    if not isinstance(task["type"], str) or task["type"] not in cluster:
        raise ClusterError(f"TF_CONFIG: task type {shown(task['type'])} is not a job of the cluster "
                           f"({', '.join(cluster)})")
    index, tasks = task["index"], len(cluster[task["type"]])
    if type(index) is not int:  # bool is an int to Python, and never an index
        raise ClusterError(f"TF_CONFIG: task index {shown(index)} must be a whole number")
    if not 0 <= index < tasks:
        raise ClusterError(f"TF_CONFIG: task index {index} is not in the cluster's {tasks} {task['type']} tasks "
                           f"(0 to {tasks - 1})")
    return workers


def check_strategy(args):
    """The device flags (and TF_CONFIG) that make sense together, before TensorFlow loads."""
    if args.cpu_replicas and args.strategy != "mirrored":
        raise ClusterError(f"--cpu-replicas {args.cpu_replicas}: only with --strategy mirrored "
                           f"(here --strategy {args.strategy})")
    if args.strategy == "multi-worker":
        check_tf_config(os.environ.get("TF_CONFIG"))
        from machinery.cluster_wait import timeout_seconds  # here: cluster_wait's imports import this module
        try:
            timeout_seconds()
        except ValueError as error:
            raise ClusterError(str(error)) from None


def split_problem(batch_size, count, unit, how):
    """The one line for a batch that `count` replicas (or workers) cannot share evenly, or None when they can."""
    if (batch_size // 2) % count == 0:
        return None
    return (f"--batch-size {batch_size} with {count} {unit}s ({how}): each {unit} must take as many real "
            f"images as generated ones; use a multiple of {2 * count}")


def check_replicas(config, args):
    """The batch against the replicas known before TensorFlow loads."""
    if args.strategy == "mirrored" and args.cpu_replicas > 1:
        count, unit, how = args.cpu_replicas, "replica", f"--strategy mirrored --cpu-replicas {args.cpu_replicas}"
    elif args.strategy == "multi-worker":
        count, unit, how = check_tf_config(os.environ.get("TF_CONFIG")), "worker", "--strategy multi-worker, TF_CONFIG"
    else:
        return
    problem = split_problem(config["batch_size"], count, unit, how)
    if problem:
        raise ClusterError(problem)
