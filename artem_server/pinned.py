"""Page-locking host memory that frames live in (a shared-memory region), so the GPU copies
frames straight out of it and results straight into it (DMA), with no staging copy on the CPU.

A Quest 2 stereo frame is 28 MB: one memcpy on the CPU costs milliseconds, a pinned DMA about
half a millisecond each way on an H100 (bench/NOTES-gpu.md). The pipeline checks
`is_pinned` per frame and takes the direct path when both the views and the destinations are.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import torch

log = logging.getLogger(__name__)

_PORTABLE = 1  # cudaHostRegisterPortable: pinned for every CUDA context, not only this one


def _host_tensor(array: np.ndarray) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", UserWarning
        )  # read-only client buffers: we never write them
        return torch.from_numpy(array)


def is_pinned(array: np.ndarray) -> bool:
    """Whether CUDA can DMA to and from `array`'s memory (registered or allocated pinned)."""
    if not torch.cuda.is_available():
        return False
    return _host_tensor(array).is_pinned()


def register(array: np.ndarray) -> bool:
    """Page-lock `array`'s memory for the GPU (cudaHostRegister); False where there is no CUDA
    or the driver refuses (the pipeline then stages through its own pinned buffers)."""
    if not torch.cuda.is_available():
        return False
    rc = torch.cuda.cudart().cudaHostRegister(array.ctypes.data, array.nbytes, _PORTABLE)
    if int(rc) != 0:
        log.warning(
            "cudaHostRegister of %d bytes failed (error %d): frames will be staged",
            array.nbytes,
            int(rc),
        )
        return False
    return True


def unregister(array: np.ndarray) -> None:
    """Undo `register` before the memory is unmapped."""
    unregister_address(array.ctypes.data)


def register_buffer(buffer: memoryview) -> int | None:
    """Page-lock a mapping's memory (a shared-memory region); returns its address for
    `unregister_address`, or None where nothing was pinned. Keeps no export of `buffer`, so
    the mapping can still be closed."""
    if not torch.cuda.is_available() or len(buffer) == 0:
        return None
    view = np.frombuffer(buffer, dtype=np.uint8)
    address = view.ctypes.data
    ok = register(view)
    del view
    return address if ok else None


def unregister_address(address: int) -> None:
    if torch.cuda.is_available():
        torch.cuda.cudart().cudaHostUnregister(address)


def host_tensor(array: np.ndarray) -> torch.Tensor:
    """A CPU tensor over `array`'s memory (no copy), for device copies in and out."""
    return _host_tensor(array)
