"""Train the GAN on CIFAR-10: python train.py [--data PATH] [--out RUN_DIR] ...

Each step alternates the two halves of a GAN (see defGAN.py):
  1. the discriminator trains on a batch of real images (label 1) and on a
     batch of images the generator just made (label 0);
  2. the generator trains through the stacked model, with its images labelled 1.

Every epoch writes into the run directory:
  progress/epoch_NNNN.png  a grid from one *fixed* noise batch, so epochs compare
  metrics.csv              one row per epoch: losses, D accuracies, speed
  losses.png               the loss and accuracy curves
  generator.weights.h5, discriminator.weights.h5   the latest weights
  config.json              what rebuilds the models (read by samples.py)
  checkpoints/step-N/      everything needed to resume (see checkpoint.py)

Long runs: Ctrl-C (or SIGTERM) finishes the step, saves, prints the resume
command and exits 0; `python train.py --resume RUN_DIR` continues exactly.
"""
import argparse
import os
import signal
import sys
import time

import numpy as np

# defDATA comes before anything that loads TensorFlow (keras included): it sets
# TensorFlow's process options, which only count before TensorFlow starts.
from defDATA import make_dataset
import keras
import checkpoint
import progress
import runfiles
from defGAN import train_discriminator_step, train_generator_step
from evaluate import EvalError, TrainingEvaluator
from samples import save_grid

NAN_EXIT_CODE = 3


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Train a DCGAN on CIFAR-10 with Keras 3 train_on_batch.")
    p.add_argument("--data", help="cifar-10-python.tar.gz or cifar-10-batches-py/ folder "
                   "(default: download through Keras)")
    p.add_argument("--out", help="run directory to create (default: runs/cifar10; a temporary folder with --dry-run)")
    p.add_argument("--epochs", type=int, default=100,
                   help="total epochs; with --resume, the new total (default: 100, ~15 h on 2 CPU cores)")
    # Options that define the run. None means "not given", so --resume can
    # tell a deliberate change from a default; runfiles.RUN_DEFAULTS fills them in.
    p.add_argument("--steps-per-epoch", type=int,
                   help="cut each epoch to this many steps (default: the whole data set)")
    p.add_argument("--batch-size", type=int, help="images per step: D sees half real, half generated; "
                   "G trains on a full batch (default: 128, as the classic tutorial)")
    p.add_argument("--latent-dim", type=int, help="size of the noise vector (default: 100, as DCGAN)")
    p.add_argument("--width", type=float, help="filter-count multiplier of both networks (default: 1.0)")
    p.add_argument("--lr", type=float, help="Adam learning rate of both networks (default: 2e-4, as DCGAN)")
    p.add_argument("--beta1", type=float, help="Adam beta_1 (default: 0.5, as DCGAN)")
    p.add_argument("--seed", type=int, help="seed for weights, data order, flips, dropout and noise (default: 0)")
    p.add_argument("--classes", help="train on these classes only, e.g. 'horse', 'cat,dog' or '7' (default: all)")
    p.add_argument("--flip", action="store_const", const=True,
                   help="mirror real images at random, left to right (default: off)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its newest checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run directory at --out")
    p.add_argument("--checkpoint-every", type=int, default=0,
                   help="also checkpoint every N steps (default: 0, at epoch ends only)")
    p.add_argument("--keep", type=int, default=2, help="how many of the newest checkpoints to keep (default: 2)")
    p.add_argument("--eval-every", type=int, default=0,
                   help="every N epochs, score the generator (Fréchet distance) into metrics.csv (default: 0, never)")
    p.add_argument("--eval-samples", type=int, default=2000,
                   help="generated and real images per score; more is steadier but slower (default: 2000)")
    p.add_argument("--features", default="inception",
                   help="feature network for --eval-every: 'inception', or a .keras/.tflite file (default: inception)")
    p.add_argument("--dry-run", action="store_true",
                   help="smoke test: 2 tiny epochs of 2 steps on 256 images, into a temporary folder")
    return p.parse_args(argv)


def log(message):
    print(message, flush=True)


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
        log(f"\n{signal.Signals(signum).name} received: finishing this step and saving (press Ctrl-C again to quit now)")


def all_finite(model):
    return all(np.isfinite(weight).all() for weight in model.get_weights())


def divergence(step, network, losses):
    log(f"error: training diverged at step {step}: the {network} {losses} is not finite.\n"
        "  The last good checkpoint is kept untouched. Usual causes: a learning rate that is too high\n"
        "  (try --lr 1e-4), or a loss/architecture change that lets the discriminator overpower the generator.")
    sys.exit(NAN_EXIT_CODE)


def make_evaluator(args, config):
    """The in-training scorer for --eval-every, or None. Computes the reference now, so
    a bad --features or --eval-samples is refused before training starts."""
    if args.eval_every <= 0:
        return None
    return TrainingEvaluator(args.features, args.eval_samples, config["data"])


def train_step(run, images, step):
    """One GAN iteration; returns its statistics as a dict."""
    # The noise of step N depends only on (seed, N): a resumed run draws the same.
    rng = np.random.default_rng([run.config["seed"], step])
    latent_dim, batch_size = run.config["latent_dim"], run.config["batch_size"]
    # As in the classic tutorial, D sees half a batch of real and half of fake
    # images, and G trains on a full batch.
    noise_for_fakes = rng.standard_normal((len(images), latent_dim), dtype=np.float32)
    noise_for_generator = rng.standard_normal((batch_size, latent_dim), dtype=np.float32)
    # predict_on_batch runs the compiled forward pass once, without predict()'s
    # per-call dataset and callback machinery (much slower inside a loop).
    fakes = run.generator.predict_on_batch(noise_for_fakes)
    stats = train_discriminator_step(run.discriminator, images, fakes)
    if not np.isfinite(stats["d_loss_real"] + stats["d_loss_fake"]):
        divergence(step, "discriminator", "loss")
    stats["g_loss"] = train_generator_step(run.gan, run.discriminator, noise_for_generator)
    if not np.isfinite(stats["g_loss"]):
        divergence(step, "generator", "loss")
    return stats


def save_everything(run):
    """Checkpoint (all state) plus the latest weights at the top of the run dir."""
    for network in (run.generator, run.discriminator):
        if not all_finite(network):
            divergence(run.step, network.name, "weights")
    path = checkpoint.save_checkpoint(run.dir, run.gan, run.fixed_noise, run.state(), keep=run.keep)
    for network in (run.generator, run.discriminator):
        target = os.path.join(run.dir, f"{network.name}.weights.h5")
        checkpoint.atomic_save(target, network.save_weights)
    return path


def save_plot(run):
    checkpoint.atomic_save(os.path.join(run.dir, "losses.png"), lambda temporary: progress.plot_losses(run, temporary))


def end_of_epoch(run, seconds, timed_steps):
    """Grid, metrics row, loss plot, weights and checkpoint for a finished epoch."""
    row = {"epoch": run.epoch, "step": run.step}
    row.update({key: round(value / run.epoch_steps, 5) for key, value in run.epoch_sums.items()})
    row.update({"seconds": round(seconds, 1), "it_per_s": round(timed_steps / max(seconds, 1e-9), 3)})
    if run.evaluator and run.epoch % run.eval_every == 0:
        row["fd"] = round(run.evaluator(run.generator, seed=run.config["seed"]), 3)
        if run.best_fd is None or row["fd"] < run.best_fd:  # keep the best-scoring generator too
            run.best_fd = row["fd"]
            checkpoint.atomic_save(os.path.join(run.dir, "generator.best.weights.h5"), run.generator.save_weights)
        log(f"  Fréchet distance {row['fd']:.2f} ({run.evaluator.description}); best {run.best_fd:.2f}")
    run.history.append(row)
    run.epoch_sums, run.epoch_steps = {}, 0
    grid_path = os.path.join(run.dir, "progress", f"epoch_{run.epoch:04d}.png")
    images = run.generator.predict_on_batch(run.fixed_noise)
    checkpoint.atomic_save(grid_path, lambda temporary: save_grid(images, temporary, columns=8))
    progress.write_metrics(run.dir, run.history)
    save_plot(run)
    path = save_everything(run)
    log(f"epoch {run.epoch}: d_loss real/fake {row['d_loss_real']:.3f}/{row['d_loss_fake']:.3f}, "
        f"g_loss {row['g_loss']:.3f}, d_acc real/fake {row['d_acc_real']:.2f}/{row['d_acc_fake']:.2f}, "
        f"{row['it_per_s']:.2f} it/s\n  grid {grid_path}\n  metrics {run.dir}/metrics.csv, "
        f"plot {run.dir}/losses.png\n  weights {run.dir}/generator.weights.h5, checkpoint {path}")


def train(run, images, stop):
    """The training loop: epochs of steps, saving as it goes."""
    steps = run.steps_per_epoch(len(images))
    while run.epoch < run.target_epochs:
        done_before = run.epoch_steps  # > 0 only when resuming in the middle of an epoch
        dataset = make_dataset(images, run.config["batch_size"] // 2, run.config["seed"], epoch=run.epoch,
                               flip=run.config["flip"], skip_batches=done_before)
        log(f"epoch {run.epoch + 1}/{run.target_epochs}")
        bar = keras.utils.Progbar(steps, stateful_metrics=progress.STAT_NAMES)
        started = time.time()
        for batch in dataset.take(steps - done_before):
            stats = train_step(run, batch, run.step)
            run.step, run.epoch_steps = run.step + 1, run.epoch_steps + 1
            run.record(stats)
            bar.update(run.epoch_steps, values=list(stats.items()))
            if stop.requested and run.epoch_steps < steps:
                break
            if run.checkpoint_every and run.step % run.checkpoint_every == 0 and run.epoch_steps < steps:
                save_everything(run)
        if run.epoch_steps == steps:
            run.epoch += 1
            end_of_epoch(run, time.time() - started, timed_steps=steps - done_before)
        if stop.requested:
            if run.epoch_steps:  # stopped in the middle of an epoch: save it, and show its curve
                save_everything(run)
                save_plot(run)
            log(f"stopped after {run.epoch} full epochs, at step {run.step}; everything is saved.\n"
                f"resume with: {runfiles.resume_command(run.dir)} --epochs {run.target_epochs}")
            return
    log(f"done: {run.epoch} epochs, {run.step} steps. Draw samples with: python samples.py {run.dir}")


def main(argv=None):
    args = parse_args(argv)
    stop = StopFlag()
    try:
        plan = runfiles.check_run(args)  # refuses bad input before anything is written
        evaluator = make_evaluator(args, plan.config)
        run = runfiles.start_run(plan, args)
    except (runfiles.RunError, EvalError) as error:
        sys.exit(f"error: {error}")
    run.evaluator, images = evaluator, plan.images
    try:
        train(run, images, stop)
    except OSError as error:  # e.g. the disk filled up: every file written so far is complete
        sys.exit(f"error: could not write to {run.dir} ({error.strerror or error}); the last complete "
                 f"checkpoint is intact. Free some space, then: {runfiles.resume_command(run.dir)}")


if __name__ == "__main__":
    main()
