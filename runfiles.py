"""The run directory: checking options, then starting or resuming a run.

`train.py` calls `check_run(args)`, which refuses bad input and loads the data
*before* anything is written (so a mistake never damages an earlier run), then
`start_run(plan, args)`, which either creates a new run directory or restores
one from its newest intact checkpoint.
`Run` holds everything the training loop changes; `Run.state()` is what a
checkpoint saves, so the two stay in step.

check_run needs no TensorFlow: it answers a mistake at once. start_run
imports TensorFlow and the networks.
"""
import fcntl
import json
import os
import shlex
import shutil
import tempfile
import time

import numpy as np

import checkpoint
from progress import CURVE_EVERY, write_metrics
from defDATA import DataError, load_cifar10
from features import check_feature_spec
from runconfig import (RunError, check_numbers, check_writable_folder, new_config,  # noqa: F401  RunError: for train.py
                       real_images_per_step, resume_config)

FIXED_NOISE_SIZE = 64  # an 8x8 progress grid
MIN_FREE_BYTES = 200 * 2**20  # a checkpoint of the classic model is ~25 MB; leave room for several


class Run:
    """Everything the training loop reads and changes, in one place."""

    def __init__(self, run_dir, config, generator, discriminator, gan, ema, fixed_noise, args,
                 strategy=None, generate=None):
        self.dir, self.config, self.fixed_noise = run_dir, config, fixed_noise
        # The run directory to name to users (resume, samples): this one, except
        # on a multi-worker helper, whose private folder is removed at the end.
        self.chief_dir = run_dir
        self.generator, self.discriminator, self.gan, self.ema = generator, discriminator, gan, ema
        self.generate = generate  # noise -> images for D's step (defGAN.make_generate)
        self.strategy = strategy
        # What users get: the averaged generator when there is one (see ema.py).
        self.sampler = ema.model if ema else generator
        self.target_epochs, self.keep, self.checkpoint_every = args.epochs, args.keep, args.checkpoint_every
        self.eval_every, self.evaluator, self.best_fd = args.eval_every, None, None
        self.epoch = self.step = self.epoch_steps = 0  # finished epochs, total steps, steps into this epoch
        self.epoch_sums, self.history = {}, []  # running sums of this epoch; one metrics row per epoch
        self.window_sums, self.window_steps, self.curve = {}, 0, []  # the finer-grained loss curve

    def record(self, stats):
        """Add one step's statistics to the epoch's sums and to the loss curve."""
        self.window_steps += 1
        for key, value in stats.items():
            self.epoch_sums[key] = self.epoch_sums.get(key, 0.0) + value
            self.window_sums[key] = self.window_sums.get(key, 0.0) + value
        if self.window_steps == CURVE_EVERY:
            point = {key: value / CURVE_EVERY for key, value in self.window_sums.items()}
            self.curve.append(dict(point, step=self.step))
            self.window_sums, self.window_steps = {}, 0

    def steps_per_epoch(self, image_count):
        full = image_count // real_images_per_step(self.config)
        return min(full, self.config["steps_per_epoch"] or full)

    def random_state_variables(self):
        """The state of Keras' random layers (dropout masks). Weight files do not
        hold it, so the checkpoint's state.json does: without it a resumed run
        would draw different dropout masks than an uninterrupted one."""
        return [v for v in self.gan.variables if "seed_generator_state" in v.path]

    def state(self):
        return {"epoch": self.epoch, "step": self.step, "epoch_steps": self.epoch_steps,
                "epoch_sums": self.epoch_sums, "history": self.history, "config": self.config,
                "window_sums": self.window_sums, "window_steps": self.window_steps, "curve": self.curve,
                "best_fd": self.best_fd,
                "random_state": [v.numpy().tolist() for v in self.random_state_variables()]}

    def restore(self, state):
        self.epoch, self.step, self.epoch_steps = state["epoch"], state["step"], state["epoch_steps"]
        self.epoch_sums, self.history = state["epoch_sums"], state["history"]
        self.window_sums, self.window_steps, self.curve = state["window_sums"], state["window_steps"], state["curve"]
        self.best_fd = state.get("best_fd")  # absent in checkpoints of older versions
        for variable, value in zip(self.random_state_variables(), state["random_state"]):
            variable.assign(value)


def check_new_run_dir(run_dir, overwrite):
    """Refuse to clobber an existing run, and make sure we can write here."""
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise RunError(f"--out {run_dir}: exists and is not a folder")
    if os.path.isdir(run_dir) and os.listdir(run_dir):
        if not overwrite:
            raise RunError(f"--out {run_dir}: already exists and is not empty "
                           "(use --resume to continue it, or --overwrite to replace it)")
        if not os.path.exists(os.path.join(run_dir, "config.json")):
            raise RunError(f"--out {run_dir}: --overwrite refused, this folder does not look like a run "
                           "(no config.json)")
        foreign = checkpoint.foreign_file(run_dir)
        if foreign:  # --overwrite removes only what this project wrote
            raise RunError(f"--out {run_dir}: --overwrite refused, {foreign} was not written by train.py "
                           "(move it away, or choose another --out)")
    # The only sure test of "can we write here" is to try, so create the folder
    # and a probe file, then remove what we made: nothing is left if a later
    # check fails.
    created, folder = [], os.path.abspath(run_dir)  # folders the probe creates, deepest first
    while not os.path.exists(folder):
        created.append(folder)
        folder = os.path.dirname(folder)
    probe = os.path.join(run_dir, ".write-probe")
    try:
        os.makedirs(run_dir, exist_ok=True)
        with open(probe, "w") as file_object:
            file_object.write("probe")
        os.remove(probe)
        free = shutil.disk_usage(run_dir).free
    except OSError as error:
        raise RunError(f"--out {run_dir}: not writable ({error.strerror})") from None
    finally:
        for folder in created:
            if os.path.isdir(folder) and not os.listdir(folder):
                os.rmdir(folder)
    if free < MIN_FREE_BYTES:
        raise RunError(f"--out {run_dir}: only {free >> 20} MB free on that disk, "
                       f"a run needs at least {MIN_FREE_BYTES >> 20} MB")


def remove_stale_temporaries(run_dir):
    """Delete half-written files that a killed run left behind (never real files)."""
    for folder, subfolders, names in os.walk(run_dir):
        for name in [name for name in subfolders if name.startswith(".tmp-")]:
            shutil.rmtree(os.path.join(folder, name))
            subfolders.remove(name)
        for name in [name for name in names if name.startswith(".tmp-")]:
            os.remove(os.path.join(folder, name))


def lock_run_dir(run_dir):
    """Hold an exclusive lock on the run directory while training.

    Two trainers writing one run directory would interleave their checkpoints.
    The operating system drops the lock when the process ends, even on a kill.
    """
    try:
        lock = open(os.path.join(run_dir, ".lock"), "w")
    except OSError as error:
        raise RunError(f"{run_dir}: cannot write in this run directory ({error.strerror})") from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise RunError(f"{run_dir}: another train.py is training in this run directory right now") from None
    return lock


def load_images(config, dry_run):
    try:
        images, _ = load_cifar10(config["data"], classes=config["classes"])
    except DataError as error:
        raise RunError(str(error)) from None
    if dry_run:
        images = images[:256]
    needed = real_images_per_step(config)  # every epoch must have at least one step
    if needed > len(images):
        flags = f"--batch-size {config['batch_size']}" + (f" with --d-steps {config['d_steps']}"
                                                          if config["d_steps"] > 1 else "")
        raise RunError(f"{flags}: needs {needed} real images per step, but there are only {len(images)}")
    return images


def check_paths(args):
    """Refuse empty paths (never "not given") and a --features file that cannot be a feature network."""
    for flag in ("data", "out", "resume", "features"):
        if getattr(args, flag) == "":
            raise RunError(f"--{flag}: empty path")
    if args.eval_every:
        try:
            check_feature_spec(args.features)
        except ValueError as error:
            raise RunError(str(error)) from None


class Plan:
    """What check_run decided: where, with which config, from which checkpoint."""

    def __init__(self, run_dir, config, found, images, lock, chief_dir):
        self.run_dir, self.config, self.found, self.images, self.lock = run_dir, config, found, images, lock
        # The run directory the chief writes. A multi-worker helper writes into
        # a private temporary folder instead (run_dir), removed at the end.
        self.chief_dir, self.helper = chief_dir, run_dir != chief_dir


def check_run(args):
    """Validate everything and load the data; writes nothing. Returns a Plan."""
    check_numbers(args)
    check_paths(args)
    if args.dry_run:
        args.epochs, args.steps_per_epoch = 2, 2
        args.batch_size = min(args.batch_size or 32, 32)
        # A fresh folder in the system's temporary folder, created only once every check has passed.
        args.out = args.out or os.path.join(tempfile.gettempdir(), f"gan-dry-run-{time.strftime('%Y%m%d-%H%M%S')}"
                                                                    f"-{os.getpid()}")
    lock, found = None, None
    # Under --strategy multi-worker only the chief writes the run directory; the
    # other workers train in step with it and write into a private temporary
    # folder (the usual tf.distribute recipe), so they never race on files.
    helper = args.strategy == "multi-worker" and not is_chief()
    if args.resume:
        config, run_dir = resume_config(args), args.resume
        if not helper:
            for folder in (run_dir, os.path.join(run_dir, checkpoint.CHECKPOINT_DIR)):
                if os.path.isdir(folder):
                    check_writable_folder("--resume", folder)
        lock = None if helper else lock_run_dir(run_dir)
        found = checkpoint.find_latest_checkpoint(run_dir)
        if found is None and checkpoint.list_checkpoints(run_dir):
            raise RunError(f"--resume {run_dir}: no intact checkpoint in {run_dir}/checkpoints "
                           "(the damaged ones are left as they are)")
        if found is None:
            print(f"{run_dir} has no checkpoint yet (it stopped before its first): "
                  "starting it from its config.json, nothing is lost", flush=True)
        elif args.epochs <= found[1]["epoch"]:
            raise RunError(f"--epochs {args.epochs}: the run already has {found[1]['epoch']} epochs; ask for more")
    else:
        config, run_dir = new_config(args), args.out or "runs/cifar10"
        if not helper:
            check_new_run_dir(run_dir, args.overwrite)
            if args.overwrite and os.path.isdir(run_dir):
                lock_run_dir(run_dir).close()  # never delete a run that is training right now
    chief_dir = run_dir
    if helper:
        run_dir = tempfile.mkdtemp(prefix="gan-worker-")
    return Plan(run_dir, config, found, load_images(config, args.dry_run), lock, chief_dir)


def start_run(plan, args):
    """Seed everything, build the networks, and create or restore the run's files."""
    import keras
    import tensorflow as tf

    import defGAN
    import devices
    from ema import GeneratorEMA

    run_dir, config, found = plan.run_dir, plan.config, plan.found
    # Same seed, same CPU run: weights, data order, dropout and noise all repeat.
    keras.utils.set_random_seed(config["seed"])
    tf.config.experimental.enable_op_determinism()
    # The run keeps the precision it started with (config.json), wherever it resumes, unless --precision is typed.
    source = "--precision" if args.precision else "the run's config.json, as it started"
    config["precision"], reason = devices.resolve_precision(config["precision"], source)
    devices.set_precision(config["precision"])
    strategy, jit_compile = devices.make_strategy(args.strategy, args.cpu_replicas), devices.use_jit(args.jit_compile)
    print(f"precision {config['precision']}: {reason}", flush=True)
    print(devices.describe(strategy, config["precision"], jit_compile), flush=True)
    if plan.helper:
        print(f"helper worker: trains in step with the chief, which writes {plan.chief_dir}; this worker's "
              f"files go to the private folder {run_dir}", flush=True)
    with strategy.scope():  # variables (weights, optimizer slots, EMA copy) are created per replica
        generator, discriminator = defGAN.build_models(config)
        gan = defGAN.define_gan(generator, discriminator, config, jit_compile)
        ema = GeneratorEMA(generator, config["ema"]) if config["ema"] else None
        if strategy.num_replicas_in_sync > 1:
            defGAN.build_losses_and_metrics(generator, discriminator, gan)
        if found is not None:
            defGAN.build_optimizer_state(discriminator, gan)
    generate = defGAN.make_generate(generator, jit_compile)
    if found is None:
        if os.path.isdir(run_dir) and args.overwrite:
            checkpoint.remove_project_files(run_dir)
        os.makedirs(os.path.join(run_dir, "progress"), exist_ok=True)
        noise_rng = np.random.default_rng([config["seed"], 2**31])  # a stream of its own
        fixed_noise = noise_rng.standard_normal((FIXED_NOISE_SIZE, config["latent_dim"]), dtype=np.float32)
        if not args.resume or args.precision:  # a run resumed before its first checkpoint keeps its config.json
            checkpoint.atomic_write_text(os.path.join(run_dir, "config.json"), json.dumps(config, indent=1))
        run = Run(run_dir, config, generator, discriminator, gan, ema, fixed_noise, args, strategy, generate)
        run.lock, run.chief_dir = plan.lock or lock_run_dir(run_dir), plan.chief_dir
        if not plan.helper:
            print(f"new run in {run_dir}" + ("" if args.resume else " (config.json written)"), flush=True)
        return run
    path, state, fixed_noise = found
    for damaged in checkpoint.list_checkpoints(run_dir):
        if damaged > path:  # newer than the checkpoint chosen, so found damaged: never count or choose it again
            checkpoint.set_aside(damaged)
    remove_stale_temporaries(run_dir)
    os.makedirs(os.path.join(run_dir, "progress"), exist_ok=True)  # a multi-worker helper's fresh folder lacks it
    try:
        gan.load_weights(os.path.join(path, checkpoint.WEIGHTS_FILE))
        if ema:
            ema.model.load_weights(os.path.join(path, checkpoint.EMA_FILE))
    except (ValueError, KeyError, OSError) as error:  # e.g. config.json edited since the checkpoint was saved
        raise RunError(f"{path}: its weights do not fit the networks {run_dir}/config.json describes "
                       f"({type(error).__name__}: {str(error).splitlines()[0][:120]})") from None
    run = Run(run_dir, config, generator, discriminator, gan, ema, fixed_noise, args, strategy, generate)
    run.restore(state)
    run.lock, run.chief_dir = plan.lock, plan.chief_dir
    if args.precision and not plan.helper:  # a precision typed on resuming is the run's from now on
        checkpoint.atomic_write_text(os.path.join(run_dir, "config.json"), json.dumps(config, indent=1))
    write_metrics(run_dir, run.history)  # drops any row newer than the checkpoint
    print(f"resuming {run_dir} from {path}: epoch {run.epoch}, step {run.step}", flush=True)
    return run


def is_chief():
    """True on the one worker that writes the run's files: the "chief" task, or
    worker 0 of a cluster without one, or this process when there is no TF_CONFIG."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task = config.get("task")
    if not task:
        return True
    if "chief" in config.get("cluster", {}):
        return task["type"] == "chief"
    return task["type"] == "worker" and task["index"] == 0


def resume_command(run_dir):
    """The command that resumes run_dir, quoted so that it pastes safely into a shell."""
    return f"python train.py --resume {shlex.quote(run_dir)}"
