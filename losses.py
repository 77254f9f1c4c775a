"""The four GAN losses, written as ordinary Keras losses for `train_on_batch`.

Every loss here reads the same labels: 1 (or a smoothed 0.9) means "real",
0 means "generated" (see defGAN.REAL / FAKE). The discriminator's step uses
`discriminator_loss(name)`; the generator's step, through the stacked model,
uses `generator_loss(name)` with every label set to "real".

  bce          non-saturating binary cross-entropy: the classic tutorial's
               loss. D ends in a sigmoid and outputs a probability.
  lsgan        least squares (Mao et al. 2017): D outputs a score and is
               pulled towards 1 on real and 0 on fakes; G pulls fakes to 1.
               The squared error does not saturate when D is very sure.
  hinge        (Lim & Ye 2017; used by SNGAN, BigGAN): D only pays for
               real scores below +1 and fake scores above -1; G raises D's
               score of its fakes.
  wasserstein  (Arjovsky et al. 2017): D is a "critic" whose mean score on
               real minus fake estimates the Wasserstein distance, but only
               if D is Lipschitz. The original paper clips D's weights to
               [-0.01, 0.01] after every D step; spectral normalization is the
               later, better bound. `--loss wasserstein` clips unless
               `--spectral-norm` is on (see defGAN.clip_weights).

The discriminator's last activation must match: a sigmoid for bce, nothing
(a raw score) for the others. `OUTPUT_ACTIVATION` is that one place.
"""
from keras import losses as keras_losses
from keras import ops

from presets import LOSSES, SIGN_LABEL_LOSSES  # noqa: F401  LOSSES: the names defined below

OUTPUT_ACTIVATION = {"bce": "sigmoid", "lsgan": None, "hinge": None, "wasserstein": None}
# The score above which D says "real": its sigmoid's midpoint, the midpoint of
# the least-squares targets 0 and 1, or zero for the signed scores.
DECISION_THRESHOLD = {name: 0.0 if name in SIGN_LABEL_LOSSES else 0.5 for name in LOSSES}


def is_real(labels):
    """True where a label means "real" (it still does after label smoothing)."""
    return ops.greater(labels, 0.5)


def sign(labels):
    """+1 for real, -1 for generated: the label form the signed losses need."""
    return ops.where(is_real(labels), 1.0, -1.0)


def bce(labels, scores):
    return keras_losses.binary_crossentropy(labels, scores)  # [N]: one loss per image


def lsgan(labels, scores):
    return ops.mean(ops.square(scores - labels), axis=-1)


def hinge_discriminator(labels, scores):
    return ops.mean(ops.relu(1.0 - sign(labels) * scores), axis=-1)


def signed_score(labels, scores):
    """-score for "real" labels, +score for "generated" ones.

    The Wasserstein critic minimises this (raising real scores, lowering fake
    ones); the generator of both the Wasserstein GAN and the hinge GAN
    minimises it with "real" labels, which raises D's score of its fakes.
    """
    return ops.mean(-sign(labels) * scores, axis=-1)


_DISCRIMINATOR = {"bce": bce, "lsgan": lsgan, "hinge": hinge_discriminator, "wasserstein": signed_score}
_GENERATOR = {"bce": bce, "lsgan": lsgan, "hinge": signed_score, "wasserstein": signed_score}


def discriminator_loss(name):
    return _DISCRIMINATOR[name]


def generator_loss(name):
    return _GENERATOR[name]


def discriminator_metrics(name):
    """Metrics that split one concatenated real+fake batch into its two halves.

    D trains on real and generated images in a single `train_on_batch` call
    (one pass instead of two); these metrics still report each half's loss and
    accuracy, which are what tell you whether D is winning.
    """
    per_image_loss, threshold = _DISCRIMINATOR[name], DECISION_THRESHOLD[name]

    def half_mean(values, labels, want_real):
        mask = ops.cast(ops.equal(is_real(labels)[:, 0], want_real), "float32")
        return ops.sum(values * mask) / ops.maximum(ops.sum(mask), 1.0)

    def correct(labels, scores):
        return ops.cast(ops.equal(ops.greater(scores, threshold), is_real(labels)), "float32")[:, 0]

    def loss_real(labels, scores):
        return half_mean(per_image_loss(labels, scores), labels, True)

    def loss_fake(labels, scores):
        return half_mean(per_image_loss(labels, scores), labels, False)

    def acc_real(labels, scores):
        return half_mean(correct(labels, scores), labels, True)

    def acc_fake(labels, scores):
        return half_mean(correct(labels, scores), labels, False)

    return [loss_real, loss_fake, acc_real, acc_fake]
