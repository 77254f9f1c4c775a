"""The papers' FID network (scoring/fid_inception.py), built from a tiny TorchScript archive that
the test writes itself in the same layout (zip + pickle): nothing is downloaded, no PyTorch."""
import contextlib
import io
import os
import pickle
import sys
import types
import zipfile

import numpy as np
import pytest

from scoring import fid_inception, fid_weights
from scoring.torchscript_weights import Module, TorchScriptError, read_torchscript

rng = np.random.default_rng(0)


@contextlib.contextmanager
def torch_names():
    """Stand-ins importable as `torch`, `torch._utils` and `__torch__.*`, so that pickle writes the
    same global names a real TorchScript file holds; removed again afterwards."""
    names = {}

    def module(name):
        names[name] = names.get(name) or types.ModuleType(name)
        return names[name]

    def rebuild(*args):
        raise AssertionError("only written, never called")

    rebuild.__module__, rebuild.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    module("torch._utils")._rebuild_tensor_v2 = rebuild
    module("torch").FloatStorage = type("FloatStorage", (), {"__module__": "torch"})
    saved = {name: sys.modules.get(name) for name in ["torch", "torch._utils"]}
    sys.modules.update(names)

    def torch_class(kind, where="inceptionv3"):
        cls = getattr(module(f"__torch__.{where}"), kind, None) or type(kind, (), {"__module__": f"__torch__.{where}"})
        setattr(module(f"__torch__.{where}"), kind, cls)
        module("__torch__")  # pickle imports the parent package first
        sys.modules.update(names)
        return cls

    try:
        yield torch_class, rebuild, names["torch"].FloatStorage
    finally:
        for name in list(names):
            sys.modules.pop(name, None)
        sys.modules.update({name: value for name, value in saved.items() if value is not None})


class Tensor:
    def __init__(self, values):
        self.values = np.ascontiguousarray(values, np.float32)


def write_torchscript(path, tree):
    """tree: (kind, {name: subtree | np.ndarray | number}) -> a TorchScript-layout zip at `path`."""
    storages = []
    with torch_names() as (torch_class, rebuild, float_storage):
        def instantiate(node):
            kind, attributes = node
            obj = object.__new__(torch_class(kind))
            obj.__dict__.update({name: instantiate(value) if isinstance(value, tuple) else
                                 Tensor(value) if isinstance(value, np.ndarray) else value
                                 for name, value in attributes.items()})
            return obj

        class TorchPickler(pickle.Pickler):
            def reducer_override(self, obj):
                if isinstance(obj, Tensor):
                    storages.append(obj.values)
                    return rebuild, (("storage", len(storages) - 1), 0, obj.values.shape,
                                     tuple(s // 4 for s in obj.values.strides), False)
                return NotImplemented

            def persistent_id(self, obj):
                if isinstance(obj, tuple) and len(obj) == 2 and obj[0] == "storage":
                    return "storage", float_storage, str(obj[1]), "cpu", storages[obj[1]].size
                return None

        buffer = io.BytesIO()
        TorchPickler(buffer, protocol=2).dump(instantiate(tree))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", buffer.getvalue())
        for key, values in enumerate(storages):
            archive.writestr(f"archive/data/{key}", values.tobytes())
    return str(path)


def unit(out, inp, kernel=(1, 1), stride=1, padding=0):
    return ("Conv2dLayer", {"weight": rng.normal(0, 0.3, (out, inp, *kernel)), "beta": rng.normal(0, 0.1, out),
                            "mean": rng.normal(0, 0.1, out), "var": rng.uniform(0.5, 1.5, out),
                            "stride": stride, "padding": padding})


def seq(**children):
    return ("Sequential", children)


def tiny_inception():
    """The real network's layout (stem, blocks A-E, the max-pool quirk in the last) with 2-4 channels."""
    e = lambda inp, pool: ("InceptionE", {  # noqa: E731
        "conv": unit(2, inp), "tower_conv": unit(2, inp), "tower_mixed_conv": unit(2, 2, (1, 3), padding=[0, 1]),
        "tower_mixed_conv_1": unit(2, 2, (3, 1), padding=[1, 0]), "tower_1_conv": unit(2, inp),
        "tower_1_conv_1": unit(2, 2, (3, 3), padding=1), "tower_1_mixed_conv": unit(2, 2, (1, 3), padding=[0, 1]),
        "tower_1_mixed_conv_1": unit(2, 2, (3, 1), padding=[1, 0]), "tower_2_pool": (pool, {}),
        "tower_2_conv": unit(2, inp)})
    layers = seq(
        conv=unit(2, 3, (3, 3), stride=2), conv_1=unit(2, 2, (3, 3)), conv_2=unit(3, 2, (3, 3), padding=1),
        pool0=("MaxPool2d", {}), conv_3=unit(3, 3), conv_4=unit(4, 3, (3, 3)), pool1=("MaxPool2d", {}),
        mixed=("InceptionA", {"conv": unit(2, 4), "tower": seq(conv=unit(2, 4), conv_1=unit(2, 2, (5, 5), padding=2)),
                              "tower_1": seq(conv=unit(2, 4), conv_1=unit(2, 2, (3, 3), padding=1)),
                              "tower_2": seq(pool=("AvgPool2d", {}), conv=unit(2, 4))}),
        mixed_3=("InceptionB", {"conv": unit(2, 8, (3, 3), stride=2),
                                "tower": seq(conv=unit(2, 8), conv_1=unit(2, 2, (3, 3), stride=2)),
                                "pool": ("MaxPool2d", {})}),
        mixed_4=("InceptionC", {"conv": unit(2, 12), "tower": seq(conv=unit(2, 12),
                                                                   conv_1=unit(2, 2, (1, 7), padding=[0, 3])),
                                "tower_1": seq(conv=unit(2, 12), conv_1=unit(2, 2, (7, 1), padding=[3, 0])),
                                "tower_2": seq(pool=("AvgPool2d", {}), conv=unit(2, 12))}),
        mixed_8=("InceptionD", {"tower": seq(conv=unit(2, 8), conv_1=unit(2, 2, (3, 3), stride=2)),
                                "tower_1": seq(conv=unit(2, 8), conv_1=unit(2, 2, (3, 3), stride=2)),
                                "pool": ("MaxPool2d", {})}),
        mixed_9=e(12, "AvgPool2d"), mixed_10=e(12, "MaxPool2d"), pool2=("AvgPool2d", {}))
    return ("WrapNet", {"training": False, "net": ("InceptionV3", {"layers": layers})})


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    return write_torchscript(tmp_path_factory.mktemp("fid") / "tiny.pt", tiny_inception())


def test_the_network_has_the_layers_the_file_says(tiny_file):
    import keras

    layers_module = fid_weights.find_layers(read_torchscript(tiny_file))
    model = fid_inception.build_fid_inception(layers_module)
    features = np.asarray(model(rng.uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)))
    assert features.shape == (2, 12)  # the last block's six branches of 2 channels, averaged over 8x8
    stem = layers_module.attributes["conv"]
    kernel = model.get_layer("inception_conv").get_weights()[0]
    np.testing.assert_array_equal(kernel, stem.tensor("weight").transpose(2, 3, 1, 0))
    assert model.get_layer("inception_conv").strides == (2, 2)
    beta, mean, variance = model.get_layer("inception_conv_bn").get_weights()
    np.testing.assert_array_equal(variance, stem.tensor("var"))
    seven = model.get_layer("inception_mixed_4_tower_conv_1")
    assert seven.kernel_size == (1, 7) and seven.padding == "same"
    # The quirks: average pools that ignore the padding inside blocks, a max pool in the last block's branch.
    assert isinstance(model.get_layer("inception_mixed_9_tower_2_pool"), keras.layers.AveragePooling2D)
    assert isinstance(model.get_layer("inception_mixed_10_tower_2_pool"), keras.layers.MaxPooling2D)


def test_a_pickle_that_calls_a_function_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(Payload(), protocol=2))
    with pytest.raises(TorchScriptError, match="refusing to call"):
        read_torchscript(str(path))
    assert not marker.exists()


def test_a_tensor_beyond_its_bytes_and_a_broken_zip_are_refused(tiny_file, tmp_path):
    short = tmp_path / "short.pt"
    with zipfile.ZipFile(tiny_file) as source, zipfile.ZipFile(short, "w") as target:
        for name in source.namelist():
            target.writestr(name, source.read(name)[:8] if name.endswith("/data/0") else source.read(name))
    with pytest.raises(TorchScriptError, match="shorter than"):
        read_torchscript(str(short))
    broken = tmp_path / "broken.pt"
    broken.write_bytes(open(tiny_file, "rb").read()[:300])
    with pytest.raises(TorchScriptError, match="not a readable TorchScript archive"):
        read_torchscript(str(broken))


@pytest.mark.parametrize("size", [32, 64, 128])
def test_the_resize_is_tensorflow_1s(size):
    """TF-FID resized with tf.image.resize_bilinear of TensorFlow 1 (no half-pixel centres), from CIFAR-10's
    32x32 and from train.py --image-size 64 and 128 alike."""
    import tensorflow as tf

    pixels = rng.uniform(0, 255, (2, size, size, 3)).astype(np.float32)
    ours = np.asarray(fid_inception.TensorFlow1Resize()(pixels)) * 128 + 128
    reference = tf.compat.v1.image.resize_bilinear(pixels, (299, 299), align_corners=False,
                                                   half_pixel_centers=False).numpy()
    # TensorFlow 1 computes each source position i * H/299 in float32, this resize in float64 (which keeps
    # the 32x32 features bit for bit what they were): positions differ by up to ~H * 1e-7, pixels by less
    # than a hundredth of a level.
    np.testing.assert_allclose(ours, reference, atol=1e-3 * size / 32)
    assert np.abs(ours - tf.image.resize(pixels, (299, 299)).numpy()).max() > 1  # not TF 2's resize


def known_architecture(layers, monkeypatch):
    """Register the tiny network's architecture, as fid_weights knows the standard one's; returns its checksum."""
    checksum = fid_weights.weights_checksum(layers)
    monkeypatch.setitem(fid_weights.KNOWN_ARCHITECTURES, checksum,
                        fid_weights.architecture_checksum(fid_weights.describe(layers)))
    return checksum


def test_the_converted_network_is_cached_and_a_changed_cache_is_not_used(tiny_file, tmp_path, monkeypatch):
    expected = known_architecture(fid_weights.find_layers(read_torchscript(tiny_file)), monkeypatch)
    with pytest.raises(TorchScriptError, match="not those of the 2015-12-05 Inception"):
        fid_weights.convert(tiny_file, str(tmp_path))  # the tiny network is not the standard one
    converted = fid_weights.convert(tiny_file, str(tmp_path), expected)
    pixels = rng.uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    cached = fid_weights.load_cached(str(tmp_path), expected)
    np.testing.assert_allclose(np.asarray(cached(pixels)), np.asarray(converted(pixels)), rtol=1e-6)
    assert fid_weights.load_cached(str(tmp_path)) is None  # recorded for other weights than the standard's
    weights = tmp_path / (fid_weights.CACHE_NAME + ".weights.h5")
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert fid_weights.load_cached(str(tmp_path), expected) is None  # its checksum no longer matches


@pytest.fixture
def tiny_as_standard(tiny_file, tmp_path, monkeypatch):
    """The tiny network stands in for the standard one, with ~/.keras/models in a temporary folder."""
    checksum = known_architecture(fid_weights.find_layers(read_torchscript(tiny_file)), monkeypatch)
    monkeypatch.setattr(fid_weights, "STANDARD_CHECKSUM", checksum)
    monkeypatch.setattr(fid_weights, "MODELS_DIR", str(tmp_path / "models"))
    return tiny_file


def test_features_inception_is_the_fid_network_and_needs_its_file_only_once(tiny_as_standard, monkeypatch):
    from scoring import features
    from datafiles.downloads import DownloadError

    def offline(*args):
        raise DownloadError("could not download the FID network (no network)")

    monkeypatch.setattr("datafiles.downloads.download", offline)
    with pytest.raises(ValueError, match="--features inception: could not download.*offline, pass --features PATH"):
        features.check_feature_spec("inception")  # not converted yet, and nothing to download it from
    network = features.load_feature_network(tiny_as_standard)  # the .pt file: converted and cached
    images = rng.uniform(-1, 1, (3, 32, 32, 3)).astype(np.float32)
    values, probabilities = network(images)
    assert values.shape == (3, 12) and probabilities is None and network.name == "Inception 2015-12-05 (FID)"
    assert features.check_feature_spec("inception") == features.INCEPTION_FEATURES  # from the cache: no download
    again, _ = features.load_feature_network("inception")(images)
    np.testing.assert_allclose(again, values, rtol=1e-6)
    # The network sees 8-bit pixels, as a saved PNG holds them: a change below half a level changes nothing.
    levels = rng.integers(0, 256, (3, 32, 32, 3)).astype(np.float32) / 127.5 - 1  # exact 8-bit values
    np.testing.assert_array_equal(network(levels + 0.001)[0], network(levels)[0])
    assert not np.array_equal(network(levels + 0.01)[0], network(levels)[0])  # more than half a level: a change


def test_the_fid_network_takes_64_and_128_pixel_images(tiny_as_standard):
    """--image-size 64 and 128: the network, built for 32x32 inputs, took no other size. Each size now
    gets the same layers behind its own TensorFlow 1 resize: the features of a size are those of a network
    built for it, and 32x32 images still go through the very model built for them."""
    from scoring import features

    network = features.load_feature_network(tiny_as_standard)
    layers_module = fid_weights.find_layers(read_torchscript(tiny_as_standard))
    for size in (32, 64, 128):
        images = rng.integers(0, 256, (3, size, size, 3)).astype(np.float32) / 127.5 - 1  # exact 8-bit values
        built = fid_inception.build_fid_inception(layers_module, (size, size, 3))
        values, _ = network(images)
        assert values.shape == (3, 12)
        np.testing.assert_allclose(values, built.predict_on_batch((images + 1) * 127.5), rtol=1e-5, atol=1e-6)
    assert network.models[32] is network.model and set(network.models) == {32, 64, 128}


def test_a_pt_file_of_other_weights_is_refused_before_tensorflow(tiny_file):
    from scoring import features

    with pytest.raises(ValueError, match="not those of the 2015-12-05 Inception network"):
        features.check_feature_spec(tiny_file)  # the tiny network is not the standard one


def test_an_encrypted_member_and_a_tensor_repeating_its_bytes_are_refused(tiny_file, tmp_path):
    """A hostile pass found both: a traceback (zipfile's RuntimeError), and 4.6 GB from a 414-byte file."""
    encrypted = tmp_path / "encrypted.pt"
    data = bytearray(open(tiny_file, "rb").read())
    offset = data.index(b"PK\x03\x04")
    data[offset + 6] |= 1  # the local header's "encrypted" flag
    central = data.index(b"PK\x01\x02")
    data[central + 8] |= 1  # and the central directory's
    encrypted.write_bytes(bytes(data))
    with pytest.raises(TorchScriptError, match="not a readable TorchScript archive"):
        read_torchscript(str(encrypted))
    big = write_torchscript(tmp_path / "big.pt", ("M", {"weight": np.zeros((1, 1), np.float32)}))
    with zipfile.ZipFile(big) as source:
        blob = source.read("archive/data.pkl")
    assert blob.count(b"K\x01K\x01\x86") >= 1
    blob = blob.replace(b"K\x01K\x01\x86", b"M\x20\x4eM\x20\x4e\x86", 1).replace(b"K\x01K\x01\x86", b"K\x00K\x00\x86", 1)
    repeated = tmp_path / "repeated.pt"
    with zipfile.ZipFile(big) as source, zipfile.ZipFile(repeated, "w") as target:
        for name in source.namelist():
            target.writestr(name, blob if name.endswith("data.pkl") else source.read(name))
    with pytest.raises(TorchScriptError, match="larger than its stored bytes"):
        read_torchscript(str(repeated))
