#!/usr/bin/env bash
# Run HERE (the CPU machine, with PyPI) before bench/gpu_check.sh: downloads, at the versions
# requirements/gpu.txt pins, the wheels that the GPU machine's image lacks or has too old for
# our generated code (grpcio + its health and reflection services, protobuf >= the gencode's
# version) or for artem-train (hydra-core, omegaconf, and antlr4's runtime, which PyPI has as a
# source archive only and pip builds into a pure-Python wheel) into .whl/ (git-ignored), for
# Python 3.12 on x86-64. Pass `.whl` in the device run's `carry`. About 10 MB.
#
# The image's torch (2.11, CUDA 13), CuPy (cupy-cuda13x) and torchvision (nvJPEG) are used as
# they are: torch's CUDA wheel (~500 MB) cannot travel in one run (64 MiB a run, the working
# tree included). Neither can onnxruntime-gpu's (~256 MB); with --ort it is downloaded too and
# cut into .ort/part-NN of 45 MiB with .ort/MANIFEST (wheel name, SHA-256, parts), to carry one
# part per run (bench/gpu_stage_ort.sh); bench/gpu_env.sh joins, checks and installs them.
set -euo pipefail
cd "$(dirname "$0")/.."
LOCK=requirements/gpu.txt
pin() {  # pin NAME -> NAME==VERSION as the lock file has it
  local spec
  spec=$(grep -iE "^$1(\[[^]]*\])?==" "$LOCK" | sed 's/ *#.*//; s/\[[^]]*\]//')
  [ -n "$spec" ] || { echo "$LOCK pins no $1" >&2; exit 1; }
  echo "$spec"
}
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
  --platform manylinux2014_x86_64 --platform any)
download() {  # download DIR NAME...
  local dir=$1
  shift
  for name in "$@"; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      "${PLATFORMS[@]}" -d "$dir" "$(pin "$name")"
  done
}
rm -rf .whl
mkdir -p .whl
download .whl grpcio grpcio-health-checking grpcio-reflection protobuf hydra-core omegaconf
python3 -m pip wheel -q --no-deps -w .whl "$(pin antlr4-python3-runtime)"
ls -la .whl

if [ "${1:-}" = "--ort" ]; then
  tmp=$(mktemp -d)
  download "$tmp" onnxruntime-gpu
  rm -rf .ort
  mkdir -p .ort
  whl=$(basename "$tmp"/onnxruntime_gpu-*.whl)
  split -b 45M -d "$tmp/$whl" .ort/part-
  echo "$whl $(sha256sum "$tmp/$whl" | cut -d' ' -f1) $(ls .ort/part-* | wc -l)" >.ort/MANIFEST
  rm -rf "$tmp"
  ls -la .ort
fi
