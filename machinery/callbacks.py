"""What a run does besides training, as Keras callbacks: train.py's loop calls them in a few places.

train.py drives a `keras.callbacks.CallbackList` of these by hand, as Keras'
own fit() does: `on_train_begin`, `on_epoch_begin`, `on_train_batch_end` after
every step (its logs: the step's losses and accuracies), `on_epoch_end` (its
logs: the epoch's fixed-noise grid) and `on_train_end`. Each callback keeps
its own records; the loop never reads them. They pass results along in the
epoch's logs, in list order, as Keras' callbacks do (the Fréchet distance
goes into the metrics row, the metrics row into the printed line).

  StopOnSignal     Ctrl-C / SIGTERM (session.StopRequests): model.stop_training, which the loop checks
  NaNGuard         a loss or a weight that is not finite ends the run (exit 3), keeping the last checkpoint
  ProgressBar      the per-epoch progress bar
  FrechetDistance  --eval-every: the generator's score, and the best generator kept
  TrainingRecord   metrics.csv, losses.png and TensorBoard's scalars
  ProgressGrids    progress/epoch_NNNN.png and TensorBoard's image
  Checkpoints      everything needed to resume exactly, and the latest weights (machinery/checkpoint.py)
"""
import os
import sys
import time

import keras
import numpy as np

from defGAN import training_warnings
from machinery import checkpoint, write_failures
from machinery.progress import ADA_STAT, CURVE_EVERY, PROGRESS_COLUMNS, STAT_NAMES, grid_pixels, plot_losses
from machinery.progress import save_grid
from machinery.progress import write_metrics

NAN_EXIT_CODE = 3
# losses.png takes about 0.4 s to draw; a small folder's epoch a few seconds. metrics.csv, with the same
# numbers, is written after every epoch; the plot at most this often, and at the end (or a stop).
PLOT_EVERY_SECONDS = 60


def log(message):
    print(message, flush=True)


class StopOnSignal(keras.callbacks.Callback):
    """Turns a Ctrl-C or SIGTERM (caught by session.StopRequests since train.py started) into
    model.stop_training, which the loop checks after every step."""

    def __init__(self, requests):
        super().__init__()
        self.requests = requests

    def on_train_begin(self, logs=None):
        self.requests.model = self.model  # a later request sets model.stop_training at once
        self.model.stop_training = self.requests.requested


def divergence(step, network, what):
    log(f"error: training diverged at step {step}: the {network} {what} is not finite.\n"
        "  The last good checkpoint is kept untouched. Usual causes: a learning rate that is too high\n"
        "  (try --lr 1e-4), or a loss/architecture change that lets the discriminator overpower the generator.")
    sys.exit(NAN_EXIT_CODE)


class NaNGuard(keras.callbacks.Callback):
    """A loss that is not finite stops the run at once, before anything more is saved."""

    def on_train_batch_end(self, step, logs=None):
        if not np.isfinite(logs["d_loss_real"] + logs["d_loss_fake"]):
            divergence(step, "discriminator", "loss")
        if not np.isfinite(logs["g_loss"]):
            divergence(step, "generator", "loss")


class ProgressBar(keras.callbacks.Callback):
    """"epoch N/M", then a bar of the epoch's steps with the latest statistics."""

    def __init__(self, steps_per_epoch, epochs):
        super().__init__()
        self.steps_per_epoch, self.epochs = steps_per_epoch, epochs

    def on_epoch_begin(self, epoch, logs=None):
        log(f"epoch {epoch + 1}/{self.epochs}")
        self.bar = keras.utils.Progbar(self.steps_per_epoch, stateful_metrics=STAT_NAMES + [ADA_STAT])
        self.done = int(logs.get("done", 0))  # > 0 when resuming in the middle of an epoch

    def on_train_batch_end(self, step, logs=None):
        self.done += 1
        self.bar.update(self.done, values=[(name, logs[name]) for name in STAT_NAMES + [ADA_STAT] if name in logs])


class FrechetDistance(keras.callbacks.Callback):
    """--eval-every N: every N epochs, the Fréchet distance of the generator (scoring/statistics.py, TrainingEvaluator)
    into the epoch's logs, and the best-scoring generator kept as generator.best.weights.h5."""

    def __init__(self, evaluator, every, sampler, run_dir, seed, best=None):
        super().__init__()
        self.evaluator, self.every, self.sampler, self.run_dir, self.seed = evaluator, every, sampler, run_dir, seed
        self.best = best  # the best distance so far, kept in checkpoints

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        logs["fd"] = round(self.evaluator(self.sampler, seed=self.seed), 3)
        if self.best is None or logs["fd"] < self.best:
            self.best = logs["fd"]
            write_failures.check_free_space(self.run_dir, write_failures.weights_bytes(self.sampler))
            checkpoint.atomic_save(os.path.join(self.run_dir, checkpoint.BEST_WEIGHTS), self.sampler.save_weights)
        log(f"  Fréchet distance {logs['fd']:.2f} ({self.evaluator.description}); best {self.best:.2f}")


# The step statistics in the order train.py's step returns them, which is the order checkpoints store them in.
# With --augment ada a step also returns its augmentation probability p (ADA_STAT), recorded alongside.
STEP_STATS = ("d_loss_real", "d_loss_fake", "d_acc_real", "d_acc_fake", "g_loss")


class TrainingRecord(keras.callbacks.Callback):
    """The run's records: each step's statistics summed into the epoch's row of metrics.csv and into the
    loss curve (a point every CURVE_EVERY steps, drawn in losses.png and sent to TensorBoard)."""

    def __init__(self, run_dir, config, steps_per_epoch, tensorboard, optimizers, state=None):
        super().__init__()
        self.run_dir, self.loss, self.steps_per_epoch = run_dir, config["loss"], steps_per_epoch
        self.tensorboard, self.optimizers = tensorboard, optimizers  # {"discriminator": optimizer, ...}
        state = state or {"epoch_sums": {}, "history": [], "window_sums": {}, "window_steps": 0, "curve": []}
        self.epoch_sums, self.history = state["epoch_sums"], state["history"]  # this epoch's sums; one row per epoch
        self.window_sums, self.window_steps, self.curve = state["window_sums"], state["window_steps"], state["curve"]
        self.plotted, self.plotted_rows = 0.0, None  # when losses.png was last drawn, and from how many rows

    def state(self):
        return {"epoch_sums": self.epoch_sums, "history": self.history, "window_sums": self.window_sums,
                "window_steps": self.window_steps, "curve": self.curve}

    def on_epoch_begin(self, epoch, logs=None):
        self.started, self.timed_steps = time.time(), 0

    def on_train_batch_end(self, step, logs=None):
        self.step, self.timed_steps, self.window_steps = step + 1, self.timed_steps + 1, self.window_steps + 1
        for key in [key for key in STEP_STATS + (ADA_STAT,) if key in logs]:
            self.epoch_sums[key] = self.epoch_sums.get(key, 0.0) + logs[key]
            self.window_sums[key] = self.window_sums.get(key, 0.0) + logs[key]
        if self.window_steps == CURVE_EVERY:
            point = {key: value / CURVE_EVERY for key, value in self.window_sums.items()}
            self.curve.append(dict(point, step=self.step))
            self.window_sums, self.window_steps = {}, 0
            rates = {f"learning_rate/{name}": float(np.asarray(optimizer.learning_rate))
                     for name, optimizer in self.optimizers.items()}  # they change with --warmup-steps
            self.tensorboard.scalars(self.step, dict(tensorboard_tags(point), **rates))

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.time() - self.started
        row = {"epoch": epoch + 1, "step": self.step}
        row.update({key: round(value / self.steps_per_epoch, 5) for key, value in self.epoch_sums.items()})
        row.update({"seconds": round(seconds, 1), "it_per_s": round(self.timed_steps / max(seconds, 1e-9), 3)})
        if "fd" in logs:
            row["fd"] = logs["fd"]
            self.tensorboard.scalars(self.step, {"frechet_distance": row["fd"]})
        self.history.append(row)
        self.epoch_sums = {}
        for warning in training_warnings(row, logs["grid"], groups=len(logs["row_names"] or [""])):
            log(f"  warning: {warning}")
        write_metrics(self.run_dir, self.history)
        if time.time() - self.plotted >= PLOT_EVERY_SECONDS:
            self.save_plot()
        logs["row"] = row

    def on_train_end(self, logs=None):
        if self.history and self.plotted_rows != len(self.history):
            self.save_plot()

    def save_plot(self):
        checkpoint.atomic_save(os.path.join(self.run_dir, "losses.png"),
                               lambda temporary: plot_losses(self.curve, self.history, self.loss, temporary))
        self.plotted, self.plotted_rows = time.time(), len(self.history)


def tensorboard_tags(stats):
    """TensorBoard's names for the step statistics, grouped: loss/..., accuracy/..., augmentation/p (ADA)."""
    return {"augmentation/p" if key == ADA_STAT else ("accuracy/" if "acc" in key else "loss/") + key: value
            for key, value in stats.items()}


class ProgressGrids(keras.callbacks.Callback):
    """Each epoch's fixed-noise grid (the loop draws it) as progress/epoch_NNNN.png and in TensorBoard."""

    def __init__(self, run_dir, tensorboard):
        super().__init__()
        self.run_dir, self.tensorboard = run_dir, tensorboard

    def on_train_batch_end(self, step, logs=None):
        self.step = step + 1

    def on_epoch_end(self, epoch, logs=None):
        images, row_names = logs["grid"], logs["row_names"]
        path = os.path.join(self.run_dir, "progress", f"epoch_{epoch + 1:04d}.png")
        checkpoint.atomic_save(path, lambda temporary: save_grid(images, temporary, PROGRESS_COLUMNS, row_names))
        self.tensorboard.image(self.step, "fixed-noise grid", grid_pixels(images, PROGRESS_COLUMNS))
        logs["grid_path"] = path


class Checkpoints(keras.callbacks.Callback):
    """Everything needed to resume exactly, at every epoch's end (and every --checkpoint-every steps, and
    when stopped): a checkpoint (machinery/checkpoint.py) and the latest weights beside it, then one line
    saying what was written. `position`: (epoch, step, epoch_steps) where the run starts."""

    def __init__(self, plan, args, models, fixed_noise, steps_per_epoch, record, frechet, position):
        super().__init__()
        self.run_dir, self.chief_dir, self.config = plan.run_dir, plan.chief_dir, plan.config
        self.keep, self.every, self.epochs = args.keep, args.checkpoint_every, args.epochs
        self.models, self.fixed_noise, self.steps_per_epoch = models, fixed_noise, steps_per_epoch
        self.record, self.frechet = record, frechet  # whose records a checkpoint holds too
        self.epoch, self.step, self.epoch_steps = position

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.epoch_steps = epoch, int(logs.get("done", 0))

    def on_train_batch_end(self, step, logs=None):
        self.step, self.epoch_steps = step + 1, self.epoch_steps + 1
        if self.every and self.step % self.every == 0 and self.epoch_steps < self.steps_per_epoch:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch, self.epoch_steps = epoch + 1, 0
        path, row = self.save(), logs["row"]
        adaptive = f"augmentation p {row[ADA_STAT]:.4f}, " if ADA_STAT in row else ""  # --augment ada
        log(f"epoch {self.epoch}: d_loss real/fake {row['d_loss_real']:.3f}/{row['d_loss_fake']:.3f}, "
            f"g_loss {row['g_loss']:.3f}, d_acc real/fake {row['d_acc_real']:.2f}/{row['d_acc_fake']:.2f}, "
            f"{adaptive}{row['it_per_s']:.2f} it/s\n  grid {logs['grid_path']}\n  metrics {self.run_dir}/metrics.csv, "
            f"plot {self.run_dir}/losses.png\n  weights {self.run_dir}/generator.weights.h5, checkpoint {path}")

    def on_train_end(self, logs=None):
        from machinery.runs import resume_command, shell_path
        from machinery.session import peak_memory

        if not self.model.stop_training:
            log(f"done: {self.epoch} epochs, {self.step} steps ({peak_memory()}). "
                f"Draw samples with: python samples.py {shell_path(self.chief_dir)}")
            return
        if self.epoch_steps:  # stopped in the middle of an epoch: save it, and show its curve
            self.save()
            self.record.save_plot()
        log(f"stopped after {self.epoch} full epochs, at step {self.step}; everything is saved ({peak_memory()}).\n"
            f"resume with: {resume_command(self.chief_dir)} --epochs {self.epochs}")

    def state(self):
        """What state.json holds besides the weights: where the run is, and every callback's records."""
        records = self.record.state()
        return {"epoch": self.epoch, "step": self.step, "epoch_steps": self.epoch_steps,
                "epoch_sums": records["epoch_sums"], "history": records["history"], "config": self.config,
                "window_sums": records["window_sums"], "window_steps": records["window_steps"],
                "curve": records["curve"], "best_fd": self.frechet.best if self.frechet else None,
                "random_state": [v.numpy().tolist() for v in random_state_variables(self.models.gan)]}

    def save(self):
        """The checkpoint plus the latest weights at the top of the run folder, once the weights are known to
        be finite; returns the checkpoint's path."""
        models = self.models
        for network in (models.generator, models.discriminator):
            if not all(np.isfinite(weight).all() for weight in network.get_weights()):
                divergence(self.step, network.name, "weights")
        averages = [models.ema.model] if models.ema else []
        # A save writes the stacked model (with G's optimizer) and the average into the checkpoint, then
        # G, D (counted with its optimizer, also in the checkpoint) and the average beside it: refuse it
        # unless all that fits, before HDF5 opens a file (write_failures.py says why).
        saved = [models.gan, *averages, models.generator, models.discriminator, *averages]
        write_failures.check_free_space(self.run_dir, sum(map(write_failures.weights_bytes, saved)))
        path = checkpoint.save_checkpoint(self.run_dir, models.gan, self.fixed_noise, self.state(), keep=self.keep,
                                          ema_generator=averages[0] if averages else None)
        files = [(models.generator, checkpoint.GENERATOR_WEIGHTS), (models.discriminator,
                                                                     checkpoint.DISCRIMINATOR_WEIGHTS)]
        for network, name in files + [(average, checkpoint.EMA_WEIGHTS) for average in averages]:
            checkpoint.atomic_save(os.path.join(self.run_dir, name), network.save_weights)
        return path


def random_state_variables(gan):
    """The state of Keras' random layers (dropout masks). Weight files do not hold it, so the
    checkpoint's state.json does: without it a resumed run would draw different dropout masks
    than an uninterrupted one."""
    return [v for v in gan.variables if "seed_generator_state" in v.path]


def run_callbacks(plan, args, models, fixed_noise, steps_per_epoch, evaluator, state, position, stop):
    """The CallbackList train.py's loop drives, in the order each epoch's results pass along.
    `state`: the checkpoint's state.json when resuming (session.open_run), else None; `position`: where the
    run starts, (epoch, step, steps done in that epoch)."""
    from machinery.tensorboard_log import TensorBoardLog

    tensorboard = TensorBoardLog(plan.run_dir, position[1])  # drops any point newer than the checkpoint
    optimizers = {"discriminator": models.discriminator.optimizer, "generator": models.gan.optimizer}
    record = TrainingRecord(plan.run_dir, plan.config, steps_per_epoch, tensorboard, optimizers, state)
    sampler = models.ema.model if models.ema else models.generator  # what users get (see ema.py)
    frechet = FrechetDistance(evaluator, args.eval_every, sampler, plan.run_dir, plan.config["seed"],
                              (state or {}).get("best_fd")) if evaluator else None
    saver = Checkpoints(plan, args, models, fixed_noise, steps_per_epoch, record, frechet, position)
    callbacks = [StopOnSignal(stop), NaNGuard(), ProgressBar(steps_per_epoch, args.epochs), frechet, record,
                 ProgressGrids(plan.run_dir, tensorboard), saver]
    return keras.callbacks.CallbackList([callback for callback in callbacks if callback], model=models.gan)
