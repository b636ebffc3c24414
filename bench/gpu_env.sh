# Sourced (from the repository root) by the GPU machine's scripts, or before a command of one's
# own there: installs the wheels carried in .whl (bench/gpu_prepare.sh) and puts the repository's
# packages on PYTHONPATH under the import names pyproject maps, without installing ArtEm.
#   run(command="source bench/gpu_env.sh && $PY -m pytest -q -m gpu tests/test_server_gpu.py", carry=[".whl"])
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
# onnxruntime-gpu, when bench/gpu_stage_ort.sh has left all its parts in /tmp/artem-ort: joined
# and checked against the SHA-256 that bench/gpu_prepare.sh --ort wrote.
ort_wheel=()
if [ -z "${ARTEM_SKIP_WHEELS:-}" ] && [ -f /tmp/artem-ort/MANIFEST ]; then
  read -r ort_name ort_sum ort_parts </tmp/artem-ort/MANIFEST
  if [ "$(ls /tmp/artem-ort/part-* 2>/dev/null | wc -l)" = "$ort_parts" ]; then
    [ -f "/tmp/artem-ort/$ort_name" ] || cat /tmp/artem-ort/part-* >"/tmp/artem-ort/$ort_name"
    if echo "$ort_sum  /tmp/artem-ort/$ort_name" | sha256sum -c --quiet -; then
      ort_wheel=("/tmp/artem-ort/$ort_name")
    else
      echo "gpu_env: $ort_name does not match its SHA-256; onnxruntime-gpu left out" >&2
    fi
  else
    echo "gpu_env: $(ls /tmp/artem-ort/part-* 2>/dev/null | wc -l) of $ort_parts parts of $ort_name" \
      "staged; onnxruntime-gpu left out" >&2
  fi
fi
# Wheels carried in .whl (and onnxruntime-gpu): installed beside, not over, the image's
# packages; /tmp/site comes first on the path, so its onnxruntime is the GPU build.
if [ -z "${ARTEM_SKIP_WHEELS:-}" ] && { compgen -G ".whl/*.whl" >/dev/null || [ ${#ort_wheel[@]} -gt 0 ]; }; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    $(compgen -G ".whl/*.whl") "${ort_wheel[@]}" && export PYTHONPATH=/tmp/site
fi
# The import names pyproject maps (artem_kernels = kernels/, ...), without installing.
shim=/tmp/artem-shim
mkdir -p "$shim"
ln -sfn "$PWD/kernels" "$shim/artem_kernels"
ln -sfn "$PWD/engine_clients/python/artem_client" "$shim/artem_client"
ln -sfn "$PWD/protocol/artem_protocol" "$shim/artem_protocol"
ln -sfn "$PWD/training" "$shim/artem_training"
export PYTHONPATH="$PWD:$shim${PYTHONPATH:+:$PYTHONPATH}"
