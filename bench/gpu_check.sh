#!/usr/bin/env bash
# Every GPU figure ArtEm tracks, in one run on one H100 or H200, each with its baseline measured
# in the same run, in under 6 minutes (a deadline caps every step; the most important go first).
#
#   here:   bash bench/gpu_prepare.sh                  (wheels the GPU image lacks, into .whl/)
#   device: run(command="bash bench/gpu_check.sh", carry=[".whl"], timeout_s=420)
#   dry run on a CPU machine (every entry point, tiny frames, GPU tests skipped):
#           ARTEM_DEVICE=cpu PYTHON=.venv/bin/python ARTEM_SKIP_WHEELS=1 OUT=/tmp/gpu-out bash bench/gpu_check.sh
#
# Steps, in order; what each measures                                  (results under $OUT)
#  1. the environment: GPU, driver, torch, cuDNN, CuPy, onnxruntime providers, torchvision
#  2. the fused kernels' GPU tests (adain and instnorm against their torch twins, the default
#     adain mode against eager fp32, NVRTC builds, the xnor kernels against their CPU reference
#     bit for bit)
# 2b. xnor (bench/xnor_gpu.py): binary conv 128->128 on 2x128x480x458, packing included, vs
#     cuDNN fp16 channels-last (ratio, bytes/s against a device copy's rate); the xnor generator
#     on the kernels vs the fused fp16 generator at quest2-stereo; its top kernels; the shipped
#     nocturne-xnor's CUDA output against its CPU output (PSNR); then `artem bench` of a full-size
#     random xnor style as the server runs it (torch-optimized fp16 fused)
#  3. generator, quest2-stereo, model only: eager fp32 (baseline), eager fp16, fused fp16, with
#     each row's top operators
#  4. adain (VGG-19 + decoder, random weights), vive-stereo and quest2-stereo, model only:
#     eager fp32 (baseline), eager fp16, fused fp16, with top operators
#  5. end to end over shared memory, one frame in flight, quest2-stereo and vive-stereo,
#     identity + generator + adain: eager fp32 (baseline) vs fused fp16; fps, p50/p95, the
#     server's model time and its overhead beyond the model
#  6. start-up: `artem serve --device cuda` with every built-in style and both warm sizes, seconds
#     to SERVING, then each style's first and second frame (bench/startup.py)
#  7. JPEG frames: nvJPEG (torchvision) vs Pillow's libjpeg-turbo, quest2-stereo (bench/jpeg_codec.py)
#  8. onnxruntime-gpu fp16 vs eager fp32 and fused fp16, generator quest2-stereo, when its wheel
#     was staged (bench/gpu_stage_ort.sh), else the reason it did not run
#  9. the remaining gpu-marked tests (backends, the CUDA server against the CPU server through
#     inline, shm and JPEG frames), in what time is left
# 10. artem-train images/s, generator at 256x256 batch 4, fp32 vs bf16 vs fp16, if time is left
# Files: env.txt, tests.log, bench.log (every step's full output), results.json (every step's
# JSON), summary.md (the tables, printed last too).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
DEVICE=${ARTEM_DEVICE:-cuda}
if [ "$DEVICE" = cpu ]; then  # the dry run: bf16 for fp16 (CPU convs in fp16 take minutes), slack
  QUEST=tiny VIVE="" WARMUP="--warmup 1 --repeats 2" FRAMES="--warmup 1 --frames 3" HALF=bf16 SLACK=3
else
  QUEST=quest2-stereo VIVE=vive-stereo WARMUP="--warmup 5 --repeats 20" FRAMES="--warmup 5 --frames 30" HALF=fp16 SLACK=1
fi
SIZES="--size $QUEST${VIVE:+ --size $VIVE}"
DEADLINE=$((SECONDS + SLACK * ${ARTEM_CHECK_SECONDS:-345}))
WORK=$(mktemp -d)
source bench/gpu_env.sh

limit() {  # limit WANTED -> min(WANTED, seconds left before the deadline), 0 when too little is left
  local left=$((DEADLINE - SECONDS)) want=$((SLACK * $1))
  [ "$left" -lt 10 ] && { echo 0; return; }
  echo $((want < left ? want : left))
}
step() {  # step WANTED_S NAME CMD...: runs CMD under its limit, output into bench.log
  local t name=$2
  t=$(limit "$1")
  shift 2
  if [ "$t" = 0 ]; then
    echo "== $name: skipped, the run's deadline has passed" | tee -a "$OUT/bench.log"
    return
  fi
  echo "== $name (limit ${t}s): $*" | tee -a "$OUT/bench.log"
  local start=$SECONDS
  timeout "$t" "$@" >>"$OUT/bench.log" 2>&1
  local rc=$?
  echo >>"$OUT/bench.log"  # after a progress bar's last carriage return
  echo "exit $rc after $((SECONDS - start))s" | tee -a "$OUT/bench.log"
}
bench() {  # bench WANTED_S NAME ARGS...: artem bench writing $WORK/NAME.json
  local t=$1 name=$2
  shift 2
  step "$t" "$name" $PY -m artem_server.cli --log-level WARNING bench --device "$DEVICE" "$@" \
    --json "$WORK/$name.json"
}
tests() {  # tests WANTED_S NAME FILES...
  local t name=$2
  t=$(limit "$1")
  shift 2
  [ "$t" = 0 ] && { echo "== $name: skipped, the run's deadline has passed"; return; }
  echo "== $name (limit ${t}s)" | tee -a "$OUT/tests.log"
  timeout "$t" $PY -m pytest -q -p no:cacheprovider --timeout 120 -m gpu "$@" >>"$OUT/tests.log" 2>&1
  echo "pytest exit $?" | tee -a "$OUT/tests.log"
  grep -E "passed|failed|error|skipped" "$OUT/tests.log" | tail -n 1
}

{ # 1
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv 2>&1
  timeout 60 $PY - <<'PYEOF'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())
if torch.cuda.is_available():
    print("gpu", torch.cuda.get_device_name(0), torch.cuda.get_device_properties(0))
for name in ("cupy", "torchvision", "grpc", "google.protobuf"):
    try:
        print(name, __import__(name, fromlist=["_"]).__version__)
    except Exception as e:
        print(f"{name}: unavailable: {e}")
try:
    import onnxruntime as ort
    print("onnxruntime", ort.__version__, ort.__file__, ort.get_available_providers())
except Exception as e:
    print("onnxruntime: unavailable:", e)
from artem_kernels import convert
print("fused kernels available:", convert.available())
PYEOF
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

# 2
tests 70 "fused kernels' gpu tests" tests/test_fused_adain_gpu.py tests/test_kernels_gpu.py tests/test_kernels_nvrtc.py \
  tests/test_xnor_gpu.py
# 2b
step 60 xnor $PY bench/xnor_gpu.py --device "$DEVICE" $WARMUP --xnor-style nocturne-xnor --json "$WORK/xnor.json"
XNOR_RUN=torch-optimized:fp16:fused
[ "$DEVICE" = cpu ] && XNOR_RUN=torch-eager:fp32  # the xnor kind's CPU run (the reference arithmetic)
bench 30 xnor-served --what model --size $QUEST --style random-xnor $WARMUP --variant $XNOR_RUN
# 3, 4
bench 50 generator-quest2 --what model --size $QUEST --style random-generator $WARMUP --profile 12 \
  --variant torch-eager:fp32 --variant torch-eager:$HALF --variant torch-optimized:$HALF:fused
bench 70 adain --what model $SIZES --style random-adain $WARMUP --profile 12 \
  --variant torch-eager:fp32 --variant torch-eager:$HALF --variant torch-optimized:$HALF:fused
# 5
bench 90 e2e --what e2e $SIZES --style random-generator --style random-adain $FRAMES \
  --transport shm --e2e-variant torch-eager:fp32 --e2e-variant torch-optimized:$HALF:fused
# 6
step 60 startup $PY bench/startup.py --device "$DEVICE" ${SIZES//--size/--warm-size} --limit $((SLACK * 50)) \
  --json "$WORK/startup.json"
# 7
step 30 jpeg $PY bench/jpeg_codec.py --size $QUEST --repeats 10 --json "$WORK/jpeg.json"
# 8
ORT_WHY=$($PY -c "import onnxruntime as o; p = o.get_available_providers(); print('' if 'CUDAExecutionProvider' in p
  else f'onnxruntime {o.__version__} offers {p} only')" 2>&1 | tail -n 1)
if [ -z "$ORT_WHY" ] || [ "$DEVICE" = cpu ]; then
  ORT=onnxruntime:fp16
  [ "$DEVICE" = cpu ] && ORT=onnxruntime:fp32  # ORT's CPU provider has no fp16 convolutions
  bench 80 onnxruntime --what model --size $QUEST --style random-generator $WARMUP \
    --variant torch-eager:fp32 --variant $ORT --variant torch-optimized:$HALF:fused
else
  echo "== onnxruntime: not run: $ORT_WHY; onnxruntime-gpu's wheel (256 MB) travels only in parts:" \
    "bash bench/gpu_prepare.sh --ort here, then one run of bench/gpu_stage_ort.sh per part" | tee -a "$OUT/bench.log"
fi
# 9
tests 200 "remaining gpu tests" tests/test_backends_gpu.py tests/test_server_gpu.py tests/test_transport_jpeg.py \
  tests/test_metrics.py
# 10 (#6's figure): generator training images/s at 256x256 batch 4, fp32 vs mixed precision,
# 40 steps each (the rate includes the first steps' cuDNN autotuning)
for p in fp32 bf16 fp16; do
  [ "$DEVICE" = cpu ] && [ "$p" = fp16 ] && continue  # fp16 training needs CUDA
  step 20 "artem-train $p" $PY -m artem_training.app debug=default model.width=32 model.res_blocks=5 style.size=256 \
    trainer.image_size=256 trainer.batch_size=4 trainer.steps=$([ "$DEVICE" = cpu ] && echo 2 || echo 40) \
    trainer.log_every=40 trainer.checkpoint_every=null trainer.sample_size=256 trainer.device=$DEVICE \
    trainer.precision=$p hydra.run.dir="$WORK/train-$p"
done

$PY - "$WORK" "$OUT/results.json" <<'PYEOF'
import json, pathlib, sys
work, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
out.write_text(json.dumps({p.stem: json.loads(p.read_text()) for p in sorted(work.glob("*.json"))}, indent=1))
PYEOF
grep -v "^\[torch.onnx\]" "$OUT/bench.log" | tr '\r' '\n' \
  | grep -E "^\||^== |^exit|^model only|^end to end|^SERVING|^not SERVING|^JPEG|^artem serve|img/s|Error|bit-identical|device copy" \
  >"$OUT/summary.md"
cat "$OUT/summary.md"
echo "total ${SECONDS}s"
rm -rf "$WORK"
