"""How frame pixels travel between a client and the server.

- `wire`: Stylize's protobuf messages with pixel bytes cut out as memoryviews (inline bytes
  without protobuf's copies), and inline replies built in place (`fresh_bytes`: a new `bytes`
  object the pipeline writes into).
- `shm`: shared-memory regions (same host): layout, validation, mapping, ownership.
- `jpeg`: JPEG coding for networks (nvJPEG on CUDA where available, else libjpeg-turbo).
- `views`: a view's carrier, checked at the edge and read/written on the model thread.
- `copy`, `alloc`: frame-sized copies over threads; an allocator that keeps frame buffers.

Generated gRPC code may be imported here (README's layout); the pipeline never sees it.
"""
