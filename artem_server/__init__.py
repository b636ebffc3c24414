"""ArtEm: real-time style transfer for VR frames, served over gRPC."""

__version__ = "0.1.0"
