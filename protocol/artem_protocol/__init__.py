"""ArtEm's wire protocol in Python: what the server and every Python client share.

- `rpc`: the code generated from proto/artem/v1/stylizer.proto (`pb`, `pb_grpc`).
- `wire`: Stylize's messages with pixel bytes cut out as memoryviews, and frames laid out in
  place (`InPlaceFrame`), so that neither side lets protobuf copy a frame's pixels.
- `pixels`: the pixel formats and zero-copy views of a view's rows.
- `shm`: the byte layout of a shared-memory region (docs/shared-memory.md).
- `jpeg`: JPEG views (Pillow, the optional extra `jpeg`).
- `copy`, `fresh_bytes`: frame-sized copies over threads; `bytes` filled in place.

It depends on grpcio, protobuf and numpy only, and imports nothing else of ArtEm's.
"""
