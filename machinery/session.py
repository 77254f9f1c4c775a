"""A training session: the Run that train.py's loop changes, started afresh or
resumed from a checkpoint, saved, and stopped cleanly. A first reading can skip it.

train.py calls `prepare_devices` and `prepare_run` (strategy, seeds,
precision), builds the networks itself, then `open_run`, which creates the run's files or restores
its newest intact checkpoint into those networks. `Run.state()` is what a
checkpoint saves, so the two stay in step.
"""
import json
import os
import resource
import signal

import numpy as np

from machinery import checkpoint, run_files, write_failures
from machinery.options import RESUME_MAY_CHANGE, RUN_KEYS, RunError, real_images_per_step
from machinery.progress import CURVE_EVERY, plot_losses, write_metrics
from machinery.runs import lock_run_dir
from machinery.tensorboard_log import TensorBoardLog

FIXED_NOISE_SIZE = 64  # an 8x8 progress grid


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
        self.tensorboard = None  # machinery/tensorboard_log.py, once the run's folder exists

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
            if self.tensorboard:
                self.tensorboard.scalars(self.step, dict(tensorboard_tags(point), **self.learning_rates()))

    def learning_rates(self):
        """The two optimizers' current learning rates (they change with --warmup-steps)."""
        return {f"learning_rate/{name}": float(np.asarray(model.optimizer.learning_rate))
                for name, model in (("discriminator", self.discriminator), ("generator", self.gan))}

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


def open_run(plan, args, networks, strategy, jit_compile):
    """Create the run's files, or restore its newest checkpoint into `networks`
    (generator, discriminator, gan, ema), and return the Run that the loop trains."""
    import defGAN
    from machinery import devices

    run_dir, config, found = plan.run_dir, plan.config, plan.found
    generator, discriminator, gan, ema = networks
    with strategy.scope():
        devices.prepare_for_strategy(strategy, discriminator, gan)  # nothing changes on one device
        if found is not None:
            defGAN.build_optimizer_state(discriminator, gan)
    generate = defGAN.make_generate(generator, jit_compile)
    if found is None:
        if os.path.isdir(run_dir) and args.overwrite:
            run_files.remove_project_files(run_dir)
        os.makedirs(os.path.join(run_dir, "progress"), exist_ok=True)
        noise_rng = np.random.default_rng([config["seed"], 2**31])  # a stream of its own
        fixed_noise = noise_rng.standard_normal((FIXED_NOISE_SIZE, config["latent_dim"]), dtype=np.float32)
        if not args.resume or args.precision:  # a run resumed before its first checkpoint keeps its config.json
            checkpoint.atomic_write_text(os.path.join(run_dir, "config.json"), json.dumps(config, indent=1))
        run = Run(run_dir, config, generator, discriminator, gan, ema, fixed_noise, args, strategy, generate)
        run.lock, run.chief_dir = plan.lock or lock_run_dir(run_dir), plan.chief_dir
        run.tensorboard = TensorBoardLog(run_dir, step=0)
        if not plan.helper:
            print(f"new run in {run_dir}" + ("" if args.resume else " (config.json written)"), flush=True)
        return run
    path, state, fixed_noise, unfit = load_newest_that_fits(found, gan, ema, run_dir, config)
    run = Run(run_dir, config, generator, discriminator, gan, ema, fixed_noise, args, strategy, generate)
    try:
        run.restore(state)
    except (ValueError, TypeError, KeyError, IndexError) as error:  # entries edited, checksum and all
        raise RunError(f"{path}: its {checkpoint.STATE_FILE} does not fit the networks {run_dir}/config.json "
                       f"describes ({type(error).__name__}: {str(error).splitlines()[0][:120]})") from None
    for newer in checkpoint.list_checkpoints(run_dir):
        if newer > path:  # damaged, or another run's: never count or choose it again
            checkpoint.set_aside(newer, why=unfit.get(newer, ""))  # a damaged one was reported already
    run_files.remove_stale_temporaries(run_dir)  # half-written files of a killed run, and only those
    os.makedirs(os.path.join(run_dir, "progress"), exist_ok=True)  # a multi-worker helper's fresh folder lacks it
    run.lock, run.chief_dir = plan.lock, plan.chief_dir
    if args.precision and not plan.helper:  # a precision typed on resuming is the run's from now on
        checkpoint.atomic_write_text(os.path.join(run_dir, "config.json"), json.dumps(config, indent=1))
    write_metrics(run_dir, run.history)  # drops any row newer than the checkpoint
    run.tensorboard = TensorBoardLog(run_dir, run.step)  # and any TensorBoard point newer than it
    print(f"resuming {run_dir} from {path}: epoch {run.epoch}, step {run.step}", flush=True)
    return run


def load_newest_that_fits(found, gan, ema, run_dir, config):
    """Load the newest intact checkpoint of this run, `found` or an older one: (path, state,
    fixed_noise, {newer path: why it was passed over}). One copied from another run is passed
    over, whether its weights do not fit or its config differs (another seed, say); if none is
    this run's (config.json edited since, most likely), RunError, and nothing changed on disk."""
    unfit = {}
    for path, state, fixed_noise in checkpoint.intact_checkpoints(os.path.dirname(os.path.dirname(found[0])),
                                                                  report=lambda message: None):
        try:
            checkpoint.load_weights(gan, ema.model if ema else None, path, state)
        except checkpoint.CheckpointError as error:
            unfit[path] = f"its weights do not fit the networks {run_dir}/config.json describes ({error})"
            continue
        difference = config_difference(state["config"], config)
        if difference is None:
            return path, state, fixed_noise, unfit
        unfit[path] = f"it was saved with {difference}; a resumed run keeps its config"
    raise RunError(f"{found[0]}: {unfit[found[0]]}")


def config_difference(saved, config):
    """The first option that defines the run (options.RUN_KEYS) in which a checkpoint's config differs
    from config.json, in words, or None. Where the data lives and the precision may differ."""
    for key in RUN_KEYS:
        if key not in RESUME_MAY_CHANGE and key in saved and saved[key] != config.get(key):
            return f"{key} {json.dumps(saved[key])[:40]}, {key} {json.dumps(config.get(key))[:40]} in config.json"
    return None


def save_everything(run):
    """Checkpoint (all state) plus the latest weights at the top of the run dir; returns the checkpoint's path."""
    ema_model = run.ema.model if run.ema else None
    averages = [ema_model] if ema_model else []
    # A save writes the stacked model (with G's optimizer) and the average into the checkpoint, then
    # G, D (counted with its optimizer, also in the checkpoint) and the average beside it: refuse it
    # unless all that fits, before HDF5 opens a file (write_failures.py says why).
    saved = [run.gan, *averages, run.generator, run.discriminator, *averages]
    write_failures.check_free_space(run.dir, sum(map(write_failures.weights_bytes, saved)))
    path = checkpoint.save_checkpoint(run.dir, run.gan, run.fixed_noise, run.state(), keep=run.keep,
                                      ema_generator=ema_model)
    files = [(run.generator, checkpoint.GENERATOR_WEIGHTS), (run.discriminator, checkpoint.DISCRIMINATOR_WEIGHTS)]
    for network, name in files + ([(ema_model, checkpoint.EMA_WEIGHTS)] if ema_model else []):
        checkpoint.atomic_save(os.path.join(run.dir, name), network.save_weights)
    return path


def keep_if_best(run, fd):
    """Keep the generator as generator.best.weights.h5 when `fd` is its best score so far."""
    if run.best_fd is None or fd < run.best_fd:
        run.best_fd = fd
        write_failures.check_free_space(run.dir, write_failures.weights_bytes(run.sampler))
        checkpoint.atomic_save(os.path.join(run.dir, checkpoint.BEST_WEIGHTS), run.sampler.save_weights)


def tensorboard_tags(stats):
    """TensorBoard's names for the step statistics, grouped: loss/..., accuracy/..."""
    return {("accuracy/" if "acc" in key else "loss/") + key: value for key, value in stats.items()}


def write_epoch_files(run, images, row_names=None):
    """An epoch's progress grid of `images`, metrics.csv, the loss plot and its
    TensorBoard summaries; returns the grid's path."""
    from machinery.progress import PROGRESS_COLUMNS, grid_pixels, save_grid

    grid_path = os.path.join(run.dir, "progress", f"epoch_{run.epoch:04d}.png")
    checkpoint.atomic_save(grid_path, lambda temporary: save_grid(images, temporary, PROGRESS_COLUMNS, row_names))
    if "fd" in run.history[-1]:
        run.tensorboard.scalars(run.step, {"frechet_distance": run.history[-1]["fd"]})
    run.tensorboard.image(run.step, "fixed-noise grid", grid_pixels(images, PROGRESS_COLUMNS))
    write_metrics(run.dir, run.history)
    save_plot(run)
    return grid_path


def save_plot(run):
    checkpoint.atomic_save(os.path.join(run.dir, "losses.png"), lambda temporary: plot_losses(run, temporary))


class StopFlag:
    """Ctrl-C / SIGTERM once: finish the step, save, exit 0. Ctrl-C twice: exit at once.

    Exiting at once is safe because every file is written atomically (see
    checkpoint.py): at worst the unfinished epoch is lost.
    """

    def __init__(self):
        self.requested = False
        signal.signal(signal.SIGINT, self.handle)
        signal.signal(signal.SIGTERM, self.handle)

    def handle(self, signum, frame):
        if self.requested:
            os._exit(130)
        self.requested = True
        print(f"\n{signal.Signals(signum).name} received: finishing this step and saving "
            "(press Ctrl-C again to quit now)", flush=True)


def peak_memory():
    """Peak resident memory of this process, for the closing line ("MB")."""
    return f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB"  # Linux: KiB


