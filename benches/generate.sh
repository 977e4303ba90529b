#!/usr/bin/env bash
# How long `mfactl emulator --generate users=N` takes to be ready, and its resident memory
# then. Usage: benches/generate.sh [USERS] [RUNS]   (defaults: 1000000 users, 3 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-1000000}
runs=${2:-3}
cargo build --release --quiet
out=$(mktemp)
trap 'rm -f "$out"' EXIT
times=()
for _ in $(seq "$runs"); do
  : > "$out"
  start=$(date +%s%N)
  target/release/mfactl emulator --listen 127.0.0.1:0 --generate "users=$users,groups=20,seed=1" > "$out" &
  pid=$!
  until [ -s "$out" ]; do
    kill -0 "$pid" 2>/dev/null || { echo "emulator exited early" >&2; exit 1; }
    sleep 0.02
  done
  end=$(date +%s%N)
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"
  wait "$pid"
  ms=$(( (end - start) / 1000000 ))
  times+=("$ms")
  echo "users=$users ready_ms=$ms rss_mib=$(( rss / 1024 ))"
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
echo "median ready_ms=$(echo "$sorted" | sed -n "$(( (runs + 1) / 2 ))p")"
