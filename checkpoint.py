"""Crash-safe files and checkpoints for a training run.

Every file a run rewrites goes through `atomic_save`: it is written to a
temporary name in the same folder, flushed to disk, and renamed into place.
A rename within one file system is atomic, so a kill at any instant leaves
either the old complete file or the new complete file, never half of one.

A checkpoint is one folder `RUN_DIR/checkpoints/step-NNNNNNNN/` holding
  * `state.weights.h5`  the stacked GAN's weights in Keras' own format. Saving
                        the stacked model saves the generator, the
                        discriminator *and both optimizers' state* together;
  * `ema_generator.weights.h5`  the generator's moving average (--ema only);
  * `fixed_noise.npy`   the noise behind the progress grids;
  * `state.json`        epoch, step, seed, config, the metrics history so far,
                        and a SHA-256 of the two files above.
The folder is assembled under a temporary name and renamed when complete, and
`state.json` is written last, so loading can tell a whole checkpoint from a
damaged one and fall back to the newest intact checkpoint.
"""
import hashlib
import json
import os
import shutil
import tempfile

import numpy as np

CHECKPOINT_DIR = "checkpoints"
WEIGHTS_FILE, NOISE_FILE, STATE_FILE = "state.weights.h5", "fixed_noise.npy", "state.json"
EMA_FILE = "ema_generator.weights.h5"  # only in runs with --ema


class CheckpointError(Exception):
    """A checkpoint problem we can describe to the user in one line."""


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_save(path, save):
    """Call `save(temporary_path)`, fsync the result, then rename it onto `path`."""
    folder, name = os.path.split(os.path.abspath(path))
    # Keep the real file name as the suffix: Keras insists on ".weights.h5".
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix="-" + name, dir=folder)
    os.close(handle)
    try:
        save(temporary)
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes private files; use normal permissions
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def atomic_write_text(path, text):
    def save(temporary):
        with open(temporary, "w", encoding="utf-8") as file_object:
            file_object.write(text)
    atomic_save(path, save)


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file_object:
        for block in iter(lambda: file_object.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def list_checkpoints(run_dir):
    """Checkpoint folders of a run, oldest first (names sort by step)."""
    folder = os.path.join(run_dir, CHECKPOINT_DIR)
    if not os.path.isdir(folder):
        return []
    return [os.path.join(folder, name) for name in sorted(os.listdir(folder)) if name.startswith("step-")]


def save_checkpoint(run_dir, gan, fixed_noise, state, keep=1, ema_generator=None):
    """Write a complete checkpoint for `state["step"]`, then prune to the newest `keep`."""
    folder = os.path.join(run_dir, CHECKPOINT_DIR)
    os.makedirs(folder, exist_ok=True)
    final = os.path.join(folder, f"step-{state['step']:08d}")
    staging = tempfile.mkdtemp(prefix=".tmp-", dir=folder)
    try:
        gan.save_weights(os.path.join(staging, WEIGHTS_FILE))
        np.save(os.path.join(staging, NOISE_FILE), fixed_noise)
        names = [WEIGHTS_FILE, NOISE_FILE]
        if ema_generator is not None:
            ema_generator.save_weights(os.path.join(staging, EMA_FILE))
            names.append(EMA_FILE)
        state = dict(state, sha256={name: file_sha256(os.path.join(staging, name)) for name in names})
        with open(os.path.join(staging, STATE_FILE), "w", encoding="utf-8") as file_object:
            json.dump(state, file_object, indent=1)
            file_object.flush()
            os.fsync(file_object.fileno())
        # The same step saved twice (an interrupt right after a resume) holds the
        # same state: keep the existing folder rather than delete-then-rename,
        # which would leave a moment with no checkpoint at all.
        if not os.path.exists(final):
            os.chmod(staging, 0o777 & ~_umask())
            os.replace(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for old in list_checkpoints(run_dir)[:-max(1, keep)]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def read_checkpoint_state(path):
    """Return (state, fixed_noise) of a checkpoint folder, or raise CheckpointError if damaged."""
    try:
        with open(os.path.join(path, STATE_FILE), encoding="utf-8") as file_object:
            state = json.load(file_object)
        for name, expected in state["sha256"].items():
            if file_sha256(os.path.join(path, name)) != expected:
                raise CheckpointError(f"{path}: {name} does not match its checksum")
        fixed_noise = np.load(os.path.join(path, NOISE_FILE))
    except CheckpointError:
        raise
    except Exception as error:  # missing file, bad JSON, truncated array ...
        raise CheckpointError(f"{path}: damaged checkpoint ({type(error).__name__}: {error})") from None
    return state, fixed_noise


def find_latest_checkpoint(run_dir, report=print):
    """Return (path, state, fixed_noise) of the newest intact checkpoint, or None."""
    for path in reversed(list_checkpoints(run_dir)):
        try:
            state, fixed_noise = read_checkpoint_state(path)
            return path, state, fixed_noise
        except CheckpointError as error:
            report(f"warning: skipping {error}")
    return None
