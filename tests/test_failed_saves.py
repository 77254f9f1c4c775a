"""A disk that fills during an HDF5 save, after the free-space check (machinery/write_failures.py): the save
fails as an OSError that becomes the one-line message, the files HDF5 had open are closed at once, and the
previous checkpoint is intact (from the last hostile pass)."""
import errno
import os
from types import SimpleNamespace

import numpy as np
import pytest

from test_bad_input import tree_digest


@pytest.fixture
def tiny_run(tmp_path):
    """A run's Checkpoints callback (machinery/callbacks.py) for tiny networks, at step 1."""
    import keras

    from machinery.callbacks import Checkpoints

    generator = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    discriminator = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    models = SimpleNamespace(gan=keras.Sequential([generator, discriminator]), generator=generator,
                             discriminator=discriminator, ema=None)
    records = SimpleNamespace(state=lambda: {"epoch_sums": {}, "history": [], "window_sums": {}, "window_steps": 0,
                                             "curve": []})
    plan = SimpleNamespace(run_dir=str(tmp_path), chief_dir=str(tmp_path), config={})
    saver = Checkpoints(plan, SimpleNamespace(keep=2, checkpoint_every=0, epochs=1), models,
                        np.zeros((2, 4), np.float32), 1, records, None, position=(0, 1, 0))
    saver.dir = str(tmp_path)
    return saver


@pytest.mark.parametrize("failing_write", [1, 5, 7], ids=["checkpoint", "generator", "discriminator"])
def test_a_disk_that_fills_during_an_hdf5_save(tiny_run, monkeypatch, failing_write):
    """Keras left its HDF5 file open when a write failed half-way; freed later, h5py reported the failed flush
    as "Exception ignored ... __dealloc__" tracebacks, or crashed (h5py issue 914)."""
    import h5py

    from machinery import write_failures

    first = tiny_run.save()
    before = tree_digest(tiny_run.dir)
    tiny_run.step = 2
    writes, create_dataset = [], h5py.Group.create_dataset

    def fills_the_disk(self, *args, **kwargs):  # a dataset of the save, and the disk is full
        writes.append(args[0])
        if len(writes) == failing_write:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.file.filename)
        return create_dataset(self, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", fills_the_disk)
    with pytest.raises(OSError) as failed:
        tiny_run.save()
    assert h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE) == []  # closed now, not when Python frees them
    message = write_failures.describe(failed.value, tiny_run.dir, "python train.py --resume RUN")
    assert message.startswith(f"error: could not write to {tiny_run.dir}") and ".tmp-" not in message, message
    assert "(No space left on device); the last complete checkpoint is intact" in message, message
    assert "\n" not in message and "Traceback" not in message
    after = tree_digest(tiny_run.dir)
    assert {name: after[name] for name in before if name.startswith("checkpoints/")} == \
        {name: value for name, value in before.items() if name.startswith("checkpoints/")}
    assert os.path.isdir(first) and not [name for name in after if ".tmp-" in name], after
    if failing_write > 4:  # the new checkpoint (4 arrays) was complete: the top-level weights failed after it
        assert os.path.isdir(os.path.join(tiny_run.dir, "checkpoints", "step-00000002"))
