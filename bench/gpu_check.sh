#!/usr/bin/env bash
# Issue #4's GPU checks in one go, for a session with a GPU machine (one H100: < 8 minutes).
#
#   here:   bash bench/gpu_prepare.sh                  (wheels the GPU image lacks, into .whl/)
#   device: run(command="bash bench/gpu_check.sh", carry=[".whl"], timeout_s=540)
#
# 1. the environment (GPU, torch, CuPy, onnxruntime providers)      -> $OUT/env.txt
# 2. the gpu-marked tests: fused conversions vs the CPU path, every backend vs eager fp32,
#    DLPack sharing, CUDA-graph replay after a style switch         -> $OUT/gpu-tests.{log,xml}
# 3. artem bench, model only and end to end, quest2-stereo and vive-stereo, every backend and
#    precision this machine has, ratios to eager fp32 of the same run -> $OUT/bench.{log,json}
# Each step has its own time limit so one slow step cannot starve the others. The tables are
# printed last (the device reply carries the end of the output).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
SIZES=${ARTEM_BENCH_SIZES:---size quest2-stereo --size vive-stereo}  # a dry run elsewhere: --size tiny
export PYTHONUNBUFFERED=1

# Wheels carried in .whl: installed beside, not over, the image's packages.
if [ -z "${ARTEM_SKIP_WHEELS:-}" ] && compgen -G ".whl/*.whl" >/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi
# The import names pyproject maps (artem_kernels = kernels/, ...), without installing.
shim=/tmp/artem-shim
mkdir -p "$shim"
ln -sfn "$PWD/kernels" "$shim/artem_kernels"
ln -sfn "$PWD/engine_clients/python/artem_client" "$shim/artem_client"
ln -sfn "$PWD/training" "$shim/artem_training"
export PYTHONPATH="$PWD:$shim${PYTHONPATH:+:$PYTHONPATH}"

{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
  $PY - <<'PYEOF'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())
print("gpu", torch.cuda.get_device_name(0), torch.cuda.get_device_properties(0))
try:
    import cupy
    print("cupy", cupy.__version__, "devices", cupy.cuda.runtime.getDeviceCount())
except Exception as e:
    print("cupy: unavailable:", e)
try:
    import onnxruntime as ort
    print("onnxruntime", ort.__version__, ort.get_available_providers())
except Exception as e:
    print("onnxruntime: unavailable:", e)
from artem_kernels import convert
print("fused kernels available:", convert.available())
PYEOF
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

echo "== gpu tests"
timeout 170 $PY -m pytest -q -p no:cacheprovider -m gpu tests/test_kernels_gpu.py tests/test_backends_gpu.py \
  --junitxml="$OUT/gpu-tests.xml" >"$OUT/gpu-tests.log" 2>&1
echo "pytest exit $?"
tail -n 25 "$OUT/gpu-tests.log"

echo "== artem bench (model only, then end to end)"
timeout 330 $PY -m artem_server.cli --log-level INFO bench $SIZES \
  --warmup 5 --repeats 20 --frames 20 \
  --e2e-variant torch-eager:fp32 --e2e-variant torch-optimized:fp16:fused --e2e-variant torch-optimized:fp16:compile \
  --json "$OUT/bench.json" >"$OUT/bench.log" 2>&1
echo "bench exit $?"
grep -v "^\[torch.onnx\]" "$OUT/bench.log" | grep -E "^\||^model only|^end to end|Error|error" | tail -n 60
