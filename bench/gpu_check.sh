#!/usr/bin/env bash
# Issue #4's GPU checks in one go, for a session with a GPU machine (one H100: < 8 minutes).
#
#   here:   bash bench/gpu_prepare.sh                  (wheels the GPU image lacks, into .whl/)
#   device: run(command="bash bench/gpu_check.sh", carry=[".whl"], timeout_s=590)
#
# 1. the environment (GPU, torch, CuPy, onnxruntime providers)      -> $OUT/env.txt
# 2. the gpu-marked tests: fused conversions vs the CPU path, every backend vs eager fp32,
#    DLPack sharing, CUDA-graph replay after a style switch         -> $OUT/gpu-tests.{log,xml}
# 3. artem bench, model only (quest2-stereo, vive-stereo: every backend and precision this
#    machine has) and end to end (eager fp32, optimized fp16 fused and compile), ratios to eager
#    fp32 of the same run -> $OUT/bench-{quest2,vive,e2e}.json, $OUT/bench.log
# 4. the adain target's row: a random-weight adain style at vive-stereo -> $OUT/bench-adain.json
# 5. artem-train images/s, generator at 256x256 batch 4, fp32 vs bf16 vs fp16 -> $OUT/bench.log
# Limits: 120 + 150 + 100 + 120 + 45 + 3 x 18 s at most (about 6 minutes expected).
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
timeout 120 $PY -m pytest -q -p no:cacheprovider -m gpu tests/test_kernels_gpu.py tests/test_backends_gpu.py \
  --junitxml="$OUT/gpu-tests.xml" >"$OUT/gpu-tests.log" 2>&1
echo "pytest exit $?"
# the kernel sources through NVRTC as CuPy compiles them (the image has the nvrtc wheel)
$PY -m pytest -q -p no:cacheprovider tests/test_kernels_nvrtc.py >>"$OUT/gpu-tests.log" 2>&1
echo "nvrtc pytest exit $?"
tail -n 25 "$OUT/gpu-tests.log"

# artem bench in separate runs, each with its own limit and JSON, all logs in one file.
bench() {  # bench LIMIT_S NAME ARGS...
  local limit=$1 name=$2
  shift 2
  echo "== artem bench $name: $*" | tee -a "$OUT/bench.log"
  timeout "$limit" $PY -m artem_server.cli --log-level INFO bench "$@" --json "$OUT/bench-$name.json" \
    >>"$OUT/bench.log" 2>&1
  echo "exit $?" | tee -a "$OUT/bench.log"
}
E2E="--e2e-variant torch-eager:fp32 --e2e-variant torch-optimized:fp16:fused --e2e-variant torch-optimized:fp16:compile"
bench 150 quest2 --what model ${SIZES%% --size vive-stereo} --warmup 5 --repeats 20
bench 100 vive --what model ${SIZES##*--size quest2-stereo} --warmup 5 --repeats 20
bench 120 e2e --what e2e $SIZES --warmup 5 --frames 20 $E2E
bench 45 adain --what model --size vive-stereo --style random-adain --variant torch-eager:fp32 \
  --variant torch-eager:fp16 --variant torch-optimized:fp16:graph --variant torch-optimized:bf16:graph --warmup 3 --repeats 10

# Issue #6's figure: generator training images/s at 256x256 batch 4, fp32 vs mixed precision,
# same run (40 steps each; the rate includes the first steps' cuDNN autotuning).
echo "== artem-train speed (generator, 256x256, batch 4)" | tee -a "$OUT/bench.log"
for p in fp32 bf16 fp16; do
  timeout 18 $PY -m artem_training.app debug=default model.width=32 model.res_blocks=5 style.size=256 \
    trainer.image_size=256 trainer.batch_size=4 trainer.steps=40 trainer.log_every=40 trainer.checkpoint_every=null \
    trainer.sample_size=256 trainer.device=cuda trainer.precision=$p hydra.run.dir=/tmp/artem-train-$p 2>&1 \
    | grep -E "img/s" | tail -n 1 | sed "s/^/train $p: /" | tee -a "$OUT/bench.log"
done

grep -v "^\[torch.onnx\]" "$OUT/bench.log" | grep -E "^\||^== |^exit|^model only|^end to end|^train |Error" | tail -n 80
