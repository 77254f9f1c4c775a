"""Unpickling numpy arrays safely: a pickle may describe plain integer arrays and nothing else.

Unpickling calls whatever functions the file names, so a tampered file could
run code, or (through numpy's own array-rebuilding functions with crafted
arguments) make numpy read memory it does not own. So numpy never sees the
file's arguments: the unpickler hands back *requests* (which dtype, which
shape, which bytes), and `load` builds plain arrays from them itself, only of
plain integer dtypes, after checking every size. defDATA.py reads CIFAR-10's
batch files with it.
"""
import pickle

import numpy as np

# The dtypes a CIFAR-10 batch uses: uint8 pixels; integer labels when stored as
# an array. Never an object dtype: its bytes would be read as memory addresses.
PLAIN_DTYPES = {"u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8"}


class Refused(pickle.UnpicklingError):
    """The pickle asks for something a CIFAR-10 batch never holds."""


class _DtypeRequest:
    """What a pickle asks numpy.dtype(...) for; becomes a real dtype only if it is a plain one."""

    def __init__(self, code, align=False, copy=False):
        self.code, self.state = code, None

    def __setstate__(self, state):  # the byte order and flags numpy would apply: checked in dtype()
        self.state = state

    def dtype(self):
        code = self.code.decode("latin-1") if isinstance(self.code, bytes) else self.code
        if not isinstance(code, str) or code not in PLAIN_DTYPES:
            raise Refused(f"refusing array dtype {code!r} (only plain integers)")
        dtype = np.dtype(code)
        byte_order = self.state[1] if isinstance(self.state, tuple) and len(self.state) > 1 else "|"
        if byte_order not in ("|", "<", ">", "="):
            raise Refused(f"refusing array byte order {byte_order!r}")
        return dtype.newbyteorder(">") if byte_order == ">" else dtype


class _ArrayRequest:
    """What a pickle asks numpy's array-rebuilding function for (shape, dtype, raw bytes)."""

    def __init__(self, cls=None, shape=None, typecode=None):
        self.state = None

    def __setstate__(self, state):
        self.state = state

    def array(self):
        try:
            _, shape, dtype_request, fortran_order, raw = self.state
            shape = tuple(int(size) for size in shape)
            dtype = dtype_request.dtype()
        except (TypeError, ValueError, AttributeError):
            raise pickle.UnpicklingError("malformed numpy array") from None
        if not isinstance(raw, bytes) or any(size < 0 for size in shape) \
                or len(raw) != int(np.prod(shape)) * dtype.itemsize:
            raise pickle.UnpicklingError(f"numpy array of shape {shape} does not match its {len(raw)} bytes")
        order = "F" if fortran_order else "C"
        return np.frombuffer(raw, dtype=dtype).reshape(shape, order=order).astype(dtype.newbyteorder("="))


_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"): _ArrayRequest,  # only ever the class argument of _reconstruct
    ("numpy", "dtype"): _DtypeRequest,
    ("numpy.core.multiarray", "_reconstruct"): _ArrayRequest,  # official files (numpy 1.x)
    ("numpy._core.multiarray", "_reconstruct"): _ArrayRequest,  # numpy >= 2
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can describe numpy arrays and nothing else."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        raise Refused(f"refusing to load global {module}.{name}")




def load(file_object):
    """Unpickle a file of plain data and integer arrays. Raises Refused for anything
    else, and pickle's own errors (EOFError, UnpicklingError ...) for damaged files."""
    data = _NumpyOnlyUnpickler(file_object, encoding="bytes").load()
    if isinstance(data, dict):  # the arrays the file asked for, now that their requests are checked
        data = {key: value.array() if isinstance(value, _ArrayRequest) else value for key, value in data.items()}
    return data
