#!/usr/bin/env bash
# The standard mqbench suite of `make bench` (not part of `make test`): builds the release
# binaries, starts a fresh cluster (namesrv + one master) in a temp dir on free loopback ports,
# runs a few cases of SECONDS each with --json, prints the results as a markdown table, and
# stops the cluster on exit. Cases: sync, async and batch sends of 1 KiB bodies from 16 threads
# and a paced end-to-end run against an ASYNC_FLUSH ASYNC_MASTER; sync and batch again against a
# SYNC_FLUSH one.
#
# Usage: scripts/bench-suite.sh [SECONDS]   (default 10, or $BENCH_SECONDS). Needs jq.
# BENCH_BIN_DIR=dir uses the binaries there instead of building (to compare two builds under
# the same conditions); BENCH_BROKER_CONF='key=value\n...' is appended to every broker.conf.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-${BENCH_SECONDS:-10}}
if ! command -v jq >/dev/null; then
  echo "bench-suite: jq is needed to read the --json summaries (apt-get install jq)" >&2
  exit 1
fi
if [[ -n ${BENCH_BIN_DIR:-} ]]; then
  bin=$(cd "$BENCH_BIN_DIR" && pwd)
else
  ${CARGO:-cargo} build --release -p tools -p broker -p namesrv
  bin=$PWD/target/release
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/mqbench-suite.XXXXXX")
rows=$work/rows.md
pids=()

# stop_cluster: SIGTERM to the processes this script started (newest first), SIGKILL after 10 s.
stop_cluster() {
  local index pid
  for ((index = ${#pids[@]} - 1; index >= 0; index--)); do
    pid=${pids[index]}
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  pids=()
}
cleanup() {
  stop_cluster
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server NAME BINARY CONFIG: starts it in the background and sets $address to the
# address of its `listening on` line.
start_server() {
  local name=$1 binary=$2 config=$3 out=$work/$1.out
  "$bin/$binary" -c "$config" > "$out" 2> "$work/$name.log" < /dev/null &
  pids+=($!)
  for _ in $(seq 1 300); do
    address=$(sed -n 's/.*listening on //p' "$out")
    [[ -n $address ]] && return 0
    if ! kill -0 "${pids[-1]}" 2>/dev/null; then
      echo "bench-suite: $name failed to start; log:" >&2
      cat "$work/$name.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "bench-suite: $name did not report its address within 30 s" >&2
  exit 1
}

# start_cluster FLUSH ROLE: a namesrv and broker-a (FLUSH, ROLE) under $work/FLUSH; sets $namesrv.
start_cluster() {
  local flush=$1 role=$2 dir=$work/$1
  mkdir -p "$dir"
  printf 'listenPort=0\nbindAddress=127.0.0.1\nkvConfigPath=%s\n' "$dir/kvConfig.json" \
    > "$dir/namesrv.properties"
  start_server "namesrv-$flush" namesrv "$dir/namesrv.properties"
  namesrv=$address
  cat > "$dir/broker.conf" <<CONF
brokerClusterName=BenchCluster
brokerName=broker-a
brokerId=0
brokerRole=$role
flushDiskType=$flush
listenPort=0
haListenPort=0
brokerIP1=127.0.0.1
brokerIP2=127.0.0.1
namesrvAddr=$namesrv
storePathRootDir=$dir/store
CONF
  printf '%b\n' "${BENCH_BROKER_CONF:-}" >> "$dir/broker.conf"
  start_server "broker-$flush" broker "$dir/broker.conf"
  echo "== cluster: namesrv $namesrv, broker-a $address ($role, $flush), data under $dir"
  # The broker registers shortly after it listens; a small warm-up run waits for that.
  for _ in $(seq 1 50); do
    "$bin/mqbench" produce -n "$namesrv" -t BenchWarmup -q 2000 -w 4 > /dev/null 2>&1 && return
    sleep 0.2
  done
  echo "bench-suite: the broker did not register with the namesrv" >&2
  exit 1
}

# run_case CLUSTER NAME MQBENCH_ARGS...: runs mqbench with --json and appends a table row.
run_case() {
  local cluster=$1 name=$2 json=$work/case.json
  shift 2
  echo "== $cluster: $name: mqbench $* --duration $seconds"
  "$bin/mqbench" "$@" -n "$namesrv" --duration "$seconds" --json "$json"
  jq -r --arg cluster "$cluster" --arg name "$name" '
    def ms(f): if f == null then "-"
      else "\(f / 1000 | floor).\(f % 1000 + 1000 | tostring | .[1:])" end;
    def n(f): if f == null then "-" else (f | round | tostring) end;
    def received: if .command == "produce" then "-" else (.received | tostring) end;
    [$cluster, $name, .mode, (.body_size | tostring), (.threads | tostring),
     (.batch | tostring), (.messages_ok | tostring), (.messages_failed | tostring), n(.tps),
     (.mb_per_s * 100 | round / 100 | tostring), ms(.latency_us.p50), ms(.latency_us.p99),
     ms(.latency_us.p999), ms(.latency_us.max), received,
     ms(.e2e_latency_us.p50), ms(.e2e_latency_us.p99), (.broker_counters.put | tostring),
     (.rss_kib | tostring)]
    | "| " + join(" | ") + " |"' "$json" >> "$rows"
}

# broker_peak CLUSTER: the running broker's peak RSS (VmHWM), for the memory line.
broker_peak() {
  local pid=${pids[-1]}
  echo "$1: broker peak RSS $(sed -n 's/^VmHWM:[[:space:]]*//p' "/proc/$pid/status")" \
    >> "$work/peaks"
}

async_cases() {
  local cluster="ASYNC_FLUSH ASYNC_MASTER"
  start_cluster ASYNC_FLUSH ASYNC_MASTER
  run_case "$cluster" "sync 1 KiB x16" produce -t BenchSync -s 1024 -w 16
  run_case "$cluster" "async 1 KiB x16" produce -t BenchAsync -s 1024 -w 16 --mode async
  run_case "$cluster" "batch 16 x 1 KiB x16" produce -t BenchBatch -s 1024 -w 16 --batch 16
  run_case "$cluster" "e2e 1 KiB x8 at 5000/s" e2e -t BenchE2e -s 1024 -w 8 --rate 5000
  broker_peak "$cluster"
  stop_cluster
}

sync_flush_cases() {
  local cluster="SYNC_FLUSH ASYNC_MASTER"
  start_cluster SYNC_FLUSH ASYNC_MASTER
  run_case "$cluster" "sync 1 KiB x16" produce -t BenchSync -s 1024 -w 16
  run_case "$cluster" "batch 16 x 1 KiB x16" produce -t BenchBatch -s 1024 -w 16 --batch 16
  broker_peak "$cluster"
  stop_cluster
}

async_cases
sync_flush_cases

echo
commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
echo "mqbench suite: $seconds s per case, $(uname -sr), $(nproc) CPUs, $commit," \
  "$(date -u +%Y-%m-%dT%H:%MZ)"
echo "Latencies in ms (send: call to answer; e2e: receive time - born time)." \
  "put: the broker's msgPutTotalTodayNow delta."
echo
echo "| cluster | case | mode | body B | threads | batch | sent ok | failed | TPS | MB/s" \
  "| p50 | p99 | p999 | max | received | e2e p50 | e2e p99 | put | RSS KiB |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
cat "$rows"
echo
cat "$work/peaks"
