#!/usr/bin/env bash
# Wall time and peak memory (VmHWM / "Maximum resident set size") of `mfactl explain --live`
# on a generated tenant, mfactl alone: the emulator runs as a separate process (throttling
# off, so only mfactl's own client-side pacing limits the rate).
#
# Usage: benches/explain_memory.sh [USERS] [FORMATS]   (defaults: 1000000 users, "json csv")
#
# `explain --live` simulates the tenant as it is, whatever the policies: it reads the methods
# policy, security defaults, the Conditional Access policies and strengths, the
# registration-details report, /users (enabled, guest), the members of the groups and the
# holders of the roles the policies name, and the per-user MFA state of the users nothing else
# requires MFA of (alongside the report). Client-side pacing still applies: the report is read
# at most 5 pages (of 1,000 rows) per 10 s, so 1,000,000 users take at least
# (1,000 - 5) / 0.5 s ≈ 33 minutes, whatever the emulator's throttling.
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-1000000}
formats=${2:-json csv}
seed=1
groups=8

[ -n "${MFACTL_BENCH_NO_BUILD:-}" ] || cargo build --release --quiet
bin=target/release/mfactl

need_mb=$(( users / 1000000 * 900 + 1500 ))
avail_mb=$(free -m | awk '/^Mem:/ {print $7}')
echo "memory: ${avail_mb} MB available; the emulator needs about $(( users / 1000000 * 900 )) MB for $users users"
if [ "$avail_mb" -lt "$need_mb" ]; then
  echo "not enough memory (want ${need_mb} MB available)" >&2
  exit 2
fi

work=$(mktemp -d)
emu_pid=
cleanup() {
  if [ -n "$emu_pid" ]; then kill -TERM "$emu_pid" 2>/dev/null || true; wait "$emu_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Starts an emulator with the given --generate spec; sets emu_pid and endpoints.
start_emulator() {
  : > "$work/endpoints"
  "$bin" emulator --tls --ca-file "$work/ca.pem" --listen 127.0.0.1:0 --throttle off \
    --generate "$1" > "$work/endpoints" 2> "$work/emulator.err" &
  emu_pid=$!
  until [ -s "$work/endpoints" ]; do
    kill -0 "$emu_pid" 2>/dev/null || { echo "emulator exited early:" >&2; cat "$work/emulator.err" >&2; exit 1; }
    sleep 0.05
  done
  endpoints=$(head -n1 "$work/endpoints")
}
stop_emulator() {
  kill -TERM "$emu_pid"
  wait "$emu_pid" 2>/dev/null || true
  emu_pid=
}

# The tenant id and the reader app's client id are the first draws of the tenant's seeded
# generator, the same whatever the user count: read them from a one-user tenant's state.
start_emulator "users=1,groups=$groups,seed=$seed"
graph_url=$(jq -r .graphUrl <<< "$endpoints")
curl -sf "$graph_url/_emulator/state" > "$work/small-state.json"
tenant_id=$(jq -r '.tenants[0].id' "$work/small-state.json")
reader=$(jq -r '.tenants[0].apps[] | select(.secrets | index("emulator-reader-secret")) | .clientId' "$work/small-state.json")
stop_emulator

start=$(date +%s%N)
start_emulator "users=$users,groups=$groups,seed=$seed"
ready_ms=$(( ($(date +%s%N) - start) / 1000000 ))
emu_rss=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$emu_pid/status")
echo "emulator: $users users ready in $ready_ms ms, VmRSS $emu_rss MiB (pid $emu_pid)"

mkdir -p "$work/policies"
cp policies/*.yaml "$work/policies/"
cat > "$work/mfactl.yaml" <<EOF
tenants:
  - name: bench
    tenantId: $tenant_id
    clientId: $reader
    credential:
      clientSecret: { env: MFACTL_BENCH_CLIENT_SECRET }
    policies: [policies]
    graphUrl: $(jq -r .graphUrl <<< "$endpoints")
    authorityHost: $(jq -r .loginUrl <<< "$endpoints")
    caFile: $(jq -r .caFile <<< "$endpoints")
EOF

export MFACTL_BENCH_CLIENT_SECRET=emulator-reader-secret
# One explain per format; MFACTL_BENCH_PARALLEL=1 runs them at the same time against the
# same emulator (each is a separate process with its own pacer, so neither slows the
# other: the run is bound by the report's 5 pages per 10 s, not by CPU).
run_explain() {
  local format=$1 status=0
  /usr/bin/time -v "$bin" explain --live -o "$format" --config "$work/mfactl.yaml" \
    > "$work/out.$format" 2> "$work/time-$format.txt" || status=$?
  echo "$status" > "$work/status-$format"
}
report() {
  local format=$1 log="$work/time-$1.txt" status wall peak_kb bytes
  status=$(cat "$work/status-$format")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")
  peak_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  bytes=$(stat -c %s "$work/out.$format")
  echo "explain --live -o $format: exit $status, wall $wall, peak RSS $(( peak_kb / 1024 )) MiB ($peak_kb KiB), output $bytes bytes"
  grep -E 'registration rows|^read ' "$log" | grep -v 'progress:' || true
  if [ "$status" -ne 0 ]; then
    grep -v '^\s' "$log" | tail -n 20 >&2
  fi
}
if [ -n "${MFACTL_BENCH_PARALLEL:-}" ]; then
  pids=()
  for format in $formats; do run_explain "$format" & pids+=($!); done
  wait "${pids[@]}"
  for format in $formats; do report "$format"; done
else
  for format in $formats; do run_explain "$format"; report "$format"; done
fi
