"""The converted FID network's cache in ~/.keras/models is used only if it describes the standard network:
a planted record (its weights' checksum consistent, its architecture hostile) is never built, so never a
traceback or a huge allocation; the network is converted again from its .pt file (from the last hostile pass)."""
import json
import os

import numpy as np
import pytest

from scoring import fid_weights
from scoring.torchscript_weights import read_torchscript
from test_fid_inception import known_architecture, tiny_file  # noqa: F401  tiny_file: a fixture, a tiny network


def huge_shape(architecture):
    architecture["attributes"]["conv"]["attributes"]["weight"]["shape"] = [10**6, 10**6, 3, 3]


def one_layer_less(architecture):
    del architecture["attributes"]["mixed_4"]


def unknown_kind(architecture):
    architecture["attributes"]["conv"]["kind"] = "Conv2dLayerX"


@pytest.fixture
def cached_tiny(tiny_file, tmp_path, monkeypatch):  # noqa: F811
    """The tiny network standing in for the standard one, converted into a temporary ~/.keras/models."""
    checksum = known_architecture(fid_weights.find_layers(read_torchscript(tiny_file)), monkeypatch)
    monkeypatch.setattr(fid_weights, "STANDARD_CHECKSUM", checksum)
    monkeypatch.setattr(fid_weights, "MODELS_DIR", str(tmp_path / "models"))
    fid_weights.convert(tiny_file, fid_weights.MODELS_DIR)
    return tiny_file


def edit_record(edit):
    record_path, _ = fid_weights.cache_paths(fid_weights.MODELS_DIR)
    with open(record_path) as file_object:
        record = json.load(file_object)
    edit(record["architecture"]["attributes"]["net"]["attributes"]["layers"]
         if "net" in record["architecture"]["attributes"] else record["architecture"])
    with open(record_path, "w") as file_object:
        json.dump(record, file_object)
    return record


@pytest.mark.parametrize("edit", [huge_shape, one_layer_less, unknown_kind])
def test_a_planted_architecture_is_never_built_and_the_network_is_converted_again(cached_tiny, edit, monkeypatch):
    from scoring import features

    assert fid_weights.load_cached(fid_weights.MODELS_DIR) is not None  # the cache as converted is used
    edit_record(edit)
    assert fid_weights.cached_record(fid_weights.MODELS_DIR) is None
    assert fid_weights.load_cached(fid_weights.MODELS_DIR) is None
    network = features.load_feature_network(cached_tiny)  # converted again from the .pt file, the cache rewritten
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    assert network(images)[0].shape == (2, 12)
    assert fid_weights.load_cached(fid_weights.MODELS_DIR) is not None


def test_planted_weights_that_do_not_fit_the_architecture_are_not_used(cached_tiny, tmp_path):
    """The architecture as standard, the weights file another network's, its recorded SHA-256 recomputed."""
    import keras

    record_path, weights_path = fid_weights.cache_paths(fid_weights.MODELS_DIR)
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    os.remove(weights_path)
    other.save_weights(weights_path)
    with open(record_path) as file_object:
        record = json.load(file_object)
    record["file_sha256"] = fid_weights.file_sha256(weights_path)
    with open(record_path, "w") as file_object:
        json.dump(record, file_object)
    assert fid_weights.load_cached(fid_weights.MODELS_DIR) is None
