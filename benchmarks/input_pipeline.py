"""Is the input pipeline ever the bottleneck? Images per second it delivers, beside what training consumes.

    python benchmarks/input_pipeline.py --data FOLDER                 # 32, 64 and 128 pixels
    python benchmarks/input_pipeline.py --data FOLDER --sizes 64 --steps 20 --memory-map

For each size, the folder is loaded as train.py loads it (defDATA.load_data: decoded once, then read
from the cache; the first run on a folder decodes, so time a second one), then two rates are measured:
  * the pipeline's: batches of real images from defDATA.make_dataset (shuffle, scale, flip, prefetch),
    drawn as fast as they come, nothing trained on them;
  * training's: train.py's own step (train.train_step) on one fixed batch, in real images per second
    (a step uses batch_size // 2 * d_steps real ones: defDATA.real_images_per_step).
The pipeline must be faster, by a margin: prefetching then hides it entirely. --memory-map times the
path a folder beyond image_cache.MEMORY_BUDGET takes (each batch read from the cache file). Without
--data, random images stand in (the pipeline's speed does not depend on what the pixels show). The
networks run in float32, without XLA, with the preset's options (default: train.py's default preset).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import machinery.tensorflow_settings  # noqa: E402,F401  first: before TensorFlow loads
from datafiles import image_cache  # noqa: E402
from defDATA import IMAGE_SIZES, DataError, load_data, make_dataset, real_images_per_step  # noqa: E402
from machinery.options import ArgumentParser, one_line  # noqa: E402  one line for a mistake
from presets import DEFAULT_PRESET, PRESETS, preset_options  # noqa: E402


def parse_args():
    p = ArgumentParser(description="Input pipeline images/s against the training step's, per image size.")
    p.add_argument("--data", help="a folder of pictures (default: 2,048 random images per size)")
    p.add_argument("--sizes", default=",".join(map(str, IMAGE_SIZES)),
                   help=f"comma-separated image sizes (default: {','.join(map(str, IMAGE_SIZES))})")
    p.add_argument("--preset", default=DEFAULT_PRESET, help=f"the run's options (default: {DEFAULT_PRESET})")
    p.add_argument("--steps", type=int, default=20, help="batches or training steps per timing (default: 20)")
    p.add_argument("--memory-map", action="store_true", help="read batches from the cache file, as for a folder "
                   "beyond the memory budget (needs --data)")
    args = p.parse_args()
    if args.preset not in PRESETS:
        p.error(f"--preset: unknown preset {args.preset!r} (choose from {', '.join(PRESETS)})")
    try:
        args.size_list = [int(size) for size in args.sizes.split(",")]
    except ValueError:
        p.error(f"--sizes {args.sizes}: whole numbers from {', '.join(map(str, IMAGE_SIZES))}")
    if not set(args.size_list) <= set(IMAGE_SIZES) or args.steps < 1:
        p.error(f"--sizes {args.sizes} --steps {args.steps}: sizes from {', '.join(map(str, IMAGE_SIZES))}, "
                "steps at least 1")
    if args.memory_map and not args.data:
        p.error("--memory-map: needs --data FOLDER (random images have no cache file)")
    if args.memory_map:
        image_cache.MEMORY_BUDGET = 0  # every folder "too large": read through the memory map
    try:  # decoded (or read from the cache) now: a bad --data is one line, before TensorFlow loads
        args.images = {size: load_data(args.data, image_size=size)[0] if args.data else None for size in args.size_list}
    except DataError as error:
        p.error(one_line(error))
    return args


# Parsed before TensorFlow loads (below), so that a mistake is one line, without TensorFlow's own start-up lines.
ARGS = parse_args() if __name__ == "__main__" else None

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from train import build_networks, train_step  # noqa: E402


def pipeline_rate(images, config, steps):
    """Real images per second out of make_dataset, after two warm-up batches (tracing, the first reads)."""
    per_step = real_images_per_step(config)
    needed = per_step * (steps + 2)
    if len(images) < needed:  # one epoch must hold every timed batch
        raise SystemExit(f"error: {len(images)} images are too few for {steps + 2} batches of {per_step}; "
                         "lower --steps")
    batches = iter(make_dataset(images, per_step, seed=0, flip=config["flip"]))
    for _ in range(2):
        next(batches)
    started = time.perf_counter()
    for _ in range(steps):
        next(batches)
    return steps * per_step / (time.perf_counter() - started)


def training_rate(images, config, steps):
    """Real images per second train.train_step consumes, on one fixed batch, after two warm-up steps."""
    models = build_networks(config, tf.distribute.get_strategy(), jit_compile=False)
    batch = next(iter(make_dataset(images, real_images_per_step(config), seed=0)))
    for step in range(2):
        train_step(models, batch, step)
    started = time.perf_counter()
    for step in range(2, steps + 2):
        train_step(models, batch, step)
    return steps * real_images_per_step(config) / (time.perf_counter() - started)


def main():
    print(f"preset {ARGS.preset}; {ARGS.steps} batches per timing; "
          f"{'memory-mapped cache' if ARGS.memory_map else 'images in memory'}")
    print(f"{'size':>5} {'images':>7} {'pipeline img/s':>15} {'training img/s':>15} {'ratio':>7}")
    for size in ARGS.size_list:
        config = dict(preset_options(ARGS.preset), image_size=size, conditional=False)
        images = ARGS.images[size]
        if images is None:
            images = np.random.default_rng(0).integers(0, 256, (2048, size, size, 3), dtype=np.uint8)
        pipeline = pipeline_rate(images, config, ARGS.steps)
        training = training_rate(images, config, ARGS.steps)
        print(f"{size:>5} {len(images):>7} {pipeline:>15,.0f} {training:>15,.0f} {pipeline / training:>6.1f}x",
              flush=True)


if __name__ == "__main__":
    main()
