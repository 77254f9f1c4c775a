"""What a run shows while it trains, and its records: metrics.csv, the loss plot,
eval.json, and the progress grids replayed as an animation.

machinery/callbacks.py (TrainingRecord) keeps one row per epoch and calls
write_metrics and plot_losses to rewrite both files (atomically, through
checkpoint.atomic_save); ProgressGrids saves each epoch's grid with save_grid.
"""
import csv
import glob
import io
import json
import os
import re
import stat

import numpy as np

from machinery import checkpoint
from machinery.options import RunError
from machinery.safe_files import read_json

GRID_PADDING = 2  # pixels of black between and around the images of a grid
PROGRESS_COLUMNS = 8  # train.py's per-epoch grids: 8x8 from 64 fixed noise vectors, or 8 per class
STAT_NAMES = ["d_loss_real", "d_loss_fake", "g_loss", "d_acc_real", "d_acc_fake"]
ADA_STAT = "augment_p"  # --augment ada's augmentation probability p (augment.py); metrics.csv: the epoch's mean
METRIC_COLUMNS = ["epoch", "step"] + STAT_NAMES + [ADA_STAT, "fd", "seconds", "it_per_s"]
CURVE_EVERY = 20  # steps averaged into one point of the loss plot: smooth, yet detailed within an epoch
# A line per epoch would make the plot grow with the run (a small folder of pictures has epochs of a few
# steps, thousands a night). Beyond this many epochs none are marked.
EPOCH_LINES = 50


def write_metrics(run_dir, history):
    """Rewrite metrics.csv (atomically) from the in-memory history."""
    text = io.StringIO()
    adaptive = any(ADA_STAT in row for row in history)  # the p column only in the runs that have a p
    columns = [column for column in METRIC_COLUMNS if column != ADA_STAT or adaptive]
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    checkpoint.atomic_write_text(os.path.join(run_dir, "metrics.csv"), text.getvalue())


def plot_losses(curve, history, loss, path):
    """Losses (top), discriminator accuracies (middle), Fréchet distance (bottom, when measured), from the loss
    curve's points and the epochs' rows (machinery/callbacks.py, TrainingRecord); `loss`: the run's --loss."""
    import matplotlib
    matplotlib.use("Agg")  # draw to files; no display needed
    import matplotlib.pyplot as plt

    points = curve or history  # very short runs have no curve points yet
    steps = [point["step"] for point in points]
    scored = [row for row in history if row.get("fd") not in (None, "")]
    figure, axes = plt.subplots(3 if scored else 2, 1, figsize=(7, 8 if scored else 6), sharex=True)
    for key in ("d_loss_real", "d_loss_fake", "g_loss"):
        axes[0].plot(steps, [point[key] for point in points], label=key)
    axes[0].set_ylabel(f"loss (--loss {loss}, losses.py)")
    marked = history if len(history) <= EPOCH_LINES else []
    axes[0].set_title(f"averages over {CURVE_EVERY} steps" + ("; dotted lines mark epochs" if marked else "")
                      if curve else "epoch averages")
    for key in ("d_acc_real", "d_acc_fake"):
        axes[1].plot(steps, [point[key] for point in points], label=key)
    if points and all(ADA_STAT in point for point in points):  # --augment ada: p beside the accuracy it follows
        axes[1].plot(steps, [point[ADA_STAT] for point in points], label="augmentation p", linestyle="--")
    axes[1].set(ylabel="discriminator accuracy", ylim=(-0.05, 1.05))
    if scored:
        axes[2].plot([row["step"] for row in scored], [float(row["fd"]) for row in scored], marker="o", label="fd")
        axes[2].set_ylabel("Fréchet distance (lower is better)")
    for panel in axes:
        for row in marked:
            panel.axvline(row["step"], color="grey", linestyle=":", linewidth=0.8)
        panel.legend(loc="best")
    axes[-1].set_xlabel("training step")
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=80)
    plt.close(figure)


def read_results(run_dir):
    """The entries of RUN_DIR/eval.json (a JSON list), [] when there is none yet."""
    path = os.path.join(run_dir, "eval.json")
    if not os.path.lexists(path):
        return []
    try:  # never through a link, never waiting on a FIFO; nesting too deep is a ValueError (safe_files.py)
        entries = read_json(path)
    except OSError as error:  # a link, a FIFO, no permission ...
        raise RunError(f"{path}: unreadable ({error.strerror}); move it away, it is not overwritten") from None
    except ValueError:
        raise RunError(f"{path}: not readable JSON; move it away, it is not overwritten") from None
    if not isinstance(entries, list):
        raise RunError(f"{path}: holds a JSON {type(entries).__name__}, not a list of results; move it away, "
                       "it is not overwritten")
    return entries


def append_result(run_dir, entry):
    """Append one entry to RUN_DIR/eval.json, atomically."""
    path = os.path.join(run_dir, "eval.json")
    checkpoint.atomic_write_text(path, json.dumps(read_results(run_dir) + [entry], indent=1))
    return path


MAX_FRAME_PIXELS = 4096 * 4096  # a progress grid is 274 (32x32) to 1042 (128x128) pixels square; far larger
#                                  is no grid of ours


def progress_gif(run_dir, path, seconds_per_frame=0.5, label_height=14):
    """RUN_DIR/progress/epoch_*.png as one animated GIF, in epoch order, each
    frame labelled with its epoch (Pillow, which matplotlib depends on).

    Anything else in progress/ that matches the pattern (a folder, a text file,
    a damaged or huge image, a grid of another size, epoch_final.png) is left
    out rather than stopping the animation. Returns (frame count, one note per file left out).
    """
    from PIL import Image, ImageDraw

    skipped, frames = [], []
    for epoch, name in sorted(progress_grids(run_dir, skipped).items()):
        grid, reason = read_grid(name)
        if grid is not None and frames and (grid.width, grid.height + label_height) != frames[0].size:
            reason = f"{grid.width}x{grid.height} pixels, unlike the first grid's size"
        if reason:
            skipped.append(f"{name}: {reason}")
            continue
        frame = Image.new("RGB", (grid.width, grid.height + label_height), "black")
        frame.paste(grid, (0, label_height))
        ImageDraw.Draw(frame).text((4, 1), f"epoch {epoch}", fill="white")
        frames.append(frame)
    if not frames:
        left_out = f"; left out {len(skipped)} other files, e.g. {skipped[0]}" if skipped else ""
        raise RunError(f"{run_dir}: no progress grids yet (progress/epoch_*.png); train at least one epoch{left_out}")

    def save(temporary):
        frames[0].save(temporary, format="GIF", save_all=True, append_images=frames[1:],
                       duration=int(1000 * seconds_per_frame), loop=0)

    checkpoint.atomic_save(path, save)
    return len(frames), skipped


def progress_grids(run_dir, skipped):
    """{epoch: path} of RUN_DIR/progress/epoch_NNNN.png; other names the pattern matches go to `skipped`."""
    grids = {}
    for name in sorted(glob.glob(os.path.join(glob.escape(run_dir), "progress", "epoch_*.png"))):
        match = re.fullmatch(r"epoch_([0-9]+)\.png", os.path.basename(name))
        if not match or int(match.group(1)) in grids:
            skipped.append(f"{name}: not named epoch_NUMBER.png, or its epoch is named twice")
        else:
            grids[int(match.group(1))] = name
    return grids


def read_grid(path):
    """(an RGB image, None), or (None, why) for a file that cannot be a progress grid."""
    import warnings

    from PIL import Image

    try:
        if os.path.isdir(path):
            return None, "a folder, not a file"
        # O_NONBLOCK: a FIFO named like a grid is refused at once instead of waiting for a writer for ever.
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as file_object:
            if not stat.S_ISREG(os.fstat(file_object.fileno()).st_mode):
                return None, "not a regular file"
            with warnings.catch_warnings():  # Pillow warns about huge images; they are refused just below
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(file_object) as image:
                    if image.format != "PNG":
                        return None, f"a {image.format} image, not a PNG"
                    if image.width * image.height > MAX_FRAME_PIXELS:
                        return None, f"{image.width}x{image.height} pixels, far larger than a progress grid"
                    return image.convert("RGB"), None
    except Image.DecompressionBombError:
        return None, "far larger than a progress grid"
    except (OSError, ValueError, SyntaxError) as error:  # not an image, or a damaged one
        return None, f"not a readable PNG ({type(error).__name__})"


def grid_pixels(images, columns):
    """Float images in [-1, 1], [N, size, size, 3] (the run's --image-size), as one uint8 mosaic: one image
    pixel per mosaic pixel, exactly (rows * (size + pad) + pad) x (columns * (size + pad) + pad), black between:
    an 8x8 progress grid is 274 pixels square at 32x32, 530 at 64x64, 1042 at 128x128."""
    from defDATA import unscale_images

    pixels = unscale_images(images)
    rows = int(np.ceil(len(pixels) / columns))
    height, width = pixels.shape[1:3]
    pad = GRID_PADDING
    grid = np.zeros((rows * (height + pad) + pad, columns * (width + pad) + pad, 3), np.uint8)
    for index, image in enumerate(pixels):
        top, left = pad + (index // columns) * (height + pad), pad + (index % columns) * (width + pad)
        grid[top:top + height, left:left + width] = image
    return grid


def save_grid(images, path, columns, row_names=None):
    """Save the mosaic of `images` (grid_pixels) as a PNG; with `row_names`, a margin on the left names each row."""
    import matplotlib.image  # imported here: only the functions that draw need it

    grid = grid_pixels(images, columns)
    if row_names is None:
        matplotlib.image.imsave(path, grid)
    else:
        save_named_rows(grid, path, row_names)


def save_named_rows(grid, path, row_names, margin=80, dpi=100):
    """The grid's pixels unchanged, with each row's name written in a margin on the left."""
    from matplotlib.figure import Figure

    grid_height, grid_width = grid.shape[:2]
    row_height = (grid_height - GRID_PADDING) / len(row_names)
    figure = Figure(figsize=((grid_width + margin) / dpi, grid_height / dpi), dpi=dpi, facecolor="black")
    figure.figimage(grid, xo=margin, yo=0)
    for row, name in enumerate(row_names):
        centre = GRID_PADDING + row * row_height + (row_height - GRID_PADDING) / 2  # pixels from the top
        figure.text((margin - 4) / (grid_width + margin), 1 - centre / grid_height, name,
                    color="white", fontsize=8, ha="right", va="center")
    figure.savefig(path, dpi=dpi, facecolor="black")


def write_progress_animation(args):
    """samples.py RUN_DIR --progress GIF: no generator, no TensorFlow; the grids train.py wrote."""
    from machinery.options import check_output_image, one_line
    from machinery.output_files import check_new_file, write_new_file

    if not os.path.isdir(args.run_dir):
        raise RunError(f"{args.run_dir}: no such run directory")
    check_output_image("--progress", args.progress, types=(".gif",))
    check_new_file("--progress", args.progress, args.force)
    written = []  # (frame count, files left out), from inside the function that writes the temporary file
    write_new_file("--progress", args.progress,
                   lambda temporary: written.append(progress_gif(args.run_dir, temporary)), args.force)
    frames, skipped = written[0]
    for note in skipped:
        print(f"skipped {one_line(note)}")
    print(f"wrote {args.progress} ({frames} frames, one per epoch)")
