#!/usr/bin/env bash
# Every GPU check in one go, for a session with a GPU machine (one H100 or H200: ~5 minutes,
# at most 9 with every step at its limit).
#
#   here:   bash bench/gpu_prepare.sh                  (wheels the GPU image lacks, into .whl/)
#   device: run(command="bash bench/gpu_check.sh", carry=[".whl"], timeout_s=590)
#
# In order of what matters most, each step with its own time limit so one slow step cannot
# starve the next, each writing under $OUT as it goes:
# 1. the environment (GPU, torch, CuPy, onnxruntime providers)      -> $OUT/env.txt
# 2. the gpu-marked tests: fused conversions vs the CPU path, every backend vs eager fp32,
#    DLPack sharing, CUDA-graph replay after a style switch, the CUDA server against the CPU
#    server through inline, shm and JPEG (nvJPEG) frames            -> $OUT/gpu-tests.{log,xml}
# 3. artem bench, model only, quest2-stereo (#4's target): eager fp32 baseline, fp16 eager,
#    graphs, fused (torch.compile's max-autotune is left out: minutes of tuning per shape)
#                                                                   -> $OUT/bench-quest2.json
# 4. the adain target's row and the generator at vive-stereo      -> $OUT/bench-vive.json
# 5. end to end (a real server on loopback), inline and shm, eager fp32 vs fp16 fused, at
#    quest2-stereo and vive-stereo: the server's overhead beyond the model -> $OUT/bench-e2e.json
# 6. artem-train images/s, generator at 256x256 batch 4, fp32 vs bf16 vs fp16 (#6)
# All logs go to $OUT/bench.log; the tables are printed last (the device reply carries the end
# of the output).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
SIZES=${ARTEM_BENCH_SIZES:---size quest2-stereo --size vive-stereo}
# A dry run on a CPU machine: ARTEM_SKIP_WHEELS=1 PYTHON=.venv/bin/python ARTEM_BENCH_SIZES="--size tiny"
# ARTEM_TRAIN_DEVICE=cpu OUT=/tmp/gpu-out bash bench/gpu_check.sh
source bench/gpu_env.sh

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
timeout 170 $PY -m pytest -q -p no:cacheprovider --timeout 120 -m gpu tests/test_kernels_gpu.py \
  tests/test_backends_gpu.py tests/test_server_gpu.py tests/test_transport_jpeg.py tests/test_metrics.py \
  --junitxml="$OUT/gpu-tests.xml" >"$OUT/gpu-tests.log" 2>&1
echo "pytest exit $?"
# the kernel sources through NVRTC as CuPy compiles them (the image has the nvrtc wheel)
timeout 60 $PY -m pytest -q -p no:cacheprovider tests/test_kernels_nvrtc.py >>"$OUT/gpu-tests.log" 2>&1
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
MODEL="--variant torch-eager:fp32 --variant torch-eager:fp16 --variant torch-optimized:fp16:graph \
  --variant torch-optimized:bf16:graph --variant torch-optimized:fp16:fused --variant torch-optimized:bf16:fused \
  --variant onnxruntime:fp16"
bench 110 quest2 --what model ${SIZES%% --size vive-stereo} --warmup 5 --repeats 20 $MODEL
bench 70 vive --what model ${SIZES##*--size quest2-stereo} --style random-generator --style random-adain \
  --variant torch-eager:fp32 --variant torch-eager:fp16 --variant torch-optimized:fp16:graph \
  --variant torch-optimized:fp16:fused --warmup 3 --repeats 10
bench 110 e2e --what e2e $SIZES --warmup 5 --frames 20 --transport inline --transport shm \
  --e2e-variant torch-eager:fp32 --e2e-variant torch-optimized:fp16:fused

# Issue #6's figure: generator training images/s at 256x256 batch 4, fp32 vs mixed precision,
# same run (40 steps each; the rate includes the first steps' cuDNN autotuning).
echo "== artem-train speed (generator, 256x256, batch 4)" | tee -a "$OUT/bench.log"
for p in fp32 bf16 fp16; do
  timeout 18 $PY -m artem_training.app debug=default model.width=32 model.res_blocks=5 style.size=256 \
    trainer.image_size=256 trainer.batch_size=4 trainer.steps=40 trainer.log_every=40 trainer.checkpoint_every=null \
    trainer.sample_size=256 trainer.device=${ARTEM_TRAIN_DEVICE:-cuda} trainer.precision=$p \
    hydra.run.dir=/tmp/artem-train-$p >/tmp/artem-train-$p.log 2>&1
  printf '\nexit %s\n' $? >>/tmp/artem-train-$p.log  # after tqdm's last carriage return
  cat /tmp/artem-train-$p.log >>"$OUT/bench.log"
  grep -E "img/s|Error|^exit" /tmp/artem-train-$p.log | tail -n 2 | sed "s/^/train $p: /"
done

grep -v "^\[torch.onnx\]" "$OUT/bench.log" | grep -E "^\||^== |^exit|^model only|^end to end|^train |Error" | tail -n 80
