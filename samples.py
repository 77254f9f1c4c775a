"""Saved weights -> image grids.

    python samples.py RUN_DIR                      # RUN_DIR/samples.png, an 8x8 grid
    python samples.py RUN_DIR --seed 3 --rows 4 --cols 10 --out my_grid.png
    python samples.py RUN_DIR --individual pngs/   # also one PNG per image
    python samples.py RUN_DIR --interpolate        # straight-line walks in latent space

`train.py` writes RUN_DIR/config.json (what rebuilds the generator) and
RUN_DIR/generator.weights.h5 every epoch; this script rebuilds the generator
with `defGAN.build_models` and draws from it. `save_grid` is also what
`train.py` uses for its per-epoch progress grids.
"""
import argparse
import json
import os
import sys

import numpy as np

from defDATA import unscale_images
from defGAN import build_models
from ema import WEIGHTS_NAME as EMA_WEIGHTS_NAME

GRID_PADDING = 2  # pixels of black between and around the images of a grid


class SampleError(Exception):
    """A problem with the run directory we can describe in one line."""


def save_grid(images, path, columns):
    """Save float images in [-1, 1], [N, 32, 32, 3], as one PNG mosaic.

    The PNG is exactly (rows * (32 + pad) + pad) x (columns * (32 + pad) + pad)
    pixels: one image pixel per PNG pixel, no resampling, no axes.
    """
    import matplotlib.image  # imported here: only the functions that draw need it

    pixels = unscale_images(images)
    rows = int(np.ceil(len(pixels) / columns))
    height, width = pixels.shape[1:3]
    pad = GRID_PADDING
    grid = np.zeros((rows * (height + pad) + pad, columns * (width + pad) + pad, 3), np.uint8)
    for index, image in enumerate(pixels):
        top, left = pad + (index // columns) * (height + pad), pad + (index % columns) * (width + pad)
        grid[top:top + height, left:left + width] = image
    matplotlib.image.imsave(path, grid)


def load_generator(run_dir, weights_name=None, use_ema=True):
    """Rebuild a run's generator from config.json and load its weights: (generator, config, weights file name).

    By default these are the moving-average weights when the run kept them
    (train.py --ema; see ema.py), else the latest weights.
    """
    if weights_name is None:
        has_ema = os.path.isfile(os.path.join(run_dir, EMA_WEIGHTS_NAME))
        weights_name = EMA_WEIGHTS_NAME if use_ema and has_ema else "generator.weights.h5"
    config_path, weights_path = os.path.join(run_dir, "config.json"), os.path.join(run_dir, weights_name)
    if not os.path.isfile(config_path):
        raise SampleError(f"{run_dir}: no config.json here; is this a run directory made by train.py?")
    if not os.path.isfile(weights_path):
        raise SampleError(f"{weights_path}: missing; train at least one epoch first")
    try:
        with open(config_path, encoding="utf-8") as file_object:
            config = json.load(file_object)
        generator, _ = build_models(config)
    except Exception as error:
        raise SampleError(f"{config_path}: unreadable config ({type(error).__name__}: {error})") from None
    try:
        generator.load_weights(weights_path)
    except Exception as error:
        raise SampleError(f"{weights_path}: does not match the generator described by config.json "
                          f"({type(error).__name__}: {str(error).splitlines()[0][:200]})") from None
    return generator, config, weights_name


def interpolation_noise(latent_dim, walks, steps, rng):
    """Noise for `walks` rows, each a straight line from one random point to another."""
    start, end = rng.standard_normal((2, walks, 1, latent_dim)).astype(np.float32)
    fractions = np.linspace(0.0, 1.0, steps, dtype=np.float32).reshape(1, steps, 1)
    return (start * (1 - fractions) + end * fractions).reshape(walks * steps, latent_dim)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Draw image grids from a trained run directory.")
    parser.add_argument("run_dir", help="a run directory written by train.py")
    parser.add_argument("--rows", type=int, default=8, help="rows of the grid (default: 8)")
    parser.add_argument("--cols", type=int, default=8, help="columns of the grid (default: 8)")
    parser.add_argument("--seed", type=int, default=0,
                        help="noise seed; the same seed gives the same images (default: 0)")
    parser.add_argument("--out", help="output PNG (default: RUN_DIR/samples.png, or RUN_DIR/interpolation.png)")
    parser.add_argument("--individual", metavar="DIR", help="also write each image as its own PNG into DIR")
    parser.add_argument("--interpolate", action="store_true",
                        help="each row walks in a straight line between two random latent points")
    parser.add_argument("--no-ema", action="store_true",
                        help="use the latest generator weights even when the run kept a moving average (--ema)")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.cols < 1:
        parser.error(f"--rows and --cols must be at least 1 (got {args.rows} x {args.cols})")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        generator, config, weights_name = load_generator(args.run_dir, use_ema=not args.no_ema)
    except SampleError as error:
        sys.exit(f"error: {error}")
    latent_dim, rng = generator.input_shape[1], np.random.default_rng(args.seed)
    if args.interpolate:
        noise = interpolation_noise(latent_dim, args.rows, args.cols, rng)
        default_name = "interpolation.png"
    else:
        noise = rng.standard_normal((args.rows * args.cols, latent_dim)).astype(np.float32)
        default_name = "samples.png"
    # training=False: layers such as dropout or batch norm behave as at test time.
    images = generator.predict(noise, batch_size=256, verbose=0)
    out = args.out or os.path.join(args.run_dir, default_name)
    save_grid(images, out, args.cols)
    print(f"wrote {out} ({args.rows}x{args.cols} images, seed {args.seed}, weights {weights_name})")
    if args.individual:
        import matplotlib.image
        os.makedirs(args.individual, exist_ok=True)
        for index, image in enumerate(unscale_images(images)):
            matplotlib.image.imsave(os.path.join(args.individual, f"sample_{index:04d}.png"), image)
        print(f"wrote {len(images)} PNGs to {args.individual}")


if __name__ == "__main__":
    main()
