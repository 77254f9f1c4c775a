"""Train a GAN on CIFAR-10, or your own pictures, with Keras 3: python train.py [--preset NAME] [--data PATH] ...

Read it top to bottom: main() is the whole recipe, in order, and each function after it zooms in.
  1. The options: a preset from presets.py, with any flag typed on top.
  2. The data: CIFAR-10's training images, or a --data folder of pictures (defDATA.py).
  3. The networks (build_networks): G (gene_keras.py) and D (discri_keras.py),
     and the stacked model gan = D(G(z)) through which G learns (defGAN.py).
  4. The loop (train): every step (train_step) trains D on real and generated
     images (train_discriminator_step), then G through the stacked model
     (train_generator_step), and with --augment ada moves the probability of
     D's augmentations (augment.py); every epoch draws a grid from one fixed batch of
     noise, so the grids show G's progress (that of its weight average, with
     --ema as in the default preset).

What is not about GANs enters through Keras callbacks (machinery/callbacks.py),
which the loop calls at a few places: checkpoints and exact resume,
metrics.csv and the loss plot, the progress grids' files, TensorBoard, the
in-training Fréchet distance (how far generated images' feature statistics
are from real ones'; lower is better), and a stop when a loss is not finite.
The loop reads nothing of theirs but gan.stop_training, which Ctrl-C sets, as
Keras' own fit() checks it (the callbacks' model is gan).
Every epoch writes into the run directory:
  progress/epoch_NNNN.png  the fixed-noise grid, so epochs compare
  metrics.csv, losses.png  one row per epoch (losses, D accuracies, speed), and their curves
  generator.weights.h5, discriminator.weights.h5   the latest weights
  generator.ema.weights.h5 their moving average (--ema), what samples.py draws from
  config.json              the options, which rebuild the networks (samples.py reads it)
  checkpoints/step-NNNNNNNN/  everything needed to resume (machinery/checkpoint.py)

Long runs: Ctrl-C (or SIGTERM) finishes the step, saves, prints the resume
command and exits 0; `python train.py --resume RUN_DIR --epochs N` continues exactly.
"""
import collections
import sys

import numpy as np

import machinery.tensorflow_settings  # noqa: F401  first: before TensorFlow loads
# None of these load TensorFlow, which takes seconds to start and prints lines of its own: main() checks the
# command line and the data first, so that a mistake is answered at once. TensorFlow loads in step 3.
from defDATA import (DataError, class_names, load_data, make_dataset, real_images_per_step, steps_per_epoch,
                     trained_classes)
from scoring.statistics import EvalError, TrainingEvaluator
from machinery import runs, session, write_failures
from machinery.options import ArgumentParser, RunError, one_line
from presets import ADAPTIVE, OptionError, add_run_options, run_config
from samples import fixed_noise_grid

FIXED_NOISE_SIZE = 64  # the progress grid: 8 x 8 images from 64 noise vectors (conditional: the first 8,
#                        the same in every class's row)
# What a training step needs: the networks, G's weight average, G as a compiled function, and the options.
# `ada`: with --augment ada, the controller of D's augmentation probability (augment.py), else None.
Models = collections.namedtuple("Models", "generator discriminator gan ema generate config ada", defaults=[None])


def main(argv=None):
    args = parse_args(argv)
    stop = session.StopRequests()  # from now on, Ctrl-C finishes the step, saves and exits
    try:
        # 1. The options: the preset's, with every flag typed on top (presets.py); --resume: the run's own.
        if args.dry_run:
            runs.apply_dry_run(args)  # tiny epochs, into a temporary folder
        config = runs.resume_config(args) if args.resume else run_config(args)
        plan = runs.check_run(args, config)  # the options and the run folder, checked: nothing is written yet
        # 2. The data: CIFAR-10's training images, or a folder of pictures (decoded once, then cached),
        #    uint8 [N, size, size, 3], and each one's class number (of the classes the run trains on: all
        #    unless --classes).
        images, image_classes = load_data(config["data"], classes=config["classes"], image_size=config["image_size"])
        if args.dry_run:
            images, image_classes = images[:runs.DRY_RUN["images"]], image_classes[:runs.DRY_RUN["images"]]
        runs.check_enough_images(config, len(images))
        if stop.requested:  # Ctrl-C while the data was loading
            sys.exit("stopped before the run started; nothing was written")
        # 3. The networks. TensorFlow loads here; where the run trains (machinery/devices.py) comes first.
        strategy, jit_compile = session.prepare_devices(args)
        evaluator = TrainingEvaluator(args.features, args.eval_samples, config["data"], config["image_size"],
                                      trained_classes(config)) \
            if args.eval_every else None  # computes its reference now, so a bad --features stops us here
        session.prepare_run(plan, args, strategy, jit_compile)  # the seed (the same seed, the same run), precision
        models = build_networks(config, strategy, jit_compile)  # G, D and the stacked gan = D(G(z))
        state = session.open_run(plan, args, models, strategy)  # new files, or the checkpoint loaded into models
    except (RunError, OptionError, DataError, EvalError) as error:
        sys.exit(f"error: {one_line(error)}")
    except OSError as error:  # a disk that filled up, or a folder made read-only, while the run was starting
        sys.exit(write_failures.describe(error, args.resume or args.out, "run this command again"))
    if stop.requested:  # Ctrl-C while starting: the run folder holds its config, and no training was lost
        print(f"stopped before the first step; resume with: {runs.resume_command(plan.chief_dir)} "
              f"--epochs {args.epochs}", flush=True)
        return
    # 4. The loop. The fixed noise: one batch of z ~ N(0, 1), drawn from the seed by a stream of its own, so
    # a resumed run draws the very same, and its grids go on comparing with the earlier ones.
    from defGAN import sample_noise
    from machinery.callbacks import run_callbacks

    # [seed, 2**31]: a key no step reaches, so it never repeats a training step's noise ([seed, step]).
    fixed_noise = sample_noise(np.random.default_rng([config["seed"], 2**31]), FIXED_NOISE_SIZE, config["latent_dim"])
    # Where to start: (epoch, global step, steps already done in that epoch); (0, 0, 0) for a new run.
    position = (state["epoch"], state["step"], state["epoch_steps"]) if state else (0, 0, 0)
    steps = steps_per_epoch(config, len(images))
    callbacks = run_callbacks(plan, args, models, fixed_noise, steps, evaluator, state, position, stop)
    with write_failures.failures_in_one_line(plan, args):  # a full disk, a dead worker: one line, nothing lost
        train(models, images, image_classes, fixed_noise, position, args.epochs, callbacks)


def build_networks(config, strategy, jit_compile):
    """The run's networks, built and compiled (defGAN.py), in the strategy's scope: Models."""
    import defGAN
    from augment import AdaptiveAugmentation
    from ema import GeneratorEMA
    from machinery.devices import prepare_for_strategy

    with strategy.scope():  # under tf.distribute every variable is made once per replica (machinery/devices.py)
        # G: noise (and class) -> image; D: image (and class) -> "is it real?"
        generator, discriminator = defGAN.build_models(config)
        gan = defGAN.define_gan(generator, discriminator, config, jit_compile)  # compiles D, and D(G(noise))
        ema = GeneratorEMA(generator, config["ema"]) if config["ema"] else None  # G's weight average (ema.py)
        # --augment ada: p, the probability of each augmentation, adapts to how sure D is of the real images.
        adaptive = config["augment"] == ADAPTIVE
        ada = AdaptiveAugmentation(discriminator, real_images_per_step(config)) if adaptive else None
        # Under --strategy, Keras' train_on_batch gives every replica the whole batch: this hands each its
        # share instead (machinery/devices.py says how). On one device it changes nothing.
        prepare_for_strategy(strategy, discriminator, gan)
    return Models(generator, discriminator, gan, ema, defGAN.make_generate(generator, jit_compile), config, ada)


def train(models, images, image_classes, fixed_noise, position, epochs, callbacks):
    """The training loop: epochs of steps, from `position` (epoch, global step, steps done in that epoch) to
    `epochs`. `image_classes`: each image's class number. The callbacks save as it goes."""
    config, gan = models.config, models.gan
    sampler = models.ema.model if models.ema else models.generator  # what users get: the average, if kept
    steps = steps_per_epoch(config, len(images))
    epoch, step, epoch_steps = position
    callbacks.on_train_begin()
    while epoch < epochs and not gan.stop_training:
        # This epoch's batches of real images, shuffled by (seed, epoch): a resumed run skips what it trained
        # on. Each batch holds batch_size // 2 * d_steps real images: every D update pairs batch_size // 2
        # of them with as many fakes.
        dataset = make_dataset(images, real_images_per_step(config), config["seed"], epoch=epoch,
                               flip=config["flip"], skip_batches=epoch_steps,
                               classes=image_classes if config["conditional"] else None)
        callbacks.on_epoch_begin(epoch, {"done": epoch_steps})
        for batch in dataset.take(steps - epoch_steps):
            stats = train_step(models, batch, step)
            # `step` counts from the run's start (fit() would pass the batch's index within the epoch).
            callbacks.on_train_batch_end(step, stats)  # progress bar, records, NaN guard, --checkpoint-every
            step, epoch_steps = step + 1, epoch_steps + 1
            if gan.stop_training and epoch_steps < steps:
                break  # Ctrl-C: on_train_end saves this step
        if epoch_steps < steps:
            break  # stopped in the middle of an epoch: no grid and no epoch end for a partial epoch
        # The same noise every epoch, so the grids compare; one row per class for a conditional GAN.
        grid, row_names = fixed_noise_grid(sampler, fixed_noise, trained_classes(config), class_names(config))
        # Fréchet distance (--eval-every), metrics.csv, losses.png, the grid's PNG, the checkpoint.
        callbacks.on_epoch_end(epoch, {"grid": grid, "row_names": row_names})
        epoch, epoch_steps = epoch + 1, 0
    callbacks.on_train_end()


def train_step(models, batch, step):
    """One GAN iteration: D takes d_steps updates, each on new real images, then G takes one.

    A conditional GAN (--conditional) writes D(x, y) and G(z, y) for class y: real images come with
    their own class, generated ones with the class G was asked for. --loss other than bce: losses.py.
    """
    import keras

    from defGAN import clip_value, generator_inputs

    config, d_steps = models.config, models.config["d_steps"]
    rng = np.random.default_rng([config["seed"], step])  # step N's noise depends only on (seed, N): resumable
    images, real_classes = batch if config["conditional"] else (batch, None)
    # As in the classic tutorial, D sees half a batch of real and half of generated images per update.
    class_parts = keras.ops.split(real_classes, d_steps) if config["conditional"] else [None] * d_steps
    sums = {}  # D's statistics, averaged over its d_steps updates
    for real, classes_of_real in zip(keras.ops.split(images, d_steps), class_parts):
        noise, fake_classes = generator_inputs(config, len(real), rng)  # z ~ N(0, 1), and classes to draw
        fakes = models.generate(noise, fake_classes)
        stats = train_discriminator_step(models.discriminator, real, fakes, 1.0 - config["label_smoothing"],
                                         clip_value(config), classes_of_real, fake_classes)
        sums = {key: sums.get(key, 0.0) + value / d_steps for key, value in stats.items()}
    noise, classes = generator_inputs(config, config["batch_size"], rng)  # G trains on a full batch
    sums["g_loss"] = train_generator_step(models.gan, models.discriminator, noise, classes)
    if models.ema:
        models.ema.update(step + 1)  # the average of G's weights, after step + 1 generator updates (ema.py)
    if models.ada:  # --augment ada: more augmentation while D is too sure of the real images, less when not
        sums["augment_p"] = models.ada.update(step, sums["d_acc_real"])  # p for the next steps (augment.py)
    return sums


def train_discriminator_step(discriminator, real_images, fake_images, real_label=1.0, clip=0.0,
                             real_classes=None, fake_classes=None):
    """With --loss bce (the default; others: losses.py), D maximizes  log D(x) + log(1 - D(G(z))):  one
    update on real images x (label 1) and fakes G(z) (label 0). A conditional D also gets each image's
    class. The fakes are plain tensors here, so D's step computes no gradient for G. Returns each half's
    loss and accuracy."""
    from defGAN import clip_weights, discriminator_batch

    inputs, targets = discriminator_batch(real_images, fake_images, real_label, real_classes, fake_classes)
    # FREEZING, part 1. Keras 3 captures a model's trainable variables when it first traces
    # train_on_batch. Had D.trainable been False then (the classic recipe "compile D; D.trainable = False;
    # build the GAN" leaves it so), this call would silently update nothing, ever: so set it every time.
    discriminator.trainable = True
    # The result's keys are the names of the metric functions (losses.discriminator_metrics): each half of the
    # batch, real and generated, on its own.
    result = discriminator.train_on_batch(inputs, targets, return_dict=True)
    if clip:  # --loss wasserstein without spectral norm: the original WGAN's weight clipping
        clip_weights(discriminator, clip)
    return {"d_loss_real": float(result["loss_real"]), "d_loss_fake": float(result["loss_fake"]),
            "d_acc_real": float(result["acc_real"]), "d_acc_fake": float(result["acc_fake"])}


def train_generator_step(gan, discriminator, noise, classes=None):
    """With --loss bce, G maximizes  log D(G(z)):  one update through the stacked model gan = D(G(z)), its
    images labelled *real* (1), so G is rewarded when D is fooled. This is the "non-saturating" loss, which
    gives G strong gradients early on, when D easily rejects its images. Returns G's loss."""
    from defGAN import REAL, labels

    # FREEZING, part 2. Inside the stacked model D must not learn: "call these fakes real" would teach D to
    # accept fakes. trainable = False before the GAN's step keeps D's weights bit for bit (tests/test_freezing.py
    # checks it). As in part 1, only the flag at the first trace counts; setting it every step keeps it right
    # whatever ran before. D still runs with training=True inside gan (dropout and DiffAugment act): frozen
    # means only that its weights do not change.
    discriminator.trainable = False
    inputs = noise if classes is None else [noise, classes]
    result = gan.train_on_batch(inputs, labels(len(noise), REAL), return_dict=True)
    return float(result["loss"])


def parse_args(argv=None):
    p = ArgumentParser(description="Train a GAN on CIFAR-10, or a folder of your own pictures, with Keras 3 "
                       "train_on_batch.")
    p.add_argument("--data", help="cifar-10-python.tar.gz or cifar-10-batches-py/ folder, or a folder of your "
                   "own pictures (png, jpg, bmp, gif, webp; its subfolders are classes) "
                   "(default: CIFAR-10's official archive, downloaded once into ~/.keras/datasets)")
    p.add_argument("--out", help=f"run directory to create (default: {runs.DEFAULT_RUN_DIR}; "
                   "a temporary folder with --dry-run)")
    p.add_argument("--epochs", type=int, default=100, help="total epochs; with --resume, the new total "
                   "(default: 100, ~8 h on 2 CPU cores with the default preset)")
    add_run_options(p)  # --preset and every option that defines a run (presets.py)
    runs.add_run_arguments(p)  # --resume, --overwrite, checkpoints, --eval-every, devices (machinery/runs.py)
    dry = runs.DRY_RUN
    p.add_argument("--dry-run", action="store_true", help=f"smoke test: {dry['epochs']} tiny epochs of "
                   f"{dry['steps_per_epoch']} steps on {dry['images']} images, into a temporary folder")
    return p.parse_args(argv)




if __name__ == "__main__":
    main()
