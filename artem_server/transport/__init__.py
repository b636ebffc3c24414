"""How frame pixels travel between a client and the server; this layer moves bytes, it never
runs the model (artem_server.frame_step joins it to the pipeline).

- `carriers`: one class per carrier (`Inline`, `SharedMemorySlot`, `Jpeg`) behind one protocol,
  and a frame's views in theirs (`FramePixels`): checked at the edge, read and written on the
  model thread.
- `handlers`: the Stylizer service's method handlers, Stylize coded by artem_protocol.wire.
- `shm`: the server's mappings of clients' shared-memory regions: validation, ownership.
- `jpeg`: the server's JPEG codec (nvJPEG on CUDA where available, else the protocol's Pillow).
- `alloc`: glibc tuned for frame-sized buffers.

What both ends share (the generated code, the Stylize codec, pixel formats, the region layout)
is artem_protocol's. Generated gRPC code may be imported here; the pipeline never sees it.
"""
