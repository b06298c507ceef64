# Apache Kafka, single-node KRaft (broker + controller in one JVM), jars from Maven Central.
KAFKA_PORT=${TRIBUTARY_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${TRIBUTARY_KAFKA_CONTROLLER_PORT:-9093}
KAFKA_LIBS="$INFRA_DIR/kafka/libs"
KAFKA_DIR="$TRIBUTARY_DATA/kafka"
KAFKA_PID="$KAFKA_DIR/kafka.pid"
KAFKA_CLUSTER_ID="dHJpYnV0YXJ5LWRldg" # fixed: one local cluster per checkout
# Opt-in authenticated listeners (for tests of TLS/SASL; the default broker has neither):
# TRIBUTARY_KAFKA_SASL_PORT=N adds SASL_PLAINTEXT on N, TRIBUTARY_KAFKA_SSL_PORT=N adds SASL_SSL
# on N (self-signed CA and broker certificate in $KAFKA_DIR/tls, CA at tls/ca.pem). Both accept
# PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 for the user tributary / tributary-secret.
KAFKA_SASL_PORT=${TRIBUTARY_KAFKA_SASL_PORT:-}
KAFKA_SSL_PORT=${TRIBUTARY_KAFKA_SSL_PORT:-}
KAFKA_SASL_USER=tributary
KAFKA_SASL_PASSWORD=tributary-secret

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

# Self-signed CA + broker certificate (SAN 127.0.0.1, localhost) as PEM files Kafka reads.
kafka_tls_files() {
  local d="$KAFKA_DIR/tls"
  [ -f "$d/broker.pem" ] && return 0
  mkdir -p "$d"
  command -v openssl >/dev/null || apt_install openssl
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tributary-test-ca" \
    -keyout "$d/ca.key" -out "$d/ca.pem" >/dev/null 2>&1 || die "kafka: openssl CA failed"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$d/broker.key" \
    -out "$d/broker.csr" >/dev/null 2>&1 || die "kafka: openssl CSR failed"
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/san.ext"
  openssl x509 -req -in "$d/broker.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 3650 -extfile "$d/san.ext" -out "$d/broker.crt" >/dev/null 2>&1 || die "kafka: openssl sign failed"
  openssl pkcs8 -topk8 -nocrypt -in "$d/broker.key" -out "$d/broker.p8" || die "kafka: openssl pkcs8 failed"
  cat "$d/broker.crt" "$d/broker.p8" >"$d/broker.pem"
}

# listeners, advertised listeners and protocol map with the opt-in SASL/SSL listeners.
kafka_listeners() {
  LISTENERS="PLAINTEXT://127.0.0.1:$KAFKA_PORT"
  PROTOCOLS="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  AUTH_PROPS=""
  [ -n "$KAFKA_SASL_PORT$KAFKA_SSL_PORT" ] || return 0
  local jaas_plain="org.apache.kafka.common.security.plain.PlainLoginModule required user_$KAFKA_SASL_USER=\"$KAFKA_SASL_PASSWORD\";"
  local jaas_scram="org.apache.kafka.common.security.scram.ScramLoginModule required;"
  local name
  for name in ${KAFKA_SASL_PORT:+sasl_plaintext} ${KAFKA_SSL_PORT:+sasl_ssl}; do
    AUTH_PROPS+="listener.name.$name.plain.sasl.jaas.config=$jaas_plain
listener.name.$name.scram-sha-256.sasl.jaas.config=$jaas_scram
listener.name.$name.scram-sha-512.sasl.jaas.config=$jaas_scram
"
  done
  AUTH_PROPS+="sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
"
  if [ -n "$KAFKA_SASL_PORT" ]; then
    LISTENERS+=",SASL_PLAINTEXT://127.0.0.1:$KAFKA_SASL_PORT"
    PROTOCOLS+=",SASL_PLAINTEXT:SASL_PLAINTEXT"
  fi
  if [ -n "$KAFKA_SSL_PORT" ]; then
    kafka_tls_files
    LISTENERS+=",SASL_SSL://127.0.0.1:$KAFKA_SSL_PORT"
    PROTOCOLS+=",SASL_SSL:SASL_SSL"
    AUTH_PROPS+="listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$KAFKA_DIR/tls/broker.pem
"
  fi
}

kafka_write_config() {
  mkdir -p "$KAFKA_DIR/logs"
  kafka_listeners
  cat >"$KAFKA_DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=$LISTENERS,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=$LISTENERS
controller.listener.names=CONTROLLER
listener.security.protocol.map=$PROTOCOLS
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
  printf '%s' "$AUTH_PROPS" >>"$KAFKA_DIR/server.properties"
  cat >"$KAFKA_DIR/log4j2.yaml" <<'LOG'
Configuration:
  Appenders:
    Console: { name: STDOUT, PatternLayout: { pattern: "[%d] %p %m (%c)%n" } }
  Loggers:
    Root: { level: WARN, AppenderRef: [{ ref: STDOUT }] }
    Logger:
      - { name: kafka.server.KafkaRaftServer, level: INFO }
      - { name: kafka.server.BrokerServer, level: INFO }
      - { name: kafka.coordinator.transaction, level: INFO }
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
    local scram=()
    if [ -n "$KAFKA_SASL_PORT$KAFKA_SSL_PORT" ]; then
      scram=(--add-scram "SCRAM-SHA-256=[name=$KAFKA_SASL_USER,password=$KAFKA_SASL_PASSWORD]"
        --add-scram "SCRAM-SHA-512=[name=$KAFKA_SASL_USER,password=$KAFKA_SASL_PASSWORD]")
    fi
    (kafka_java kafka.tools.StorageTool format --standalone -t "$KAFKA_CLUSTER_ID" -c "$KAFKA_DIR/server.properties" "${scram[@]}") \
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
