"""Frame sources for `artem client` and the benchmarks: a built-in moving scene, images,
folders, videos (`scenes`), a camera and the screen (`capture`). Each yields frames as lists of
(H, W, 3) RGB uint8 arrays: one view (mono) or two (left eye, right eye)."""
