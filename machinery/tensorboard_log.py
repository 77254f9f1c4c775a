"""TensorBoard summaries of a run, in RUN_DIR/tensorboard/: `tensorboard --logdir runs`.

The loss curve's points (averages of progress.CURVE_EVERY steps, with the
learning rates), the Fréchet distance when a run scores itself, and each
epoch's fixed-noise grid are written with `tf.summary`. A run resumed from a
checkpoint first drops whatever its event files hold beyond that checkpoint's
step (written before a crash or a kill), so its curves continue with no
duplicate steps. Writing needs the `tensorboard` package (requirements.txt).
"""
import os
import re

TENSORBOARD_FOLDER = "tensorboard"


def read_events(path):
    """(the events of one event file, whether it was whole): a record cut short by a kill ends it."""
    import tensorflow as tf

    events = []
    try:
        for record in tf.data.TFRecordDataset(path):
            events.append(tf.compat.v1.Event.FromString(record.numpy()))
    except tf.errors.DataLossError:
        return events, False
    return events, True


def drop_events_after(folder, step):
    """Rewrite each event file of `folder` without its events beyond `step` (only files named exactly
    as TensorBoard names them: a person's look-alike is left alone)."""
    import tensorflow as tf

    from machinery.checkpoint import atomic_save

    from machinery.run_files import EVENT_FILE

    names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    for path in [os.path.join(folder, name) for name in names if re.fullmatch(EVENT_FILE, name)]:
        events, whole = read_events(path)
        kept = [event for event in events if event.step <= step]
        if len(kept) < len(events) or not whole:
            def save(temporary, kept=kept):
                with tf.io.TFRecordWriter(temporary) as writer:
                    for event in kept:
                        writer.write(event.SerializeToString())
            atomic_save(path, save)


class TensorBoardLog:
    """Writes one run's summaries; `step` is where the run starts (0, or its checkpoint's)."""

    def __init__(self, run_dir, step):
        import tensorflow as tf

        self.folder = os.path.join(run_dir, TENSORBOARD_FOLDER)
        drop_events_after(self.folder, step)
        self.writer = tf.summary.create_file_writer(self.folder)

    def scalars(self, step, values):
        import tensorflow as tf

        with self.writer.as_default():
            for name, value in values.items():
                tf.summary.scalar(name, value, step=step)

    def image(self, step, name, pixels):
        """One uint8 image [height, width, 3]."""
        import tensorflow as tf

        with self.writer.as_default():
            tf.summary.image(name, pixels[None], step=step)
        self.writer.flush()
