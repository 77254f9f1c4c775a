"""Crash-safe files and checkpoints for a training run.

Every file a run rewrites goes through `atomic_save`: it is written to a
temporary name in the same folder, flushed to disk, and renamed into place.
A rename within one file system is atomic, so a kill at any instant leaves
either the old complete file or the new complete file, never half of one.

A checkpoint is one folder `RUN_DIR/checkpoints/step-NNNNNNNN/` holding
  * `state.weights.h5`  the stacked GAN's weights in Keras' own format. Saving
                        the stacked model saves the generator, the
                        discriminator *and both optimizers' state* together;
  * `generator.ema.weights.h5`  the generator's moving average (--ema only),
                        named as at the top of the run directory;
  * `fixed_noise.npy`   the noise behind the progress grids;
  * `state.json`        epoch, step, seed, config, the metrics history so far,
                        a SHA-256 of each file above and one of its own content.
The folder is assembled under a temporary name and renamed when complete, and
`state.json` is written last, so loading can tell a whole checkpoint from a
damaged one and fall back to the newest intact checkpoint. A damaged
checkpoint is never deleted: it is set aside as `damaged-step-NNNNNNNN`, which
`--keep` does not count and no resume chooses.
"""
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings

import numpy as np

from machinery import hdf5_files
from machinery.safe_files import NotRegularFile, read_json, refuse_unless_regular
from machinery.weight_loading import skipped_parts

# The weight files at the top of a run directory (what samples.py and evaluate.py read).
GENERATOR_WEIGHTS, DISCRIMINATOR_WEIGHTS = "generator.weights.h5", "discriminator.weights.h5"
EMA_WEIGHTS = "generator.ema.weights.h5"    # the moving average of the generator's weights (--ema)
BEST_WEIGHTS = "generator.best.weights.h5"  # the best-scoring generator (--eval-every)
CHECKPOINT_DIR = "checkpoints"
WEIGHTS_FILE, NOISE_FILE, STATE_FILE = "state.weights.h5", "fixed_noise.npy", "state.json"
OLD_EMA_FILE = "ema_generator.weights.h5"  # EMA_WEIGHTS, in checkpoints written before 2026-11-27
STATE_CHECKSUM = "state_sha256"  # state.json's checksum of its own other entries
# What state.json must hold, and of which JSON types, to be used at all.
STATE_TYPES = {"epoch": int, "step": int, "epoch_steps": int, "epoch_sums": dict, "history": list,
               "config": dict, "window_sums": dict, "window_steps": int, "curve": list, "random_state": list,
               "sha256": dict}


class CheckpointError(Exception):
    """A checkpoint problem we can describe to the user in one line."""


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_save(path, save):
    """Call `save(temporary_path)`, fsync the result, then rename it onto `path`.
    A link at `path` is refused: renaming onto it would replace a person's link with our file."""
    refuse_link(path)
    folder, name = os.path.split(os.path.abspath(path))
    # Keep the real file name as the suffix: Keras insists on ".weights.h5".
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix="-" + name, dir=folder)
    os.close(handle)
    try:
        with hdf5_files.closed_on_failure(temporary):  # Keras leaves its file open when a write fails
            save(temporary)
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes private files; use normal permissions
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def refuse_link(path):
    """Raise NotRegularFile (an OSError) if `path` is a symbolic link: the project never writes through one."""
    if os.path.islink(path):
        raise NotRegularFile(errno.ELOOP, "is a symbolic link", path)


def atomic_write_text(path, text):
    def save(temporary):
        with open(temporary, "w", encoding="utf-8") as file_object:
            file_object.write(text)
    atomic_save(path, save)


def check_weights_file(path):
    """Read every array of a Keras .weights.h5 file with h5py (no TensorFlow needed);
    raises CheckpointError if it is missing, truncated or not HDF5 at all."""
    import h5py  # Keras' own library for .weights.h5 files

    def read(name, item):
        if isinstance(item, h5py.Dataset):
            item[()]  # reading the bytes is what finds a truncated file
    try:
        with h5py.File(path, "r") as file_object:
            file_object.visititems(read)
    except Exception as error:  # OSError, KeyError ... from a damaged file
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0][:120]
        raise CheckpointError(f"{path}: damaged weights file ({first_line})") from None


def weights_in_current_layout(path, temporary_folder):
    """`path`, or a copy of it in today's layout if it is a checkpoint from before 2026-11-27.

    Keras names a nested model's place in a .weights.h5 file after its class.
    The discriminator was a keras.Model subclass named Model then, so older
    checkpoints keep it under "layers/model"; as a plain functional model it is
    "layers/functional_1" now. The values are the same (tested).
    """
    import h5py

    with h5py.File(path, "r") as file_object:
        if "layers/model" not in file_object or "layers/functional_1" in file_object:
            return path
    copy = os.path.join(temporary_folder, WEIGHTS_FILE)
    shutil.copyfile(path, copy)
    with h5py.File(copy, "r+") as file_object:
        file_object.move("layers/model", "layers/functional_1")
    return copy


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file_object:
        for block in iter(lambda: file_object.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_name(step):
    return f"step-{step:08d}"


def list_checkpoints(run_dir):
    """Checkpoint folders of a run, oldest first (names sort by step); set-aside damaged ones are not listed."""
    folder = os.path.join(run_dir, CHECKPOINT_DIR)
    if not os.path.isdir(folder):
        return []
    return [os.path.join(folder, name) for name in sorted(os.listdir(folder)) if re.fullmatch(r"step-\d{8}", name)]


def set_aside(path, report=print, why=""):
    """Rename a damaged checkpoint folder to damaged-step-N (never deleted: a person may want to look);
    `why`, if given, is said in the warning."""
    folder, name = os.path.split(path)
    target, number = os.path.join(folder, "damaged-" + name), 1
    while os.path.exists(target):
        number += 1
        target = os.path.join(folder, f"damaged-{name}-{number}")
    os.replace(path, target)
    report(f"warning: set aside the damaged checkpoint {path}{f' ({why})' if why else ''} as {target}")


def state_checksum(state):
    """SHA-256 of a state dict's entries (except the checksum itself), independent of key order."""
    entries = {key: value for key, value in state.items() if key != STATE_CHECKSUM}
    return hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()


def save_checkpoint(run_dir, gan, fixed_noise, state, keep=1, ema_generator=None):
    """Write a complete checkpoint for `state["step"]`, then prune to the newest `keep`."""
    folder = os.path.join(run_dir, CHECKPOINT_DIR)
    refuse_link(folder)  # checkpoints/ elsewhere would be written, and pruned, through the link
    os.makedirs(folder, exist_ok=True)
    final = os.path.join(folder, checkpoint_name(state["step"]))
    staging = tempfile.mkdtemp(prefix=".tmp-", dir=folder)
    try:
        with hdf5_files.closed_on_failure(staging):  # Keras leaves its file open when a write fails
            gan.save_weights(os.path.join(staging, WEIGHTS_FILE))
            np.save(os.path.join(staging, NOISE_FILE), fixed_noise)
            if ema_generator is not None:
                ema_generator.save_weights(os.path.join(staging, EMA_WEIGHTS))
        names = [WEIGHTS_FILE, NOISE_FILE] + ([EMA_WEIGHTS] if ema_generator is not None else [])
        state = dict(state, sha256={name: file_sha256(os.path.join(staging, name)) for name in names})
        state[STATE_CHECKSUM] = state_checksum(state)
        with open(os.path.join(staging, STATE_FILE), "w", encoding="utf-8") as file_object:
            json.dump(state, file_object, indent=1)
            file_object.flush()
            os.fsync(file_object.fileno())
        # The same step saved twice (an interrupt right after a resume) holds the
        # same state: keep an intact existing folder rather than delete-then-rename,
        # which would leave a moment with no checkpoint at all. A damaged one is
        # set aside, so the new save takes its place.
        if os.path.exists(final) and not is_intact(final):
            set_aside(final)
        if not os.path.exists(final):
            os.chmod(staging, 0o777 & ~_umask())
            os.replace(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for old in list_checkpoints(run_dir)[:-max(1, keep)]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def check_state(state, path):
    """Refuse a state.json that is not what save_checkpoint wrote for this folder's step."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: {STATE_FILE} holds a {type(state).__name__}, not a checkpoint's state")
    # Without its checksum nothing says that the entries are the ones saved: an edit would be used.
    if STATE_CHECKSUM not in state:
        raise CheckpointError(f"{path}: {STATE_FILE} has no checksum ('{STATE_CHECKSUM}'), so it cannot be trusted")
    if state[STATE_CHECKSUM] != state_checksum(state):
        raise CheckpointError(f"{path}: {STATE_FILE} does not match its checksum")
    for key, kind in STATE_TYPES.items():
        if not isinstance(state.get(key), kind) or isinstance(state.get(key), bool):
            raise CheckpointError(f"{path}: {STATE_FILE} has no valid '{key}'")
    # The checksum catches accidents, not a person who recomputes it: the values must make sense too.
    if min(state["epoch"], state["step"], state["epoch_steps"], state["window_steps"]) < 0 \
            or state["epoch_steps"] > state["step"]:
        raise CheckpointError(f"{path}: {STATE_FILE} counts negative or impossible steps")
    tables = [state["epoch_sums"], state["window_sums"], *state["history"], *state["curve"]]
    if not all(isinstance(table, dict) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                               for v in table.values()) for table in tables):
        raise CheckpointError(f"{path}: {STATE_FILE} holds statistics that are not tables of numbers")
    if os.path.basename(path) != checkpoint_name(state["step"]):
        raise CheckpointError(f"{path}: {STATE_FILE} is for step {state['step']}, not this folder's")
    if not {WEIGHTS_FILE, NOISE_FILE} <= set(state["sha256"]) or not set(state["sha256"]) <= {
            WEIGHTS_FILE, NOISE_FILE, EMA_WEIGHTS, OLD_EMA_FILE}:
        raise CheckpointError(f"{path}: {STATE_FILE} lists the wrong files")


def check_noise(noise, state, path):
    """Refuse fixed noise that is not what save_checkpoint wrote for this run (its checksum can be recomputed):
    64 finite rows (session.FIXED_NOISE_SIZE, the 8x8 progress grid) of the run's latent size."""
    latent = state["config"].get("latent_dim")
    if noise.dtype.kind != "f" or noise.shape != (64, latent) or not np.isfinite(noise).all():
        raise CheckpointError(f"{path}: {NOISE_FILE} holds {noise.dtype} {noise.shape}, not 64 finite noise "
                              f"vectors of the run's latent size {latent}")


def ema_file(state):
    """The name of a checkpoint's EMA weights file, as its state.json lists it (None without --ema)."""
    return next((name for name in state["sha256"] if name in (EMA_WEIGHTS, OLD_EMA_FILE)), None)


def is_intact(path):
    try:
        read_checkpoint_state(path)
        return True
    except CheckpointError:
        return False


def read_checkpoint_state(path):
    """Return (state, fixed_noise) of a checkpoint folder, or raise CheckpointError if damaged."""
    try:
        for name in os.listdir(path):  # a link or a FIFO in a checkpoint is damage, never followed or waited on
            refuse_unless_regular(os.path.join(path, name))
        state = read_json(os.path.join(path, STATE_FILE))
        check_state(state, path)
        for name, expected in state["sha256"].items():
            if file_sha256(os.path.join(path, name)) != expected:
                raise CheckpointError(f"{path}: {name} does not match its checksum")
        fixed_noise = np.load(os.path.join(path, NOISE_FILE))
        check_noise(fixed_noise, state, path)
    except CheckpointError:
        raise
    except Exception as error:  # missing file, bad JSON, truncated array ...
        raise CheckpointError(f"{path}: damaged checkpoint ({type(error).__name__}: {error})") from None
    return state, fixed_noise


def intact_checkpoints(run_dir, report=print):
    """(path, state, fixed_noise) of each intact checkpoint, newest first; a damaged one is reported."""
    for path in reversed(list_checkpoints(run_dir)):
        try:
            state, fixed_noise = read_checkpoint_state(path)
        except CheckpointError as error:
            report(f"warning: skipping {error}")
            continue
        yield path, state, fixed_noise


def find_latest_checkpoint(run_dir, report=print):
    """Return (path, state, fixed_noise) of the newest intact checkpoint, or None."""
    return next(intact_checkpoints(run_dir, report), None)


def load_weights(gan, ema_model, path, state):
    """Load checkpoint `path` into the stacked model (and the average). Raises CheckpointError, in one
    line, if its weights do not fit them: another run's checkpoint, or config.json edited since.
    Keras' warnings are caught and a skipped part does not fit either (machinery/weight_loading.py says
    why), except a skipped optimizer, as Keras lets pass: a checkpoint saved under a tf.distribute
    strategy holds more optimizer variables than one device has (its state then starts afresh)."""
    try:
        with warnings.catch_warnings(record=True) as caught, tempfile.TemporaryDirectory() as temporary_folder:
            warnings.simplefilter("always")
            gan.load_weights(weights_in_current_layout(os.path.join(path, WEIGHTS_FILE), temporary_folder))
            if ema_model is not None:
                ema_model.load_weights(os.path.join(path, ema_file(state)))
    except (ValueError, KeyError, OSError) as error:
        raise CheckpointError(f"{type(error).__name__}: {str(error).splitlines()[0][:120]}") from None
    skipped = skipped_parts(caught, allow_optimizer=True)
    if skipped:
        raise CheckpointError(f"Keras skipped a part: {skipped[0].splitlines()[0][:120]}")
