"""A new `bytes` object filled in place, so a frame's pixels reach gRPC without a join.

grpcio's serializers must return `bytes`, and a `bytes` object normally gets its contents by
copying them in: a reply's pixels would be written once by the pipeline and copied again
into the message. CPython's C API sanctions one exception, the one its own C code builds
bytes with: the contents of an object just created by `PyBytes_FromStringAndSize(NULL, size)`
are uninitialized, and its creator fills them before handing the object out ("The data must
not be modified in any way, unless the object was just created using
PyBytes_FromStringAndSize(NULL, size)", the documentation of PyBytes_AsString).
A `Recyclable` goes one step further for a client that sends the same size of frame again and
again: once gRPC has sent its bytes and let go of them, nobody else can see the object, and it is
filled again instead of a new one (CPython's own _PyBytes_Resize writes into bytes on the same
condition: that only its caller holds them).
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


def _hash_slot() -> int | None:
    """The offset of the hash a bytes object caches (PyBytesObject.ob_shash), checked on a probe;
    None where it is not there (then nothing is recycled)."""
    if _api is None:
        return None
    offset = (
        bytes.__basicsize__ - 1 - ctypes.sizeof(ctypes.c_ssize_t)
    )  # the field before the contents
    probe = bytes(range(32))
    cached = hash(probe)
    return offset if ctypes.c_ssize_t.from_address(id(probe) + offset).value == cached else None


_HASH_AT = _hash_slot()


class Recyclable:
    """A bytes object of `size` bytes that is filled in place (`array`), handed out as `data`,
    and filled again once whoever it was handed to has let go of it (`reclaim`)."""

    def __init__(self, size: int) -> None:
        self.data, self.array = new(size)
        self._idle_refs = sys.getrefcount(
            self.data
        )  # this object's and the array's (its base's owner)

    def reclaim(self) -> bool:
        """Whether no one else holds `data` any more, so `array` may be written again. Its cached
        hash is cleared, as it would be stale."""
        if _HASH_AT is None or sys.getrefcount(self.data) != self._idle_refs:
            return False
        ctypes.c_ssize_t.from_address(id(self.data) + _HASH_AT).value = -1
        return True
