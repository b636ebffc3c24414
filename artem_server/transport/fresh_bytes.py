"""A new `bytes` object filled in place, so a frame's pixels reach gRPC without a join.

grpcio's serializers must return `bytes`, and a `bytes` object normally gets its contents by
copying them in: a reply's pixels would be written once by the pipeline and copied again
into the message. CPython's C API sanctions one exception, the one its own C code builds
bytes with: the contents of an object just created by `PyBytes_FromStringAndSize(NULL, size)`
are uninitialized, and its creator fills them before handing the object out ("The data must
not be modified in any way, unless the object was just created using
PyBytes_FromStringAndSize(NULL, size)", the documentation of PyBytes_AsString).
"""

from __future__ import annotations

import ctypes
import sys

import numpy as np

_api = getattr(ctypes, "pythonapi", None) if sys.implementation.name == "cpython" else None
if _api is not None:
    _new = _api.PyBytes_FromStringAndSize
    _new.restype, _new.argtypes = ctypes.py_object, (ctypes.c_void_p, ctypes.c_ssize_t)
    _address = _api.PyBytes_AsString
    _address.restype, _address.argtypes = ctypes.c_void_p, (ctypes.py_object,)


def available() -> bool:
    """Whether this interpreter has the C API for it (CPython); elsewhere messages are joined."""
    return _api is not None


def new(size: int) -> tuple[bytes, np.ndarray]:
    """A new bytes object of `size` bytes, uninitialized, and a writable uint8 array over its
    contents that keeps it alive. Fill the array, then hand out the bytes and write no more."""
    if _api is None:
        raise RuntimeError("fresh_bytes.new needs CPython's C API")
    data = _new(None, size)
    memory = (ctypes.c_char * size).from_address(_address(data))
    memory.owner = data  # the array's base holds the bytes: its memory outlives every view of it
    return data, np.frombuffer(memory, np.uint8)
