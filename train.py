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
  generator.ema.weights.h5 their moving average (--ema), what samples.py draws from
  checkpoints/step-NNNNNNNN/  everything needed to resume (machinery/checkpoint.py)

What is trained, and how, comes from a preset (presets.py; the default is
the best measured) with any flag on top: losses, normalization, augmentation,
weight averaging, learning rates (see README, "Options"). Where it runs:
precision, XLA and tf.distribute (machinery/devices.py). The run folder's
bookkeeping is machinery/runs.py (checking options and paths) and
machinery/session.py (starting, resuming, saving, stopping), called in one
line each.

Long runs: Ctrl-C (or SIGTERM) finishes the step, saves, prints the resume
command and exits 0; `python train.py --resume RUN_DIR --epochs N` continues exactly.
"""
import argparse
import sys
import time

import numpy as np

import machinery.tensorflow_settings  # noqa: F401  first: before TensorFlow loads
# None of these load TensorFlow, which takes seconds to start and prints lines
# of its own: main() checks the command line first, so that a mistake is
# answered at once, and only then loads TensorFlow (in start()).
# The functions below that run TensorFlow import it (or defGAN, keras) inside.
from defDATA import make_dataset, trained_classes
from evaluate import EvalError, TrainingEvaluator
from scoring.features import DEFAULT_FEATURES, FEATURE_CHOICES
from machinery import progress, runs, session, write_failures
from machinery.options import PRECISIONS, ArgumentParser, RunError, add_device_arguments, one_line, real_images_per_step
from presets import ARCHITECTURES, CLASSIC, DEFAULT_PRESET, LOSSES, PRESETS
from samples import fixed_noise_grid

NAN_EXIT_CODE = 3


def parse_args(argv=None):
    p = ArgumentParser(description="Train a DCGAN on CIFAR-10 with Keras 3 train_on_batch.")
    p.add_argument("--data", help="cifar-10-python.tar.gz or cifar-10-batches-py/ folder "
                   "(default: the official archive, downloaded once into ~/.keras/datasets)")
    p.add_argument("--out", help="run directory to create (default: runs/cifar10; a temporary folder with --dry-run)")
    p.add_argument("--epochs", type=int, default=100,
                   help="total epochs; with --resume, the new total (default: 100, ~8 h on 2 CPU cores "
                   "with the default preset)")
    # Options that define the run. None means "not given": the preset fills it
    # in, and --resume can tell a deliberate change from a default. Their
    # values come from one table, presets.py, which the help quotes.
    p.add_argument("--preset", help=f"named configuration, see presets.py: {', '.join(PRESETS)}; "
                   f"flags below override it (default: {DEFAULT_PRESET}, the best measured)")
    p.add_argument("--steps-per-epoch", type=int,
                   help="cut each epoch to this many steps (default: the whole data set)")
    p.add_argument("--batch-size", type=int, help="images per update: each D update sees half real, half "
                   f"generated images; G trains on a full batch {preset_default('batch_size')}")
    p.add_argument("--architecture", choices=ARCHITECTURES,
                   help=f"network pair: the Keras tutorial's, or SNGAN's standard CNN {preset_default('architecture')}")
    p.add_argument("--latent-dim", type=int, help=f"size of the noise vector {preset_default('latent_dim')}")
    p.add_argument("--width", type=float, help=f"filter-count multiplier of both networks {preset_default('width')}")
    p.add_argument("--loss", choices=LOSSES, help=f"GAN loss, see losses.py {preset_default('loss')}")
    p.add_argument("--batch-norm", action=argparse.BooleanOptionalAction,
                   help=f"batch normalization in the generator {preset_default('batch_norm')}")
    p.add_argument("--conditional", action=argparse.BooleanOptionalAction,
                   help="class-conditional GAN: G draws the class it is given, D is a projection discriminator; "
                   f"the classes are CIFAR-10's numbers 0-9, also with --classes {preset_default('conditional')}")
    p.add_argument("--spectral-norm", action=argparse.BooleanOptionalAction,
                   help=f"spectral normalization of every discriminator layer {preset_default('spectral_norm')}")
    p.add_argument("--dropout", type=float, help=f"discriminator dropout rate, 0 for none {preset_default('dropout')}")
    p.add_argument("--label-smoothing", type=float,
                   help=f"one-sided: D's real label becomes 1 - this, e.g. 0.1 {preset_default('label_smoothing')}")
    p.add_argument("--augment", help="DiffAugment on D's input, comma-separated from color,translation,cutout; "
                   f"'' for none {preset_default('augment')}")
    p.add_argument("--lr", type=float, help="Adam learning rate of both networks (default: --lr-d's and --lr-g's)")
    p.add_argument("--lr-d", type=float, help=f"discriminator learning rate, overrides --lr {preset_default('lr_d')}")
    p.add_argument("--lr-g", type=float, help=f"generator learning rate, overrides --lr {preset_default('lr_g')}")
    p.add_argument("--beta1", type=float, help=f"Adam beta_1 {preset_default('beta1')}")
    p.add_argument("--beta2", type=float, help=f"Adam beta_2 {preset_default('beta2')}")
    p.add_argument("--d-steps", type=int, help="discriminator updates per generator update, each on new "
                   f"real images {preset_default('d_steps')}")
    p.add_argument("--warmup-steps", type=int, help="raise the learning rates linearly from 0 over this many "
                   f"updates {preset_default('warmup_steps')}")
    p.add_argument("--ema", type=float, help="decay of the generator's weight average, e.g. 0.999; "
                   f"0 turns it off {preset_default('ema')}")
    p.add_argument("--seed", type=int, help="seed for weights, data order, flips, dropout and noise "
                   f"(default: {CLASSIC['seed']})")
    p.add_argument("--classes", help="train on these classes only, e.g. 'horse', 'cat,dog' or '7' (default: all)")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction,
                   help=f"mirror real images at random, left to right {preset_default('flip')}")
    p.add_argument("--precision", choices=["auto", *PRECISIONS], help="float32, or Keras mixed precision "
                   "(16-bit compute, float32 weights); auto: bfloat16 on a CPU with avx512_bf16 or amx_bf16, "
                   "float16 on a GPU of compute capability 7.0+, bfloat16 on a TPU, else float32 "
                   f"(default: {CLASSIC['precision']}; a resumed run keeps the precision it started with)")
    # How to run: may change when resuming.
    add_device_arguments(p)  # --jit-compile, --strategy, --cpu-replicas (machinery/options.py)
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its newest checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run directory at --out")
    p.add_argument("--checkpoint-every", type=int, default=0,
                   help="also checkpoint every N steps (default: 0, at epoch ends only)")
    p.add_argument("--keep", type=int, default=2, help="how many of the newest checkpoints to keep (default: 2)")
    p.add_argument("--eval-every", type=int, default=0,
                   help="every N epochs, score the generator (Fréchet distance) into metrics.csv (default: 0, never)")
    p.add_argument("--eval-samples", type=int, default=2000,
                   help="generated and real images per score; more is steadier but slower (default: 2000)")
    p.add_argument("--features", default=DEFAULT_FEATURES,
                   help=f"feature network for --eval-every: {FEATURE_CHOICES} (default: {DEFAULT_FEATURES})")
    p.add_argument("--dry-run", action="store_true",
                   help="smoke test: 2 tiny epochs of 2 steps on 256 images, into a temporary folder")
    return p.parse_args(argv)


def preset_default(key):
    """How a run option's help states its default: the preset's value, quoted from presets.py."""
    return f"(default: from the preset; {DEFAULT_PRESET}: {PRESETS[DEFAULT_PRESET][key]!r}, classic: {CLASSIC[key]!r})"


def log(message):
    print(message, flush=True)


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
    return TrainingEvaluator(args.features, args.eval_samples, config["data"], trained_classes(config))


def build_networks(config, strategy, jit_compile):
    """The networks of the run, built and compiled: (generator, discriminator, gan, ema)."""
    import defGAN
    from ema import GeneratorEMA

    with strategy.scope():  # under tf.distribute every variable is made once per replica (machinery/devices.py)
        # G: noise (and class) -> image; D: image (and class) -> "is it real?"
        generator, discriminator = defGAN.build_models(config)
        gan = defGAN.define_gan(generator, discriminator, config, jit_compile)  # compiles D, and D(G(noise))
        ema = GeneratorEMA(generator, config["ema"]) if config["ema"] else None  # G's weight average (ema.py)
    return generator, discriminator, gan, ema


def start(plan, args, strategy, jit_compile):
    """Seeds, precision, the networks, the run's files: the Run that the loop trains."""
    from machinery.devices import check_batch_split

    check_batch_split(strategy, plan.config, args.strategy)  # the replicas TensorFlow found share the batch
    session.prepare_run(plan, args, strategy, jit_compile)  # the same seed gives the same run (machinery/session.py)
    networks = build_networks(plan.config, strategy, jit_compile)
    return session.open_run(plan, args, networks, strategy, jit_compile)  # a new run's files, or its checkpoint


def train_step(run, batch, step):
    """One GAN iteration, its two halves in turn; returns its statistics.

    With x a real image and z noise (--loss bce; losses.py has the others):
      1. D maximizes  log D(x) + log(1 - D(G(z)))   it learns to tell real from generated;
      2. G maximizes  log D(G(z))                    it learns to make D say "real".
    A conditional GAN (--conditional) writes D(x, y) and G(z, y) for class y:
    real images come with their own class, generated ones with the class G was asked for.
    D takes d_steps updates, each on new real images, before G takes one.
    """
    from defGAN import clip_value, generator_inputs, train_discriminator_step, train_generator_step
    import keras

    # The noise of step N depends only on (seed, N): a resumed run draws the same.
    rng = np.random.default_rng([run.config["seed"], step])
    config = run.config
    real_label, clip = 1.0 - config["label_smoothing"], clip_value(config)
    images, real_classes = batch if config["conditional"] else (batch, None)
    # As in the classic tutorial, D sees half a batch of real and half of fake
    # images per update, and G trains on a full batch.
    sums = {}
    d_steps = config["d_steps"]
    class_parts = keras.ops.split(real_classes, d_steps) if config["conditional"] else [None] * d_steps
    for real, classes_of_real in zip(keras.ops.split(images, d_steps), class_parts):
        noise, fake_classes = generator_inputs(config, len(real), rng)
        fakes = run.generate(noise, fake_classes)
        stats = train_discriminator_step(run.discriminator, real, fakes, real_label, clip,
                                         classes_of_real, fake_classes)
        sums = {key: sums.get(key, 0.0) + value / d_steps for key, value in stats.items()}
    if not np.isfinite(sums["d_loss_real"] + sums["d_loss_fake"]):
        divergence(step, "discriminator", "loss")
    noise, classes = generator_inputs(config, config["batch_size"], rng)
    sums["g_loss"] = train_generator_step(run.gan, run.discriminator, noise, classes)
    if not np.isfinite(sums["g_loss"]):
        divergence(step, "generator", "loss")
    if run.ema:
        run.ema.update(step + 1)  # step + 1 generator updates so far
    return sums


def save(run):
    """Everything (machinery/session.py), once the weights are known to be finite."""
    for network in (run.generator, run.discriminator):
        if not all_finite(network):
            divergence(run.step, network.name, "weights")
    return session.save_everything(run)


def end_of_epoch(run, seconds, timed_steps):
    """Grid, metrics row, loss plot, weights and checkpoint for a finished epoch."""
    row = {"epoch": run.epoch, "step": run.step}
    row.update({key: round(value / run.epoch_steps, 5) for key, value in run.epoch_sums.items()})
    row.update({"seconds": round(seconds, 1), "it_per_s": round(timed_steps / max(seconds, 1e-9), 3)})
    if run.evaluator and run.epoch % run.eval_every == 0:
        row["fd"] = round(run.evaluator(run.sampler, seed=run.config["seed"]), 3)
        session.keep_if_best(run, row["fd"])  # the best-scoring generator, as generator.best.weights.h5
        log(f"  Fréchet distance {row['fd']:.2f} ({run.evaluator.description}); best {run.best_fd:.2f}")
    run.history.append(row)
    run.epoch_sums, run.epoch_steps = {}, 0
    # The same noise every epoch, so the grids compare; one row per class for a conditional GAN.
    images, row_names = fixed_noise_grid(run.sampler, run.fixed_noise, trained_classes(run.config))
    for warning in progress.training_warnings(row, images, groups=len(row_names or [""])):
        log(f"  warning: {warning}")
    grid_path = session.write_epoch_files(run, images, row_names)  # the progress grid, metrics.csv, losses.png
    path = save(run)
    log(f"epoch {run.epoch}: d_loss real/fake {row['d_loss_real']:.3f}/{row['d_loss_fake']:.3f}, "
        f"g_loss {row['g_loss']:.3f}, d_acc real/fake {row['d_acc_real']:.2f}/{row['d_acc_fake']:.2f}, "
        f"{row['it_per_s']:.2f} it/s\n  grid {grid_path}\n  metrics {run.dir}/metrics.csv, "
        f"plot {run.dir}/losses.png\n  weights {run.dir}/generator.weights.h5, checkpoint {path}")


def train(run, images, classes, stop):
    """The training loop: epochs of steps, saving as it goes. `classes`: each image's class number."""
    import keras

    steps = run.steps_per_epoch(len(images))
    while run.epoch < run.target_epochs:
        done_before = run.epoch_steps  # > 0 only when resuming in the middle of an epoch
        dataset = make_dataset(images, real_images_per_step(run.config), run.config["seed"], epoch=run.epoch,
                               flip=run.config["flip"], skip_batches=done_before,
                               classes=classes if run.config["conditional"] else None)
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
                save(run)
        if run.epoch_steps == steps:
            run.epoch += 1
            end_of_epoch(run, time.time() - started, timed_steps=steps - done_before)
        if stop.requested:
            if run.epoch_steps:  # stopped in the middle of an epoch: save it, and show its curve
                save(run)
                session.save_plot(run)
            log(f"stopped after {run.epoch} full epochs, at step {run.step}; everything is saved "
                f"({session.peak_memory()}).\n"
                f"resume with: {runs.resume_command(run.chief_dir)} --epochs {run.target_epochs}")
            return
    log(f"done: {run.epoch} epochs, {run.step} steps ({session.peak_memory()}). "
        f"Draw samples with: python samples.py {runs.shell_path(run.chief_dir)}")


def main(argv=None):
    args = parse_args(argv)
    stop = session.StopFlag()
    try:
        plan = runs.check_run(args)  # refuses bad input before anything is written, and before TensorFlow loads
        if stop.requested:  # Ctrl-C while the data was loading
            sys.exit("stopped before the run started; nothing was written")
        strategy, jit_compile = session.prepare_devices(args)  # TensorFlow loads here
        evaluator = make_evaluator(args, plan.config)
        run = start(plan, args, strategy, jit_compile)
    except (RunError, EvalError) as error:
        sys.exit(f"error: {one_line(error)}")
    except OSError as error:  # a disk that filled up, or a folder made read-only, while the run was starting
        sys.exit(write_failures.describe(error, args.resume or args.out, "run this command again"))
    if stop.requested:  # Ctrl-C while starting: the run folder holds its config, and no training was lost
        log(f"stopped before the first step; resume with: {runs.resume_command(run.chief_dir)} "
            f"--epochs {run.target_epochs}")
        return
    # The data: CIFAR-10 images as uint8 and their classes, read and checked by defDATA.load_cifar10 in check_run.
    images, classes = plan.images, plan.classes
    run.evaluator = evaluator
    with write_failures.failures_in_one_line(run, plan, args):  # a full disk, a dead worker: one line, nothing lost
        train(run, images, classes, stop)


if __name__ == "__main__":
    main()
