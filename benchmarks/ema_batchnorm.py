"""Batch norm and the weight average: are copied statistics why the average loses?

    python benchmarks/ema_batchnorm.py RUN_DIR --data ~/.cache/cifar10/cifar-10-python.tar.gz \\
        --features ../shared/models/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite

For a run trained with both --batch-norm and --ema (the `dcgan-ema` preset).
Its averaged generator (ema.py) averages the *weights*, but a batch-norm
layer's moving mean and variance cannot be averaged that way: they describe
the activations of the live weights, so ema.py copies them. This scores the
run's generator four ways, with the same noise and the same real reference
(Fréchet distance, as train.py --eval-every computes it):
  live weights with their own moving statistics     (evaluate.py --no-ema)
  live weights with statistics re-estimated
  averaged weights with the copied statistics       (what samples.py draws)
  averaged weights with statistics re-estimated for them
Re-estimating (as SWA's "bn_update" does) runs the generator in training mode
over batches of noise and sets each layer's moving statistics to the mean of
the batches' own statistics. If the copied statistics were the problem, the
last row would close the gap to the first.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import machinery.tensorflow_settings  # noqa: E402,F401  first: before TensorFlow loads
from scoring.statistics import DEFAULT_CACHE, EvalError, TrainingEvaluator  # noqa: E402
from machinery.options import ArgumentParser  # noqa: E402  one line for a mistake, numbers read strictly
from samples import SampleError, load_generator  # noqa: E402


def reestimate_batch_norm(generator, batches=50, batch_size=256, seed=123):
    """Set every batch-norm layer's moving statistics to the mean of `batches`
    batches' statistics, computed with the generator's current weights."""
    import keras  # here, not above: the arguments are checked before TensorFlow loads and prints its lines
    import numpy as np

    from defGAN import sample_noise

    norms = [layer for layer in generator.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta, rng = [layer.momentum for layer in norms], np.random.default_rng(seed)
    for index in range(batches):
        # Keras updates moving = momentum * moving + (1 - momentum) * batch. With
        # momentum index / (index + 1) the result is the running mean of all batches so far.
        for layer in norms:
            layer.momentum = index / (index + 1.0)
        noise = sample_noise(rng, batch_size, generator.input_shape[1])
        generator(noise, training=True)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum  # as the layer had it, for any training that follows


def main():
    p = ArgumentParser(description="Score a --batch-norm --ema run's generator with copied and with "
                                "re-estimated batch-norm statistics.")
    p.add_argument("run_dir", help="a run directory of train.py with --batch-norm and --ema")
    p.add_argument("--data", required=True, help="CIFAR-10 archive for the real reference images")
    p.add_argument("--features", required=True, help="feature network, as evaluate.py --features")
    p.add_argument("--n", type=int, default=10000, help="generated and real images per score (default: 10000)")
    p.add_argument("--batches", type=int, default=50, help="noise batches of 256 to re-estimate with (default: 50)")
    p.add_argument("--cache-dir", default=DEFAULT_CACHE, help="where the real images' statistics are cached, "
                   f"as in evaluate.py (default: {DEFAULT_CACHE})")
    args = p.parse_args()
    try:
        _, config, _ = load_generator(args.run_dir)
        if not (config.get("batch_norm") and config.get("ema")):
            raise EvalError(f"{args.run_dir}: not trained with both --batch-norm and --ema, so nothing to compare")
        scorer = TrainingEvaluator(args.features, args.n, args.data, config["image_size"], cache_dir=args.cache_dir)
        print(f"Fréchet distance [{scorer.description}]")
        for name, averaged, reestimate in [("live weights, their moving statistics", False, False),
                                           ("live weights, statistics re-estimated", False, True),
                                           ("averaged weights, copied statistics", True, False),
                                           ("averaged weights, statistics re-estimated", True, True)]:
            generator = load_generator(args.run_dir, use_ema=averaged)[0]
            if reestimate:
                reestimate_batch_norm(generator, args.batches)
            print(f"  {name:45s} {scorer(generator, seed=0):8.2f}", flush=True)
    except (EvalError, SampleError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
