#!/usr/bin/env bash
# Runs Apache RocketMQ's own namesrv and broker (4.9.x jars from Maven Central, copied into
# integration/java-servers/target/dependency by `mvn package`) and then COMMAND with
# NAMESRV=127.0.0.1:19876 in its environment. Meant to run inside `unshare --net
# --map-root-user`, so that the Java servers (which listen on every interface) see only a
# private loopback. Usage: apache-servers.sh WORKDIR COMMAND [ARGS...]
set -euo pipefail
work=$1
shift
here=$(cd "$(dirname "$0")/.." && pwd)
classpath="$here/java-servers/target/dependency/*"
ip link set lo up
mkdir -p "$work/home/conf" "$work/store"
for name in namesrv broker; do
  cat > "$work/home/conf/logback_$name.xml" <<XML
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>$work/$name.log</file>
    <encoder><pattern>%d %p %c{1} - %m%n</pattern></encoder>
  </appender>
  <root level="WARN"><appender-ref ref="FILE"/></root>
</configuration>
XML
done
cat > "$work/namesrv.properties" <<CONF
listenPort=19876
CONF
cat > "$work/broker.conf" <<CONF
brokerClusterName=ApacheCluster
brokerName=apache-a
brokerId=0
listenPort=20911
brokerIP1=127.0.0.1
namesrvAddr=127.0.0.1:19876
storePathRootDir=$work/store
storePathCommitLog=$work/store/commitlog
mappedFileSizeCommitLog=67108864
autoCreateTopicEnable=true
flushDiskType=ASYNC_FLUSH
CONF
opens=(--add-opens java.base/java.nio=ALL-UNNAMED --add-opens java.base/sun.nio.ch=ALL-UNNAMED
  --add-exports java.base/sun.nio.ch=ALL-UNNAMED --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
  --add-opens java.base/java.lang=ALL-UNNAMED)
java -Xmx256m "${opens[@]}" -Drocketmq.home.dir="$work/home" -cp "$classpath" \
  org.apache.rocketmq.namesrv.NamesrvStartup -c "$work/namesrv.properties" > "$work/namesrv.out" 2>&1 &
namesrv=$!
java -Xms512m -Xmx512m -XX:MaxDirectMemorySize=512m "${opens[@]}" -Drocketmq.home.dir="$work/home" \
  -Duser.home="$work" -cp "$classpath" org.apache.rocketmq.broker.BrokerStartup \
  -c "$work/broker.conf" > "$work/broker.out" 2>&1 &
broker=$!
trap 'kill $namesrv $broker 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  if grep -q "boot success" "$work/broker.out" 2>/dev/null; then break; fi
  if ! kill -0 $broker 2>/dev/null; then echo "APACHE_BROKER_DIED"; cat "$work/broker.out"; exit 1; fi
  sleep 0.1
done
grep -q "boot success" "$work/broker.out" || { echo "APACHE_BROKER_NOT_READY"; cat "$work/broker.out"; exit 1; }
# The broker registers with the namesrv right after it reports boot success.
sleep 2
NAMESRV=127.0.0.1:19876 "$@"
