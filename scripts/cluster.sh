#!/usr/bin/env bash
# Starts or stops the local cluster of `make run-cluster` / `make stop-cluster`: processes in the
# background, data and logs under ./run/, pid files so that running it twice is harmless.
set -euo pipefail
cd "$(dirname "$0")/.."
run=$PWD/run
bin=$PWD/target/release

# start_server NAME BINARY CONFIG_FILE: starts it in the background under run/NAME unless its pid
# file names a live process, and waits for its `listening on` line.
start_server() {
  local name=$1 binary=$2 config=$3 dir=$run/$1 pidfile=$run/$1/pid
  if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "$name already running (pid $(cat "$pidfile"))"
    return
  fi
  : > "$dir/stdout.log"
  RUST_LOG=${RUST_LOG:-info} nohup "$bin/$binary" -c "$config" \
    > "$dir/stdout.log" 2> "$dir/$name.log" < /dev/null &
  echo $! > "$pidfile"
  for _ in $(seq 1 300); do
    if grep -q "listening on" "$dir/stdout.log"; then
      echo "$name: $(grep -o 'listening on .*' "$dir/stdout.log") (pid $(cat "$pidfile"), log $dir/$name.log)"
      return
    fi
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "$name failed to start; log:" >&2
      cat "$dir/$name.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "$name did not report its address within 30 s" >&2
  exit 1
}

start_namesrv() {
  local dir=$run/namesrv
  mkdir -p "$dir"
  cat > "$dir/namesrv.properties" <<CONF
listenPort=9876
bindAddress=127.0.0.1
kvConfigPath=$dir/kvConfig.json
CONF
  start_server namesrv namesrv "$dir/namesrv.properties"
}

start_slave() {
  local dir=$run/broker-a-slave
  mkdir -p "$dir"
  cat > "$dir/broker.conf" <<CONF
brokerClusterName=DefaultCluster
brokerName=broker-a
brokerId=1
brokerRole=SLAVE
flushDiskType=SYNC_FLUSH
listenPort=10921
haListenPort=10922
brokerIP1=127.0.0.1
brokerIP2=127.0.0.1
namesrvAddr=127.0.0.1:9876
storePathRootDir=$dir/store
CONF
  start_server broker-a-slave broker "$dir/broker.conf"
}

start_master() {
  local dir=$run/broker-a-master
  mkdir -p "$dir"
  cat > "$dir/broker.conf" <<CONF
brokerClusterName=DefaultCluster
brokerName=broker-a
brokerId=0
brokerRole=SYNC_MASTER
flushDiskType=SYNC_FLUSH
listenPort=10911
haListenPort=10912
brokerIP1=127.0.0.1
brokerIP2=127.0.0.1
namesrvAddr=127.0.0.1:9876
storePathRootDir=$dir/store
CONF
  start_server broker-a-master broker "$dir/broker.conf"
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
    start_master
    start_slave
    echo "cluster DefaultCluster: namesrv 127.0.0.1:9876, broker-a master 127.0.0.1:10911" \
      "(SYNC_MASTER, SYNC_FLUSH, HA 10912), slave 127.0.0.1:10921; data and logs under $run"
    ;;
  stop)
    stop_one broker-a-slave
    stop_one broker-a-master
    stop_one namesrv
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
