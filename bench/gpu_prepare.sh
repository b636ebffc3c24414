#!/usr/bin/env bash
# Run HERE (the CPU machine, with PyPI) before bench/gpu_check.sh: downloads the few wheels the
# GPU machine's image lacks or has too old for our generated code (grpcio + its health and
# reflection services, protobuf >= the gencode's version) or for artem-train (hydra-core,
# omegaconf, and antlr4's runtime, which PyPI has as a source archive only and pip builds into
# a pure-Python wheel) into .whl/ (git-ignored), for Python 3.12 on x86-64. Pass `.whl` in the
# device run's `carry`. About 10 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
for spec in grpcio==1.85.1 grpcio-health-checking==1.85.1 grpcio-reflection==1.85.1 protobuf==7.36.2 \
    hydra-core==1.3.8 omegaconf==2.3.1; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform any -d .whl "$spec"
done
python3 -m pip wheel -q --no-deps -w .whl antlr4-python3-runtime==4.9.3
ls -la .whl
