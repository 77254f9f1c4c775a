"""Reading a TorchScript file's weights with numpy alone, and safely.

A TorchScript file (`.pt`) is a zip archive: `NAME/data.pkl` is a pickle of the
module tree (each module a dict of its attributes: sub-modules, tensors,
numbers), and every tensor's bytes lie in `NAME/data/KEY` as raw
little-endian values. Unpickling calls whatever functions the pickle names, so
a tampered file could run code. This reader admits only the five names a
module tree needs (below); anything else is refused before it is called, and
every tensor is checked against the bytes really stored before numpy views it.
No PyTorch is needed, and nothing in the file runs.
"""
import collections
import io
import pickle
import zipfile

import numpy as np

MAX_MEMBER_BYTES = 256 * 2**20  # the largest tensor of the FID network is 8 MB; the pickle 28 kB
MAX_PICKLE_BYTES = 8 * 2**20
STORAGE_DTYPES = {"FloatStorage": "<f4"}  # the FID network holds float32 tensors only


class TorchScriptError(ValueError):
    """The file is not a TorchScript archive this reader accepts (said in one line)."""


class Module:
    """One module of the tree: its TorchScript class name and its attributes, in the file's order.

    The pickle makes each module without calling __init__ (NEWOBJ), then hands
    it its attribute table (BUILD), so both are set at the class and in __setstate__.
    """
    kind, attributes = "Module", {}

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise TorchScriptError(f"module {self.kind} has no attribute table")
        self.attributes = dict(state)

    def children(self):
        """The sub-modules, in the order the module's forward() runs them for a Sequential."""
        return [(name, value) for name, value in self.attributes.items() if isinstance(value, Module)]

    def tensor(self, name):
        value = self.attributes.get(name)
        if not isinstance(value, np.ndarray):
            raise TorchScriptError(f"module {self.kind} has no tensor {name!r}")
        return value


def module_class(kind):
    """A fresh Module subclass per TorchScript class, so NEWOBJ builds a Module that knows its kind."""
    return type(kind, (Module,), {"kind": kind})


class StorageRef:
    """A tensor's bytes, named in the pickle by a key into data/ (a "persistent id")."""

    def __init__(self, values):
        self.values = values


def rebuild_tensor(storage, offset, size, stride, *unused):
    """torch._utils._rebuild_tensor_v2 for numpy: a strided view of the storage, bounds checked."""
    if not isinstance(storage, StorageRef) or not all(isinstance(v, int) and v >= 0 for v in (offset, *size, *stride)):
        raise TorchScriptError("a tensor with malformed storage, shape or strides")
    if len(size) != len(stride):
        raise TorchScriptError("a tensor whose shape and strides differ in length")
    last = offset + sum((length - 1) * step for length, step in zip(size, stride)) if all(size) else offset - 1
    if last >= len(storage.values):
        raise TorchScriptError("a tensor reaches beyond its stored bytes")
    if int(np.prod(size, dtype=np.float64)) > len(storage.values):  # a zero stride would repeat a few bytes for ever
        raise TorchScriptError("a tensor larger than its stored bytes")
    values = storage.values[offset:]
    itemsize = values.itemsize
    return np.lib.stride_tricks.as_strided(values, tuple(size), tuple(s * itemsize for s in stride)).copy()


class RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file_object, archive, prefix):
        super().__init__(file_object)
        self.archive, self.prefix = archive, prefix

    def find_class(self, module, name):
        if module.startswith("__torch__."):
            return module_class(name)
        allowed = {("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor,
                   ("collections", "OrderedDict"): collections.OrderedDict,
                   ("torch.jit._pickle", "build_intlist"): list}
        if (module, name) in allowed:
            return allowed[(module, name)]
        if module == "torch" and name in STORAGE_DTYPES:
            return name
        raise TorchScriptError(f"refusing to call {module}.{name} (not part of a module's weights)")

    def persistent_load(self, persistent_id):
        """('storage', storage type, key, device, element count) -> the tensor's bytes."""
        try:
            kind, storage_type, key, _, count = persistent_id
        except (TypeError, ValueError):
            raise TorchScriptError("malformed tensor reference") from None
        if kind != "storage" or storage_type not in STORAGE_DTYPES or not str(key).isascii() \
                or not str(key).isdigit() or not isinstance(count, int):
            raise TorchScriptError(f"unsupported tensor storage {storage_type!r}")
        dtype = np.dtype(STORAGE_DTYPES[storage_type])
        raw = read_member(self.archive, f"{self.prefix}/data/{key}")
        if count < 0 or len(raw) < count * dtype.itemsize:
            raise TorchScriptError(f"tensor data/{key} is shorter than its {count} values")
        return StorageRef(np.frombuffer(raw, dtype, count))


def read_member(archive, name, limit=MAX_MEMBER_BYTES):
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise TorchScriptError(f"{name} is missing") from None
    if info.file_size > limit:
        raise TorchScriptError(f"{name} declares {info.file_size} bytes, more than a weight tensor holds")
    return archive.read(info)


def read_torchscript(path):
    """The root Module of a TorchScript file, its tensors as float32 numpy arrays."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [name for name in archive.namelist() if name.endswith("/data.pkl") and name.count("/") == 1]
            if len(names) != 1:
                raise TorchScriptError("no TorchScript module tree (NAME/data.pkl) in the archive")
            prefix = names[0].split("/")[0]
            blob = read_member(archive, names[0], MAX_PICKLE_BYTES)
            root = RestrictedUnpickler(io.BytesIO(blob), archive, prefix).load()
    except TorchScriptError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, pickle.UnpicklingError, ValueError, TypeError,
            AttributeError, IndexError, KeyError, RecursionError, MemoryError, OSError,
            RuntimeError, NotImplementedError) as error:  # an encrypted member; a compression zipfile lacks
        raise TorchScriptError(f"not a readable TorchScript archive ({type(error).__name__}: "
                               f"{str(error).splitlines()[0][:100] if str(error) else ''})") from None
    if not isinstance(root, Module):
        raise TorchScriptError("the archive's pickle is not a module tree")
    return root
