"""ArtEm's reference Python client: frame encoding, a streaming client, test scenes.

Used by `artem client`, the tests and the benchmarks; engines port the same steps to C++/C#.
"""

from .client import StreamStats, StylizeError, StylizerClient
from .frames import decode_view, encode_view

__all__ = ["StylizerClient", "StreamStats", "StylizeError", "encode_view", "decode_view"]
