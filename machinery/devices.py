"""Where and how the training runs: devices, precision, XLA, and tf.distribute.

machinery/session.py asks this module three things before train.py builds any network:
  * the precision policy (`--precision`). "bfloat16" and "float16" are Keras'
    mixed-precision policies: layers compute in 16 bits and keep float32
    weights; the last layer of each network is float32 (see gene_keras.py and
    discri_keras.py) so losses and images keep their full range. With
    float16, whose range is small, Keras scales the loss automatically
    (LossScaleOptimizer) so small gradients do not round to zero. "auto"
    (the default) picks the fastest this machine computes well:
    `choose_precision` below.
  * whether to compile steps with XLA (`--jit-compile auto` = on with a GPU,
    off on CPU, where it was measured 2x slower).
  * the tf.distribute strategy (`--strategy`): none, "mirrored" (every GPU of
    this machine; each holds a copy of the weights and takes a slice of each
    batch, gradients are averaged), or "multi-worker" (the same across
    machines, configured by the TF_CONFIG environment variable; see README).
Under a strategy, `prepare_for_strategy` (which train.py calls where it builds the
networks) makes the compiled models hand each
replica its share of every batch, so the same train_on_batch calls train on
the global batch, and mends one Keras bug that stops train_on_batch on
several machines. This is the one place that knows about replicas.
"""
import os

import keras
import numpy as np
import tensorflow as tf

from machinery.cluster import split_problem
from machinery.options import RunError
from presets import PRECISIONS  # --precision's choices, and each one's Keras policy


# CPU features that compute bfloat16 natively (AVX-512 BF16 instructions, AMX
# tiles). Without them TensorFlow emulates bfloat16, measured >10x slower.
NATIVE_BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")
FLOAT16_TENSOR_CORES = (7, 0)  # the first NVIDIA compute capability with float16 tensor cores (Volta)


def choose_precision(cpu_flags, accelerators):
    """--precision auto: (precision, reason in words) from the machine's facts.

    `cpu_flags`: the CPU's feature flags (a set of names, as in /proc/cpuinfo).
    `accelerators`: [(kind, compute capability (major, minor) or None, name)]
    for each "GPU" or "TPU". The facts are passed in, so every case can be tried
    on any machine (tests/test_precision.py); `machine_facts()` reads this one's.
    """
    for kind, _, name in accelerators:
        if kind == "TPU":  # TPUs compute in bfloat16; float16 would only lose range
            return "bfloat16", f"{name} computes in bfloat16"
    gpus = [(capability or (0, 0), name) for kind, capability, name in accelerators if kind == "GPU"]
    if gpus:
        capability, name = min(gpus)  # the slowest GPU decides, when several differ
        version = ".".join(map(str, capability))
        if capability >= FLOAT16_TENSOR_CORES:  # Keras' advice for GPUs: float16 with loss scaling
            return "float16", f"{name} (compute capability {version}) has float16 tensor cores"
        return "float32", f"{name} (compute capability {version}) has no float16 tensor cores"
    native = [flag for flag in NATIVE_BFLOAT16_FLAGS if flag in cpu_flags]
    if native:
        return "bfloat16", f"this CPU has {' and '.join(native)}"
    return "float32", "this CPU has neither avx512_bf16 nor amx_bf16, without which bfloat16 is many times slower"


def machine_facts(cpuinfo="/proc/cpuinfo"):
    """(cpu_flags, accelerators) of this machine, for choose_precision."""
    flags = set()
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as file_object:
            line = next((line for line in file_object if line.startswith("flags")), "")
            flags = set(line.partition(":")[2].split())
    except OSError:  # not Linux: no flags known, so no bfloat16 unless an accelerator says so
        pass
    accelerators = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        accelerators.append(("GPU", details.get("compute_capability"), details.get("device_name", gpu.name)))
    accelerators += [("TPU", None, "TPU") for _ in tf.config.list_physical_devices("TPU")]
    return flags, accelerators


def resolve_precision(requested, source):
    """(precision, reason) for the run: `requested` as it is, or "auto" chosen for this machine."""
    if requested != "auto":
        return requested, source
    precision, reason = choose_precision(*machine_facts())
    return precision, f"{reason} (--precision auto)"


def set_precision(name):
    """Set Keras' global dtype policy; every layer built afterwards follows it."""
    keras.mixed_precision.set_global_policy(PRECISIONS[name])


def has_gpu():
    return bool(tf.config.list_physical_devices("GPU"))


def use_jit(choice):
    """--jit-compile auto|on|off -> bool. XLA was measured 2x slower on CPU; on GPUs it usually helps."""
    return has_gpu() if choice == "auto" else choice == "on"


def split_cpu(replicas):
    """Present the CPU as `replicas` logical devices, so that the mirrored
    strategy can be tried (and tested) on a machine without GPUs. Must run
    before TensorFlow first touches a device."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def make_strategy(name, cpu_replicas=0):
    """The tf.distribute strategy for --strategy; "none" is TensorFlow's default (one device)."""
    if name == "mirrored" and cpu_replicas > 1:
        return tf.distribute.MirroredStrategy(split_cpu(cpu_replicas))
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        return multi_worker_strategy()
    return tf.distribute.get_strategy()


def multi_worker_strategy():
    """MultiWorkerMirroredStrategy, which waits for every worker of TF_CONFIG: within a deadline, and
    stopped at once by Ctrl-C or SIGTERM (machinery/cluster_wait.py)."""
    from machinery import cluster_wait

    peers, seconds = cluster_wait.other_workers(os.environ.get("TF_CONFIG")), cluster_wait.timeout_seconds()
    if not peers:  # a cluster of one waits for nobody
        return tf.distribute.MultiWorkerMirroredStrategy()
    print(f"waiting up to {seconds:g} s for the other workers ({', '.join(peers)}) to join", flush=True)
    with cluster_wait.StartUpWatch(seconds, peers):
        return tf.distribute.MultiWorkerMirroredStrategy()


def check_batch_split(strategy, config, name):
    """Refuse a batch the strategy's replicas cannot share evenly (see split_per_replica). Before
    TensorFlow loads, machinery/cluster.py checked what it could; only now are the GPUs counted."""
    problem = split_problem(config["batch_size"], strategy.num_replicas_in_sync, "replica", f"--strategy {name}")
    if problem:
        raise RunError(problem)


def split_per_replica(strategy, batch):
    """A batch handed out so that replica r takes rows r, r + R, r + 2R, ... (R replicas).

    Taking every R-th row, not a contiguous slice, matters: D's batch is real
    images followed by generated ones, and a contiguous split would give one
    replica only real images and the other only fakes. With R dividing each
    half, every replica gets as many real as generated images.
    """
    replicas, batch = strategy.num_replicas_in_sync, np.asarray(batch)
    if len(batch) % replicas:
        raise ValueError(f"a batch of {len(batch)} does not split over {replicas} replicas")
    return strategy.experimental_distribute_values_from_function(
        lambda context: tf.constant(batch[context.replica_id_in_sync_group::replicas]))


def averaged_across_workers(strategy):
    """True when Keras averages each step's results over several machines:
    MultiWorkerMirroredStrategy with more replicas in the cluster than here."""
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.num_replicas_in_sync > len(strategy.extended.worker_devices))


def prepare_for_strategy(strategy, *models):
    """Let compiled models train with plain train_on_batch calls under a strategy of
    several replicas (tf.distribute); with one replica nothing changes. Call it
    in the strategy's scope, once, before the models' first step.

      * Keras builds a model's compiled losses and metrics from the first batch
        it sees, and cannot read a batch already split over replicas, so each
        model sees two plain images first (test_on_batch trains nothing and, in
        inference mode, draws no random numbers).
      * From then on each model's train_on_batch and test_on_batch hand every
        replica its share of the batch (split_per_replica).
      * Under MultiWorkerMirroredStrategy, Keras 3 averages a step's results
        (loss, accuracies) across workers along axis 0, which a scalar does not
        have, and fails with "Invalid reduction dimension 0"
        (tensorflow/tensorflow#72388). Each result gets the shape [1] there, so
        the average runs; it comes back as a scalar.
    """
    if strategy.num_replicas_in_sync == 1:
        return
    for model in models:
        if averaged_across_workers(strategy):
            for name in ("train_step", "test_step"):
                keras_step = getattr(model, name)
                setattr(model, name, lambda data, keras_step=keras_step: {
                    key: tf.reshape(value, [1]) for key, value in keras_step(data).items()})
        model.test_on_batch(np.zeros((2,) + model.input_shape[1:], np.float32), np.zeros((2, 1), np.float32))
        for name in ("train_on_batch", "test_on_batch"):
            keras_call = getattr(model, name)
            setattr(model, name, lambda x, y, keras_call=keras_call, **options: keras_call(
                split_per_replica(strategy, x), split_per_replica(strategy, y), **options))


def summary(strategy, precision, jit_compile):
    """One line for the start of training: devices, replicas, precision, XLA."""
    gpus = [device.name for device in tf.config.list_logical_devices("GPU")]
    where = f"GPU ({', '.join(gpus)})" if gpus else f"CPU ({os.cpu_count()} cores)"
    return (f"devices: {where}; {strategy.num_replicas_in_sync} replica(s) ({type(strategy).__name__}); "
            f"policy {PRECISIONS[precision]}; XLA {'on' if jit_compile else 'off'}")
