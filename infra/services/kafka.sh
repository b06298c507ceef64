# Apache Kafka, single-node KRaft (broker + controller in one JVM), jars from Maven Central.
KAFKA_PORT=${TRIBUTARY_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${TRIBUTARY_KAFKA_CONTROLLER_PORT:-9093}
KAFKA_LIBS="$INFRA_DIR/kafka/libs"
KAFKA_DIR="$TRIBUTARY_DATA/kafka"
KAFKA_PID="$KAFKA_DIR/kafka.pid"
KAFKA_CLUSTER_ID="dHJpYnV0YXJ5LWRldg" # fixed: one local cluster per checkout

kafka_version() { sed -n 's#.*<kafka.version>\(.*\)</kafka.version>.*#\1#p' "$INFRA_DIR/kafka/pom.xml"; }

kafka_install() {
  command -v java >/dev/null || die "java not found: install a Java 17 JDK (apt-get install openjdk-17-jdk-headless)"
  local v; v=$(kafka_version)
  if [ -f "$KAFKA_LIBS/kafka_2.13-$v.jar" ]; then return 0; fi
  command -v mvn >/dev/null || die "mvn not found: install Maven (apt-get install maven)"
  log "kafka: downloading Kafka $v jars from Maven Central into infra/kafka/libs"
  rm -rf "$KAFKA_LIBS"
  mvn -q -B -f "$INFRA_DIR/kafka/pom.xml" dependency:copy-dependencies -DoutputDirectory="$KAFKA_LIBS" \
    >"$LOG_DIR/kafka-mvn.log" 2>&1 || die "kafka: Maven could not fetch the jars, see $LOG_DIR/kafka-mvn.log"
}

kafka_write_config() {
  mkdir -p "$KAFKA_DIR/logs"
  cat >"$KAFKA_DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$KAFKA_DIR/logs
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.retention.hours=24
log.segment.bytes=268435456
PROPS
  cat >"$KAFKA_DIR/log4j2.yaml" <<'LOG'
Configuration:
  Appenders:
    Console: { name: STDOUT, PatternLayout: { pattern: "[%d] %p %m (%c)%n" } }
  Loggers:
    Root: { level: WARN, AppenderRef: [{ ref: STDOUT }] }
    Logger:
      - { name: kafka.server.KafkaRaftServer, level: INFO }
      - { name: kafka.server.BrokerServer, level: INFO }
LOG
}

kafka_java() {
  exec java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.yaml" -cp "$KAFKA_LIBS/*" "$@"
}

kafka_start() {
  kafka_write_config
  if [ ! -f "$KAFKA_DIR/logs/meta.properties" ]; then
    log "kafka: formatting storage (cluster id $KAFKA_CLUSTER_ID)"
    (kafka_java kafka.tools.StorageTool format --standalone -t "$KAFKA_CLUSTER_ID" -c "$KAFKA_DIR/server.properties") \
      >"$LOG_DIR/kafka-format.log" 2>&1 || die "kafka: storage format failed, see $LOG_DIR/kafka-format.log"
  fi
  port_open $KAFKA_PORT && die "kafka: port $KAFKA_PORT is taken by another process"
  (kafka_java kafka.Kafka "$KAFKA_DIR/server.properties") </dev/null >"$LOG_DIR/kafka.log" 2>&1 &
  echo $! >"$KAFKA_PID"
  # Done only when the broker answers a Metadata request (not merely when the port opens).
  wait_for "kafka metadata" 90 kafka_metadata_ok || { tail -20 "$LOG_DIR/kafka.log" >&2; die "kafka: no metadata response within 90s, see $LOG_DIR/kafka.log"; }
}

kafka_metadata_ok() {
  pid_alive "$KAFKA_PID" || return 1
  port_open $KAFKA_PORT || return 1
  node "$INFRA_DIR/kafka/metadata-check.mjs" "127.0.0.1:$KAFKA_PORT"
}

kafka_stop() { stop_pidfile kafka "$KAFKA_PID" 60; }
kafka_running() { pid_alive "$KAFKA_PID" && port_open $KAFKA_PORT; }
kafka_describe() { echo "Kafka $(kafka_version) KRaft on 127.0.0.1:$KAFKA_PORT, data $KAFKA_DIR"; }
