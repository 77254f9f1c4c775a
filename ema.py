"""An exponential moving average (EMA) of the generator's weights.

A GAN's generator never settles: each step chases a discriminator that just
moved, so consecutive weights wobble around a good solution. Averaging them
over the last few thousand steps (Yazici et al. 2019; used by ProGAN,
StyleGAN, BigGAN) gives a generator that is usually much better than the
latest one, for the cost of one extra copy of the weights.

After each generator step (train.py) the copy moves towards the live weights:
    ema = decay_t * ema + (1 - decay_t) * weights,
    decay_t = min(decay, (1 + t) / (10 + t)),  t = generator updates so far.
The ramp in decay_t (as in TensorFlow's ExponentialMovingAverage) keeps early
averages from being dominated by the random initial weights: with 0.999 and
no ramp, a third of the average would still be the initial noise after 1,000
steps. Batch-norm statistics are copied, not averaged (benchmarks/ema_batchnorm.py
measures what that costs).

Checkpoints save the copy; samples.py and evaluate.py use it when a run has
one (`--no-ema` for the live weights).
"""
import keras
import tensorflow as tf


def ema_decay(decay, updates):
    """The decay used at the `updates`-th generator update (a Python or tensor number)."""
    return keras.ops.minimum(decay, (1.0 + updates) / (10.0 + updates))


class GeneratorEMA:
    """Holds `model`, a copy of the generator whose weights are the moving average."""

    def __init__(self, generator, decay):
        self.generator, self.decay = generator, decay
        self.model = keras.models.clone_model(generator)
        self.model.set_weights(generator.get_weights())
        self._update = tf.function(self._update_weights)

    def _update_weights(self, updates):
        decay = ema_decay(self.decay, tf.cast(updates, tf.float32))
        trainable = {id(variable) for variable in self.generator.trainable_variables}
        for average, live in zip(self.model.variables, self.generator.variables):
            if id(live) in trainable:
                average.assign(decay * average + (1.0 - decay) * live)
            else:
                average.assign(live)  # batch-norm moving statistics: copied

    def update(self, updates):
        """Move the average after the `updates`-th generator update."""
        self._update(tf.constant(updates, tf.int64))
