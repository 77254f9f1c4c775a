"""Throughput benchmark: training iterations per second, FLOPs, peak rate and memory.

    python benchmarks/throughput.py                      # default and classic presets, float32 and auto
    python benchmarks/throughput.py --precision float16 --jit-compile on
    python benchmarks/throughput.py --presets small-ema --image-size 32,64   # 64x64 beside 32x32, one process

For each preset it times train.py's own training step (`train.train_step`)
against a reference copy of the classic tutorial's loop written out below
(`g.predict` for the fakes, D trained on separate real and fake half-batches,
then the stacked model), in the same process, alternating A B A B, and reports
medians of `--repeats` timings after a warm-up. Our step runs in float32 and,
beside it in the same alternation, in `--precision` (by default the one
`--precision auto` chooses on this machine), so their ratio is measured under
the same conditions. It also prints the FLOPs of
one iteration (flops.py), the arithmetic rate reached, this machine's peak
rate (a large matmul and a large convolution, timed here), where our step's
time goes (each compiled call timed alone; their sum is the fastest any loop
around these networks could be), and the process's peak resident memory. The
timings share a machine with whatever else runs: compare the ratio, which is
measured under the same conditions. With several --image-size values each preset is timed at each
size in turn, and a last line gives each size's it/s as a fraction of the first size's.
"""
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import machinery.tensorflow_settings  # noqa: E402,F401  first: before TensorFlow loads
from defDATA import (IMAGE_SIZES, DataError, load_cifar10, make_dataset, real_images_per_step,  # noqa: E402
                     resize_images, scale_images)
from machinery.options import ArgumentParser, one_line  # noqa: E402  one line for a mistake
from presets import DEFAULT_PRESET, PRECISIONS, PRESETS, preset_options  # noqa: E402


def parse_args():
    p = ArgumentParser(description="Time train.py's step against the classic tutorial loop.")
    p.add_argument("--presets", default=f"{DEFAULT_PRESET},classic", help="comma-separated presets to time "
                   f"(default: {DEFAULT_PRESET},classic)")
    p.add_argument("--data", help="CIFAR-10 archive (default: 5,000 random images; speed does not depend on content)")
    p.add_argument("--steps", type=int, default=20, help="iterations per timing (default: 20)")
    p.add_argument("--repeats", type=int, default=3, help="timings per loop; medians are reported (default: 3)")
    p.add_argument("--warmup", type=int, default=5, help="untimed iterations first, for tracing (default: 5)")
    p.add_argument("--precision", choices=["auto", *PRECISIONS], default="auto",
                   help="precision of our loop, timed beside our loop in float32; the reference stays float32 "
                   "(default: auto, train.py's choice for this machine)")
    p.add_argument("--jit-compile", choices=["auto", "on", "off"], default="auto",
                   help="XLA for our loop, as train.py's flag (default: auto)")
    p.add_argument("--image-size", default="32", help="comma-separated image sizes to time each preset at, "
                   f"from {', '.join(map(str, IMAGE_SIZES))}, as train.py --image-size; --data is upscaled to "
                   "each (default: 32)")
    args = p.parse_args()
    sizes = [size.strip() for size in args.image_size.split(",")]
    bad = [size for size in sizes if size not in {str(s) for s in IMAGE_SIZES}]
    if bad or len(set(sizes)) != len(sizes):
        p.error(f"--image-size {args.image_size}: must be distinct sizes from {', '.join(map(str, IMAGE_SIZES))}, "
                "comma-separated")
    args.image_sizes = [int(size) for size in sizes]
    for flag, low in (("steps", 1), ("repeats", 1), ("warmup", 0)):
        if getattr(args, flag) < low:
            p.error(f"--{flag} {getattr(args, flag)}: must be at least {low}")
    unknown = [name for name in args.presets.split(",") if name not in PRESETS]
    if unknown:
        p.error(f"--presets: unknown preset {unknown[0]!r} (choose from {', '.join(PRESETS)})")
    try:  # read now: a bad --data is one line, before TensorFlow loads
        args.images = load_cifar10(args.data) if args.data else None
    except DataError as error:
        p.error(one_line(error))
    return args


# Parsed before TensorFlow loads (below), so that a mistake is one line, without TensorFlow's own start-up lines.
ARGS = parse_args() if __name__ == "__main__" else None

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from machinery import devices  # noqa: E402
from defGAN import build_models, generator_inputs  # noqa: E402
from flops import iteration_flops  # noqa: E402
from train import build_networks, train_discriminator_step, train_generator_step, train_step  # noqa: E402


class ReferenceClassicLoop:
    """The classic Keras tutorial's training loop, as it is widely copied.

    One change keeps it correct on Keras 3: D.trainable is set before each
    model's step (see defGAN.py, "FREEZING"); the tutorial's single toggle
    leaves D untrained there, which would make the reference do less work.
    """

    def __init__(self, images, config):
        self.images = scale_images(images)  # the tutorial keeps all images as float32
        # The same networks and batch as the preset being timed (the tutorial's
        # loop, BCE loss and no augmentation around them), so the ratio measures the loop alone.
        self.batch_size, self.latent_dim = config["batch_size"], config["latent_dim"]
        self.generator, self.discriminator = build_models(dict(config, loss="bce", augment="", conditional=False))
        self.discriminator.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), "binary_crossentropy", metrics=["accuracy"])
        self.gan = keras.Sequential([self.generator, self.discriminator])
        self.gan.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), "binary_crossentropy")
        self.rng = np.random.default_rng(0)

    def step(self):
        half = self.batch_size // 2
        real = self.images[self.rng.integers(0, len(self.images), half)]
        fakes = self.generator.predict(self.rng.standard_normal((half, self.latent_dim)), verbose=0)
        self.discriminator.trainable = True
        self.discriminator.train_on_batch(real, np.ones((half, 1)))
        self.discriminator.train_on_batch(fakes, np.zeros((half, 1)))
        self.discriminator.trainable = False
        noise = self.rng.standard_normal((self.batch_size, self.latent_dim))
        self.gan.train_on_batch(noise, np.ones((self.batch_size, 1)))


class OurLoop:
    """train.py's step for a preset, fed by train.py's tf.data pipeline."""

    def __init__(self, images, classes, config, jit_compile):
        self.run = build_networks(config, tf.distribute.get_strategy(), jit_compile)  # train.py's own networks
        self.batches = iter(make_dataset(images, real_images_per_step(config), 0,
                                         classes=classes if config["conditional"] else None).repeat())
        self.steps = 0

    def step(self):
        train_step(self.run, next(self.batches), self.steps)
        self.steps += 1


def iterations_per_second(loop, steps):
    started = time.perf_counter()
    for _ in range(steps):
        loop.step()
    return steps / (time.perf_counter() - started)


def step_parts(loop, calls):
    """Seconds of each compiled call in one train.py step, each timed alone,
    `calls` times. Their sum is what a loop with no per-step overhead at all
    would take: the ceiling of any speed-up outside the networks' arithmetic."""
    run, config = loop.run, loop.run.config
    rng, half = np.random.default_rng(1), config["batch_size"] // 2
    real, real_classes = next(loop.batches) if config["conditional"] else (next(loop.batches), None)
    real, real_classes = real[:half], None if real_classes is None else real_classes[:half]
    half_noise, fake_classes = generator_inputs(config, half, rng)
    noise, classes = generator_inputs(config, config["batch_size"], rng)
    fakes = run.generate(half_noise, fake_classes)
    parts = {"fakes for D": lambda: run.generate(half_noise, fake_classes).numpy(),
             "D step": lambda: train_discriminator_step(run.discriminator, real, fakes, real_classes=real_classes,
                                                        fake_classes=fake_classes),
             "G step": lambda: train_generator_step(run.gan, run.discriminator, noise, classes)}
    if run.ema:
        parts["EMA update"] = lambda: run.ema.update(1000)
    timings = {}
    for name, part in parts.items():
        part()  # warm up
        timings[name] = [seconds(part) for _ in range(calls)]
    return timings


def seconds(operation):
    started = time.perf_counter()
    operation()
    return time.perf_counter() - started


def peak_gflops(repeats=5):
    """This machine's best float32 rate on a large matmul and a large convolution."""
    a = tf.random.normal((2048, 2048))
    images, kernel = tf.random.normal((128, 16, 16, 128)), tf.random.normal((3, 3, 128, 128))
    tests = {"matmul 2048x2048x2048": (tf.function(lambda: tf.matmul(a, a)), 2 * 2048 ** 3),
             "conv 3x3 128->128 on 128x16x16": (tf.function(lambda: tf.nn.conv2d(images, kernel, 1, "SAME")),
                                                 2 * 128 * 16 * 16 * 9 * 128 * 128)}
    rates = {}
    for name, (operation, flops) in tests.items():
        operation().numpy()  # trace and warm up
        best = min(seconds(lambda: operation().numpy()) for _ in range(repeats))
        rates[name] = flops / best / 1e9
    return rates


def compare(config, images, classes, args, precision):
    """Medians of it/s of our step in float32 and in `precision`, and of the reference loop (always float32)."""
    keras.mixed_precision.set_global_policy("float32")
    loops = {"reference": ReferenceClassicLoop(images, config)}
    for name in dict.fromkeys(["float32", precision]):  # each loop's networks are built under its own policy
        devices.set_precision(name)
        loops[name] = OurLoop(images, classes, config, devices.use_jit(args.jit_compile))
    keras.mixed_precision.set_global_policy("float32")
    ours = loops[precision]
    for loop in loops.values():
        iterations_per_second(loop, args.warmup)
    timings, parts = {name: [] for name in loops}, {}
    for _ in range(args.repeats):  # alternate, so slow phases of a noisy machine hit all of them
        for name, loop in loops.items():
            timings[name].append(iterations_per_second(loop, args.steps))
        for name, values in step_parts(ours, 5).items():
            parts.setdefault(name, []).extend(values)
    medians = {name: statistics.median(values) for name, values in timings.items()}
    part_milliseconds = {name: 1000 * statistics.median(values) for name, values in parts.items()}
    flops = iteration_flops(ours.run.generator, ours.run.discriminator, ours.run.config["batch_size"],
                            ours.run.config["d_steps"])
    return medians, flops, ours.run.config, part_milliseconds


def images_at(size, args):
    """(images, classes) to time with at size x size: --data upscaled (beyond 32x32, its first 5,000 images
    only: the reference loop keeps them all as float32, and speed depends on neither their count nor their
    content), or 5,000 random images."""
    if args.data:
        images, classes = args.images
        if size != images.shape[1]:
            images, classes = resize_images(images[:5000], size), classes[:5000]
        return images, classes
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (5000, size, size, 3), dtype=np.uint8), rng.integers(0, 10, 5000)


def main():
    args = ARGS or parse_args()
    precision, reason = devices.resolve_precision(args.precision, "--precision")
    jit_compile = devices.use_jit(args.jit_compile)
    print(f"precision {precision}: {reason}; {devices.summary(tf.distribute.get_strategy(), precision, jit_compile)}")
    peaks = peak_gflops()
    for name, rate in peaks.items():
        print(f"peak {name}: {rate:.1f} GFLOP/s")
    conv_peak = peaks["conv 3x3 128->128 on 128x16x16"]
    by_size = {}  # (preset, image size): our step's it/s
    for preset in args.presets.split(","):
        for size in args.image_sizes:
            by_size[preset, size] = report(preset, size, args, precision, conv_peak)
    if len(args.image_sizes) > 1:
        first = args.image_sizes[0]
        for preset in args.presets.split(","):
            rates = [(size, by_size[preset, size]) for size in args.image_sizes]
            print(f"\npreset {preset}, train.py step ({precision}) by image size: " + ", ".join(
                f"{size}x{size} {rate:.3f} it/s ({rate / by_size[preset, first]:.2f}x)" for size, rate in rates))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    print(f"\npeak resident memory of this process: {peak_mb:.0f} MB")


def report(preset, size, args, precision, conv_peak):
    """Time one preset at one image size and print what was measured; returns our step's it/s."""
    images, classes = images_at(size, args)
    medians, flops, config, parts = compare(dict(preset_options(preset), image_size=size), images, classes, args,
                                            precision)
    ours, reference = medians[precision], medians["reference"]
    achieved = flops["total"] * ours / 1e9
    print(f"\npreset {preset} (batch {config['batch_size']}, architecture {config['architecture']}, "
          f"width {config['width']}, {size}x{size} images):")
    for part, value in flops.items():
        print(f"  FLOPs per iteration, {part}: {value / 1e9:.2f} G")
    if precision != "float32":
        print(f"  train.py step, float32: {medians['float32']:.3f} it/s, "
              f"{medians['float32'] * config['batch_size']:.0f} images/s")
    print(f"  train.py step, {precision}: {ours:.3f} it/s, {ours * config['batch_size']:.0f} images/s, "
          f"{achieved:.1f} GFLOP/s = {100 * achieved / conv_peak:.0f}% of the float32 convolution peak")
    print(f"  speed-up of {precision} over float32: {ours / medians['float32']:.2f}x")
    print(f"  reference classic loop, same networks and batch: {reference:.3f} it/s, "
          f"{reference * config['batch_size']:.0f} images/s")
    print(f"  ratio (train.py step / classic loop): {ours / reference:.2f}x")
    d_steps = config["d_steps"]  # the fakes and the D step happen d_steps times per iteration
    floor = sum(value * (d_steps if name in ("fakes for D", "D step") else 1) for name, value in parts.items())
    print("  where the step's time goes, each call timed alone: "
          + ", ".join(f"{name} {value:.1f} ms" for name, value in parts.items())
          + f"; everything else (data, Python, statistics) {1000 / ours - floor:.1f} ms"
          + (" (below zero: timing noise)" if floor > 1000 / ours else ""))
    print(f"  with no overhead at all: {1000 / floor:.3f} it/s = {1000 / floor / reference:.2f}x the classic loop")
    return ours


if __name__ == "__main__":
    main()
