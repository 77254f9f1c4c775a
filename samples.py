"""Saved weights -> image grids.

    python samples.py RUN_DIR                      # RUN_DIR/samples.png, an 8x8 grid
    python samples.py RUN_DIR --seed 3 --rows 4 --cols 10 --out my_grid.png
    python samples.py RUN_DIR --force              # replace RUN_DIR/samples.png (an existing file is refused)
    python samples.py RUN_DIR --individual pngs/   # also one PNG per image
    python samples.py RUN_DIR --interpolate        # straight-line walks in latent space
    python samples.py RUN_DIR --class ship,cat     # a conditional run (train.py --conditional): chosen classes
    python samples.py RUN_DIR --class cat,ship --interpolate   # walks from cat to ship, the noise fixed
    python samples.py RUN_DIR --progress progress.gif          # the per-epoch grids as an animation
    python samples.py RUN_DIR --nearest            # is it copying? generated images beside their nearest training ones

`train.py` writes RUN_DIR/config.json (what rebuilds the generator) and
RUN_DIR/generator.weights.h5 every epoch, and generator.ema.weights.h5 (--ema),
which this script prefers (--no-ema for the latest weights); it rebuilds the
generator with `defGAN.build_models` and draws from it; machinery/progress.save_grid
writes the PNG mosaics, train.py's per-epoch progress grids too.

A conditional generator also takes a class per image. Its default grid has
one labelled row per class, with the same noise in every row of a column:
what changes down a column is only the class.
"""
import os
import sys

import numpy as np

import machinery.tensorflow_settings  # noqa: F401  first: before TensorFlow loads
from machinery.checkpoint import EMA_WEIGHTS, GENERATOR_WEIGHTS, CheckpointError, check_weights_file
from machinery.progress import PROGRESS_COLUMNS, save_grid, write_progress_animation
from scoring.features import FEATURE_CHOICES
from defDATA import CLASS_NAMES, DataError, class_names, parse_classes, trained_classes, unscale_images
from machinery.options import (ArgumentParser, RunError, check_config_values, check_memory, check_not_a_link,
                               check_output_folder, check_output_image, check_sample_arguments, one_line,
                               read_config)
from machinery.weight_loading import WeightsMismatch, all_weights_or_nothing
from machinery.output_files import OutputError, check_new_file, check_new_images, write_images, write_new_file

MAX_GRID_SIDE = 100  # rows or columns: a 100 x 100 grid is already 3,400 pixels wide (13,000 at 128x128)
DEFAULT_ROWS, DEFAULT_COLUMNS = 8, 8  # an unconditional grid, and --nearest's rows
CLASS_WALK_ROWS = 4  # --interpolate --class A,B: rows, each walking from class A to class B


class SampleError(Exception):
    """A problem with the run directory we can describe in one line."""


def draw(generator, noise, classes=None, batch_size=256):
    """Images in [-1, 1] for a batch of noise: the one way this project runs a trained generator.

    A conditional generator also takes `classes`, one class number per noise vector.
    A plain call with training=False: batch norm (--batch-norm) uses its
    moving averages, not the batch's statistics. (Under tf.distribute, predict() would return one set of
    images per replica; a plain call returns one.)
    """
    def inputs(start):
        chunk = noise[start:start + batch_size]
        return chunk if classes is None else [chunk, np.asarray(classes[start:start + batch_size], np.int32)]

    return np.concatenate([np.asarray(generator(inputs(start), training=False))
                           for start in range(0, len(noise), batch_size)])


def fixed_noise_grid(generator, noise, classes, names=CLASS_NAMES):
    """A progress grid from the fixed noise: (images, row names or None).

    Unconditional: one image per noise vector. Conditional (`classes` given, numbers of `names`, the run's
    class names): one row per class, each from the same first 8 noise vectors, so a reader
    watches each class emerge while the noise stays put.
    """
    if classes is None:
        return draw(generator, noise), None
    noise, image_classes = class_rows(noise[:PROGRESS_COLUMNS], classes)
    return draw(generator, noise, image_classes), [names[c] for c in classes]


def class_rows(noise, classes):
    """(noise, classes) for a grid with one block of rows per class, the same noise in each block."""
    return np.tile(noise, (len(classes), 1)), np.repeat(np.asarray(classes, np.int32), len(noise))


def check_run_dir(run_dir, weights_name=None, use_ema=True):
    """A run's checked config and the weights file to use: (config, weights file name). No TensorFlow needed.

    By default these are the moving-average weights when the run kept them
    (train.py --ema; see ema.py), else the latest weights.
    """
    if not os.path.isdir(run_dir):
        raise SampleError(f"{run_dir}: no such run directory")
    config_file = os.path.join(run_dir, "config.json")
    if os.path.exists(config_file) and not os.path.isfile(config_file):  # a FIFO: reading it would wait for ever
        raise SampleError(f"{config_file}: not a regular file")
    try:
        config = read_config(run_dir, flag="run directory")
        check_config_values(config, config_file)
        check_memory(config)
    except RunError as error:
        raise SampleError(str(error)) from None
    if weights_name is None:
        has_ema = os.path.isfile(os.path.join(run_dir, EMA_WEIGHTS))
        weights_name = EMA_WEIGHTS if use_ema and has_ema else GENERATOR_WEIGHTS
    if not os.path.isfile(os.path.join(run_dir, weights_name)):
        raise SampleError(f"{os.path.join(run_dir, weights_name)}: missing; train at least one epoch first")
    try:
        check_weights_file(os.path.join(run_dir, weights_name))
    except CheckpointError as error:
        raise SampleError(str(error)) from None
    return config, weights_name


def load_generator(run_dir, weights_name=None, use_ema=True):
    """Rebuild a run's generator from config.json and load its weights: (generator, config, weights file name)."""
    config, weights_name = check_run_dir(run_dir, weights_name, use_ema)
    return build_generator(run_dir, config, weights_name), config, weights_name


def build_generator(run_dir, config, weights_name):
    """The generator of a checked run directory (check_run_dir), with its weights loaded."""
    from defGAN import build_models  # TensorFlow loads here, once the run directory is known to be good

    generator, _ = build_models(config)
    weights_path = os.path.join(run_dir, weights_name)
    try:
        with all_weights_or_nothing():  # Keras' warnings about each part it skips are not printed
            generator.load_weights(weights_path)
    except WeightsMismatch as error:
        raise SampleError(f"{weights_path}: does not match the generator described by config.json ({error})") from None
    # A run that diverged may have saved NaN weights: they would draw a black grid, with numpy's warnings.
    if not all(np.isfinite(weight).all() for weight in generator.get_weights()):
        raise SampleError(f"{weights_path}: its weights are not finite (NaN or infinite); the run diverged "
                          "before saving them (try another weights file of the run, e.g. --no-ema)")
    return generator


def interpolation_noise(latent_dim, walks, steps, rng):
    """Noise for `walks` rows, each a straight line from one random point to another."""
    from defGAN import sample_noise

    start, end = sample_noise(rng, 2 * walks, latent_dim).reshape(2, walks, 1, latent_dim)
    fractions = np.linspace(0.0, 1.0, steps, dtype=np.float32).reshape(1, steps, 1)
    return (start * (1 - fractions) + end * fractions).reshape(walks * steps, latent_dim)


def walk_between_classes(generator, start, end, steps):
    """Rewrite the generator's class tables so that drawing classes 0 .. steps-1 walks from `start` to `end`.

    Every class enters the generator through a table of learned vectors, one
    row per class (keras.layers.Embedding). Row k becomes the straight-line
    mix (1 - t) * row[start] + t * row[end], t = k / (steps - 1): the class
    itself moves while the noise stays fixed. Changes this generator in place.
    """
    fractions = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    for table in [weight for weight in generator.weights if weight.path.endswith("embeddings")]:
        rows = np.array(table.numpy())
        rows[:steps] = (1 - fractions) * rows[start] + fractions * rows[end]
        table.assign(rows)


def parse_args(argv=None):
    parser = ArgumentParser(description="Draw image grids from a trained run directory.")
    parser.add_argument("run_dir", help="a run directory written by train.py")
    parser.add_argument("--rows", type=int, help=f"rows of the grid, 1 to {MAX_GRID_SIDE}; for a conditional run, "
                        f"rows per class (default: {DEFAULT_ROWS}; conditional: 1 per class; a walk between two classes: "
                        f"{CLASS_WALK_ROWS})")
    parser.add_argument("--cols", type=int, default=DEFAULT_COLUMNS,
                        help=f"columns of the grid, 1 to {MAX_GRID_SIDE} (default: {DEFAULT_COLUMNS})")
    parser.add_argument("--seed", type=int, default=0,
                        help="noise seed; the same seed gives the same images (default: 0)")
    parser.add_argument("--out", help="output image, .png or .jpg (default: RUN_DIR/samples.png; "
                        "RUN_DIR/interpolation.png with --interpolate, RUN_DIR/nearest.png with --nearest)")
    parser.add_argument("--individual", metavar="DIR", help="also write each image as its own PNG into DIR, "
                        "as sample_0000.png, sample_0001.png, ... (default: off)")
    parser.add_argument("--force", action="store_true", help="replace output images that already exist; never "
                        "another kind of file, nor through a symbolic link (default: off, an existing file is refused)")
    parser.add_argument("--interpolate", action="store_true",
                        help="each row walks in a straight line between two random latent points (for a "
                        "conditional run, in each class's rows); with exactly two classes given to --class, each "
                        "row walks from the first class to the second at fixed noise (default: off)")
    parser.add_argument("--class", dest="classes", action="append", metavar="CLASS",
                        help="conditional runs: draw these classes, names or numbers, e.g. 'ship' or "
                        "'cat,dog' (a run trained on a folder of pictures: its class subfolders' names); may be repeated "
                        "(default: every class the run trained on)")
    parser.add_argument("--progress", metavar="GIF", help="instead of drawing: replay the run's per-epoch "
                        "progress grids as an animated GIF, the epoch on each frame (default: off)")
    parser.add_argument("--nearest", action="store_true", help="the memorisation check (scoring/nearest.py): each row a "
                        "generated image, then its --cols - 1 nearest training images (default: off)")
    parser.add_argument("--features", help="with --nearest: measure nearness with this feature network, "
                        f"{FEATURE_CHOICES} (default: none, pixel space)")
    parser.add_argument("--data", help="with --nearest: the training data to search (default: the run's --data, "
                        "else the official archive)")
    parser.add_argument("--no-ema", action="store_true",
                        help="use the latest generator weights even when the run kept a moving average (--ema) "
                        "(default: off)")
    args = parser.parse_args(argv)
    check_sample_arguments(parser, args, MAX_GRID_SIDE)  # ranges, empty paths, flags that do not go together
    return args


def chosen_classes(args, config):
    """The classes to draw, one block of rows each: --class, else every class the run trained on.
    --class names the run's classes (CIFAR-10's, or its image folder's subfolders): they become numbers here."""
    names = class_names(config)
    try:  # in the order given: --interpolate walks from the first class to the second
        args.classes = args.classes and list(dict.fromkeys(parse_classes(name, names)[0] for name in args.classes))
    except DataError as error:
        raise SampleError(str(error).replace("--classes", "--class")) from None
    if args.classes and not config["conditional"]:
        raise SampleError(f"--class: {args.run_dir} is not conditional (trained without --conditional), "
                          "so it cannot draw a chosen class")
    trained = trained_classes(config)
    untrained = [names[c] for c in args.classes or [] if c not in trained]
    if untrained:
        raise SampleError(f"--class {', '.join(untrained)}: {args.run_dir} was trained on "
                          f"{', '.join(names[c] for c in trained)} only")
    if is_class_walk(args) and not 2 <= args.cols <= len(names):
        raise SampleError(f"--cols {args.cols}: a walk between two classes takes 2 to {len(names)} steps")
    return args.classes or trained


def is_class_walk(args):
    return bool(args.interpolate and args.classes and len(args.classes) == 2)


def grid_rows(args, classes):
    """Rows of the grid asked for: --rows, else 8 (one per class when conditional; 4 for a class walk)."""
    if is_class_walk(args):
        return args.rows or CLASS_WALK_ROWS
    return args.rows or (DEFAULT_ROWS if classes is None else 1)


def grid_inputs(args, latent_dim, classes, names=CLASS_NAMES):
    """(noise, classes or None, row names or None) of the grid the arguments ask for; `names`: the run's
    class names."""
    from defGAN import sample_noise  # TensorFlow loads here: every input has been checked

    rng, rows = np.random.default_rng(args.seed), grid_rows(args, classes)
    if is_class_walk(args):  # each row one noise vector; the columns walk between the two classes
        noise = np.repeat(sample_noise(rng, rows, latent_dim), args.cols, axis=0)
        walk = f"{names[args.classes[0]]} to {names[args.classes[1]]}"
        return noise, np.tile(np.arange(args.cols, dtype=np.int32), rows), [walk] * rows
    if args.interpolate:
        noise = interpolation_noise(latent_dim, rows, args.cols, rng)
    else:
        noise = sample_noise(rng, rows * args.cols, latent_dim)
    if classes is None:
        return noise, None, None
    noise, class_of_image = class_rows(noise, classes)  # the same noise for every class
    return noise, class_of_image, [names[c] for c in classes for _ in range(rows)]


def write_samples(args):
    """Check everything that can be checked before TensorFlow loads, then draw and write the grid asked for."""
    default_name = "nearest.png" if args.nearest else "interpolation.png" if args.interpolate else "samples.png"
    out = args.out or os.path.join(args.run_dir, default_name)
    if not args.out:  # reading a run through a link is fine, writing into it through the link is not
        check_not_a_link("RUN_DIR", args.run_dir)
    config, weights_name = check_run_dir(args.run_dir, use_ema=not args.no_ema)
    classes = chosen_classes(args, config)
    check_output_image("--out", out)
    check_new_file("--out", out, args.force)
    if args.individual:
        blocks = 1 if classes is None or is_class_walk(args) else len(classes)
        check_output_folder("--individual", args.individual)
        check_new_images("--individual", args.individual, grid_rows(args, classes) * args.cols * blocks, args.force)
    if args.nearest:  # scoring/nearest.py raises ValueError for a bad --data or --features, the data checked first
        from scoring.nearest import training_images_to_search, write_nearest_grid
        try:
            training = training_images_to_search(args.data or config["data"], config["classes"], args.features,
                                                 args.cols - 1, config["image_size"])
            return write_nearest_grid(args, build_generator(args.run_dir, config, weights_name), classes, training, out,
                                      class_names(config))
        except ValueError as error:
            raise SampleError(str(error)) from None
    generator = build_generator(args.run_dir, config, weights_name)
    noise, class_of_image, row_names = grid_inputs(args, config["latent_dim"], classes, class_names(config))
    if is_class_walk(args):
        walk_between_classes(generator, *args.classes, steps=args.cols)
    images = draw(generator, noise, class_of_image)
    write_new_file("--out", out, lambda temporary: save_grid(images, temporary, args.cols, row_names), args.force)
    print(f"wrote {out} ({len(images) // args.cols}x{args.cols} images, seed {args.seed}, weights {weights_name}"
          + (f", classes {', '.join(class_names(config)[c] for c in classes)})" if classes else ")"))
    if args.individual:
        write_images("--individual", args.individual, unscale_images(images), args.force)
        print(f"wrote {len(images)} PNGs to {args.individual}")


def main(argv=None):
    args = parse_args(argv)
    try:
        write_progress_animation(args) if args.progress else write_samples(args)  # the former: machinery/progress.py
    except (SampleError, RunError, OutputError) as error:
        sys.exit(f"error: {one_line(error)}")
    except KeyboardInterrupt:  # Ctrl-C: one line, as train.py says it, not Python's traceback
        print("stopped (Ctrl-C)", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
