#!/usr/bin/env bash
# The README's first command (`make demo`): start `artem serve` on loopback with the default
# style on the CPU, stream a built-in moving scene through it, save the stylized frames, print
# speed and latency, and stop the server with SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."
ARTEM=.venv/bin/artem
STYLE=${STYLE:-nocturne}
FRAMES=${FRAMES:-60}
SIZE=${SIZE:-256x256}
OUT=${OUT:-demo-out}
PORT=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

$ARTEM --log-level WARNING serve --host 127.0.0.1 --port "$PORT" --device cpu &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null || true' EXIT

rm -rf "$OUT"
$ARTEM --log-level WARNING client --server "127.0.0.1:$PORT" --style "$STYLE" --source synthetic \
    --frames "$FRAMES" --size "$SIZE" --out "$OUT"

kill -TERM $SERVER
trap - EXIT
if wait $SERVER; then
  echo "demo: server stopped cleanly; $(ls "$OUT" | wc -l) stylized frames in $OUT/"
else
  echo "demo: server exited with status $?" >&2
  exit 1
fi
