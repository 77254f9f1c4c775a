"""Starting a training session: devices, seeds and precision, then a new run's files or the
newest intact checkpoint of the run to resume. A first reading can skip it.

train.py calls `prepare_devices` and `prepare_run` (strategy, seeds,
precision), builds the networks itself, then `open_run`, which creates the
run's files or loads its newest intact checkpoint into those networks and
returns where it left off. Saving is machinery/callbacks.py (Checkpoints),
whose `state()` is what `open_run` reads back.
"""
import json
import os
import resource
import signal

from machinery import checkpoint, run_files
from machinery.options import RESUME_MAY_CHANGE, RUN_KEYS, RunError
from machinery.progress import write_metrics
from machinery.runs import lock_run_dir


def prepare_devices(args):
    """The tf.distribute strategy and whether to use XLA: (strategy, jit_compile). TensorFlow loads here,
    and the strategy comes first: splitting a CPU into replicas must happen before anything runs."""
    from machinery import devices

    return devices.make_strategy(args.strategy, args.cpu_replicas), devices.use_jit(args.jit_compile)


def prepare_run(plan, args, strategy, jit_compile):
    """Seeds and precision for the run, and two lines saying where and how it trains."""
    import keras
    import tensorflow as tf

    from machinery import devices

    config = plan.config
    devices.check_batch_split(strategy, config, args.strategy)  # the replicas TensorFlow found share the batch
    # Same seed, same CPU run: weights, data order, dropout and noise all repeat.
    keras.utils.set_random_seed(config["seed"])
    tf.config.experimental.enable_op_determinism()
    # The run keeps the precision it started with (config.json), wherever it resumes, unless --precision is typed.
    source = "--precision" if args.precision else "the run's config.json, as it started"
    config["precision"], reason = devices.resolve_precision(config["precision"], source)
    devices.set_precision(config["precision"])
    print(f"precision {config['precision']}: {reason}", flush=True)
    print(devices.summary(strategy, config["precision"], jit_compile), flush=True)
    if plan.helper:
        print(f"helper worker: trains in step with the chief, which writes {plan.chief_dir}; this worker's "
              f"files go to the private folder {plan.run_dir}", flush=True)


def open_run(plan, args, models, strategy):
    """Create a new run's files, or load its newest intact checkpoint into `models` (train.py's networks).
    Returns that checkpoint's state.json (where the run left off, and its records), or None for a new run."""
    import defGAN
    from machinery.callbacks import random_state_variables

    run_dir, config, found = plan.run_dir, plan.config, plan.found
    if found is None:
        if os.path.isdir(run_dir) and args.overwrite:
            run_files.remove_project_files(run_dir)
        os.makedirs(os.path.join(run_dir, "progress"), exist_ok=True)
        if not args.resume or args.precision:  # a run resumed before its first checkpoint keeps its config.json
            checkpoint.atomic_write_text(os.path.join(run_dir, "config.json"), json.dumps(config, indent=1))
        plan.lock = plan.lock or lock_run_dir(run_dir)
        if not plan.helper:
            print(f"new run in {run_dir}" + ("" if args.resume else " (config.json written)"), flush=True)
        return None
    with strategy.scope():
        defGAN.build_optimizer_state(models.discriminator, models.gan)  # a checkpoint loads into existing slots
    path, state, unfit = load_newest_that_fits(found, models.gan, models.ema, run_dir, config)
    try:
        for variable, value in zip(random_state_variables(models.gan), state["random_state"]):
            variable.assign(value)
    except (ValueError, TypeError, KeyError, IndexError) as error:  # entries edited, checksum and all
        raise RunError(f"{path}: its {checkpoint.STATE_FILE} does not fit the networks {run_dir}/config.json "
                       f"describes ({type(error).__name__}: {str(error).splitlines()[0][:120]})") from None
    for newer in checkpoint.list_checkpoints(run_dir):
        if newer > path:  # damaged, or another run's: never count or choose it again
            checkpoint.set_aside(newer, why=unfit.get(newer, ""))  # a damaged one was reported already
    run_files.remove_stale_temporaries(run_dir)  # half-written files of a killed run, and only those
    os.makedirs(os.path.join(run_dir, "progress"), exist_ok=True)  # a multi-worker helper's fresh folder lacks it
    if args.precision and not plan.helper:  # a precision typed on resuming is the run's from now on
        checkpoint.atomic_write_text(os.path.join(run_dir, "config.json"), json.dumps(config, indent=1))
    write_metrics(run_dir, state["history"])  # drops any row newer than the checkpoint
    print(f"resuming {run_dir} from {path}: epoch {state['epoch']}, step {state['step']}", flush=True)
    return state


def load_newest_that_fits(found, gan, ema, run_dir, config):
    """Load the newest intact checkpoint of this run, `found` or an older one: (path, state,
    {newer path: why it was passed over}). One copied from another run is passed
    over, whether its weights do not fit or its config differs (another seed, say); if none is
    this run's (config.json edited since, most likely), RunError, and nothing changed on disk."""
    unfit = {}
    for path, state, _ in checkpoint.intact_checkpoints(os.path.dirname(os.path.dirname(found[0])),
                                                                  report=lambda message: None):
        try:
            checkpoint.load_weights(gan, ema.model if ema else None, path, state)
        except checkpoint.CheckpointError as error:
            unfit[path] = f"its weights do not fit the networks {run_dir}/config.json describes ({error})"
            continue
        difference = config_difference(state["config"], config)
        if difference is None:
            return path, state, unfit
        unfit[path] = f"it was saved with {difference}; a resumed run keeps its config"
    raise RunError(f"{found[0]}: {unfit[found[0]]}")


def config_difference(saved, config):
    """The first option that defines the run (options.RUN_KEYS) in which a checkpoint's config differs
    from config.json, in words, or None. Where the data lives and the precision may differ."""
    for key in RUN_KEYS:
        if key not in RESUME_MAY_CHANGE and key in saved and saved[key] != config.get(key):
            return f"{key} {json.dumps(saved[key])[:40]}, {key} {json.dumps(config.get(key))[:40]} in config.json"
    return None


class StopRequests:
    """Ctrl-C / SIGTERM once: finish the step, save, exit 0. Ctrl-C twice: exit at once.

    Made first thing in train.py, so a Ctrl-C while the data loads is caught too; once training
    starts, callbacks.StopOnSignal gives it the model, whose stop_training a request then sets.
    Exiting at once is safe because every file is written atomically (see checkpoint.py): at worst
    the unfinished epoch is lost.
    """

    def __init__(self):
        self.requested, self.model = False, None
        signal.signal(signal.SIGINT, self.handle)
        signal.signal(signal.SIGTERM, self.handle)

    def handle(self, signum, frame):
        if self.requested:
            os._exit(130)
        self.requested = True
        if self.model is not None:
            self.model.stop_training = True
        print(f"\n{signal.Signals(signum).name} received: finishing this step and saving "
              "(press Ctrl-C again to quit now)", flush=True)


def peak_memory():
    """Peak resident memory of this process, for the closing line ("MB")."""
    return f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB"  # Linux: KiB


