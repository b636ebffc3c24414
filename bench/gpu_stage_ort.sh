#!/usr/bin/env bash
# On the GPU machine, one run per part of onnxruntime-gpu's wheel (too large for one run's
# 64 MiB), made here by `bash bench/gpu_prepare.sh --ort`:
#   run(command="bash bench/gpu_stage_ort.sh", carry=[".ort/MANIFEST", ".ort/part-00"]), then -01, ...
# Each run keeps its part in /tmp/artem-ort, which lasts as long as the machine stays warm
# (30 s idle): make the runs back to back, then bench/gpu_check.sh or bench/gpu_ort.sh, whose
# bench/gpu_env.sh joins the parts, checks the SHA-256 and installs the wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p /tmp/artem-ort
cp .ort/MANIFEST .ort/part-* /tmp/artem-ort/
read -r whl sum parts </tmp/artem-ort/MANIFEST
echo "$whl: $(ls /tmp/artem-ort/part-* | wc -l) of $parts parts here"
