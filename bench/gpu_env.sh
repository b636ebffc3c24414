# Sourced (from the repository root) by the GPU machine's scripts, or before a command of one's
# own there: installs the wheels carried in .whl (bench/gpu_prepare.sh) and puts the repository's
# packages on PYTHONPATH under the import names pyproject maps, without installing ArtEm.
#   run(command="source bench/gpu_env.sh && $PY -m pytest -q -m gpu tests/test_server_gpu.py", carry=[".whl"])
PY=${PYTHON:-python3}
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
