#!/usr/bin/env bash
# Wall time and peak memory ("Maximum resident set size" from /usr/bin/time -v) of
# `mfactl validate` on one generated policy file of many user targets, against two lower
# bounds: the file's size for memory, and for time the same bytes read and tokenised by
# saphyr-parser alone (`validate_memory_floor`, no tree, no checks).
#
# Usage: benches/validate_memory.sh [USERS] [RUNS]   (defaults: 110000 users, 5 runs)
# The file is a PerUserMfa document of USERS exceptions (`- user: uNNNNNN@contoso.com`,
# `state: enforced`): 5.9 MB for 110,000.
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-110000}
runs=${2:-5}
[ -n "${MFACTL_BENCH_NO_BUILD:-}" ] || cargo build --release --quiet --bin mfactl --example validate_memory_floor
bin=target/release/mfactl
floor=target/release/examples/validate_memory_floor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
file=$work/many-users.yaml
{
  printf 'apiVersion: mfactl/v1\nkind: PerUserMfa\nmetadata: {name: many-users}\nspec:\n  state: disabled\n  exceptions:\n'
  awk -v n="$users" 'BEGIN { for (i = 0; i < n; i++) printf "    - user: u%06d@contoso.com\n      state: enforced\n", i }'
} > "$file"
bytes=$(stat -c %s "$file")
median() { sort -n | sed -n "$(( (runs + 1) / 2 ))p"; }
measure() { # prints "wall_seconds max_rss_kib"
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" > /dev/null 2> "$work/err" || { cat "$work/err" >&2; exit 1; }
  cat "$work/time"
}
: > "$work/validate"; : > "$work/floor"
for _ in $(seq "$runs"); do
  measure "$bin" validate --policies "$file" >> "$work/validate"
  measure "$floor" "$file" >> "$work/floor"
done
v_wall=$(cut -d' ' -f1 "$work/validate" | median)
v_rss=$(cut -d' ' -f2 "$work/validate" | median)
f_wall=$(cut -d' ' -f1 "$work/floor" | median)
f_rss=$(cut -d' ' -f2 "$work/floor" | median)
awk -v users="$users" -v bytes="$bytes" -v vw="$v_wall" -v vr="$v_rss" -v fw="$f_wall" -v fr="$f_rss" -v runs="$runs" 'BEGIN {
  mb = bytes / 1e6
  printf "file: %d users, %.2f MB; medians of %d runs\n", users, mb, runs
  printf "validate:        wall %.2f s, peak RSS %.1f MiB\n", vw, vr / 1024
  printf "saphyr alone:    wall %.2f s, peak RSS %.1f MiB\n", fw, fr / 1024
  printf "ratios:          time %.1f x saphyr alone; memory %.1f x the file (%.1f x saphyr alone)\n", vw / fw, vr * 1024 / bytes, vr / fr
}'
