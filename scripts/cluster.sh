#!/usr/bin/env bash
# Starts or stops the local cluster of `make run-cluster` / `make stop-cluster`: processes in the
# background, data and logs under ./run/, pid files so that running it twice is harmless.
set -euo pipefail
cd "$(dirname "$0")/.."
run=$PWD/run
bin=$PWD/target/release

start_namesrv() {
  local dir=$run/namesrv pidfile=$run/namesrv/pid
  mkdir -p "$dir"
  if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "namesrv already running (pid $(cat "$pidfile")) on 127.0.0.1:9876"
    return
  fi
  cat > "$dir/namesrv.properties" <<CONF
listenPort=9876
bindAddress=127.0.0.1
kvConfigPath=$dir/kvConfig.json
CONF
  : > "$dir/stdout.log"
  RUST_LOG=${RUST_LOG:-info} nohup "$bin/namesrv" -c "$dir/namesrv.properties" \
    > "$dir/stdout.log" 2> "$dir/namesrv.log" < /dev/null &
  echo $! > "$pidfile"
  for _ in $(seq 1 100); do
    if grep -q "listening on" "$dir/stdout.log"; then
      echo "namesrv: $(grep -o 'listening on .*' "$dir/stdout.log") (pid $(cat "$pidfile"), log $dir/namesrv.log)"
      return
    fi
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "namesrv failed to start; log:" >&2
      cat "$dir/namesrv.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "namesrv did not report its address within 10 s" >&2
  exit 1
}

stop_one() {
  local name=$1 pidfile=$run/$1/pid
  [[ -f $pidfile ]] || return 0
  local pid
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "$name did not stop within 10 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "$name stopped"
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
  start)
    start_namesrv
    echo "broker: not implemented yet (issues 5 and 6); the cluster is incomplete" >&2
    exit 1
    ;;
  stop)
    stop_one namesrv
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
