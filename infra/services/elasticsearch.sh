# Elasticsearch 8 (single node, security off, loopback only) on 127.0.0.1:9201, from Maven
# Central: org.elasticsearch.distribution.integ-test-zip, Elasticsearch's minimal distribution
# (server under AGPL-3.0, x-pack-core/security modules under the Elastic License 2.0; we only
# run it unmodified for tests). Tests the search sink's `flavor: elasticsearch` path. Runs as
# the `opensearch` OS user, with the helpers in opensearch.sh.
ELASTICSEARCH_PORT=${TRIBUTARY_ELASTICSEARCH_PORT:-9201}
ELASTICSEARCH_TRANSPORT_PORT=${TRIBUTARY_ELASTICSEARCH_TRANSPORT_PORT:-9301}
ELASTICSEARCH_HEAP=${TRIBUTARY_ELASTICSEARCH_HEAP:-512m}
ELASTICSEARCH_DIST="$INFRA_DIR/elasticsearch/dist"
ELASTICSEARCH_DIR="$TRIBUTARY_DATA/elasticsearch"
ELASTICSEARCH_PID="$ELASTICSEARCH_DIR/elasticsearch.pid"

elasticsearch_version() { sed -n 's#.*<elasticsearch.version>\(.*\)</elasticsearch.version>.*#\1#p' "$INFRA_DIR/elasticsearch/pom.xml"; }
elasticsearch_home() { echo "$ELASTICSEARCH_DIST/elasticsearch-$(elasticsearch_version)"; }

elasticsearch_install() {
  command -v java >/dev/null || die "java not found: install a Java 17 JDK (apt-get install openjdk-17-jdk-headless)"
  search_os_user
  [ -f "$(elasticsearch_home)/lib/elasticsearch-$(elasticsearch_version).jar" ] && return 0
  log "elasticsearch: downloading Elasticsearch $(elasticsearch_version) from Maven Central into infra/elasticsearch/dist"
  search_fetch elasticsearch "$INFRA_DIR/elasticsearch" "$ELASTICSEARCH_DIST"
  [ -f "$(elasticsearch_home)/lib/elasticsearch-$(elasticsearch_version).jar" ] || die "elasticsearch: unpacked distribution incomplete, see $LOG_DIR/elasticsearch-mvn.log"
}

elasticsearch_start() {
  local conf="$ELASTICSEARCH_DIR/config"
  mkdir -p "$conf/jvm.options.d" "$ELASTICSEARCH_DIR/data" "$ELASTICSEARCH_DIR/tmp" "$LOG_DIR/elasticsearch"
  cat >"$conf/elasticsearch.yml" <<YML
cluster.name: tributary-es-dev
node.name: tributary-es-1
network.host: 127.0.0.1
http.port: $ELASTICSEARCH_PORT
transport.port: $ELASTICSEARCH_TRANSPORT_PORT
discovery.type: single-node
path.data: $ELASTICSEARCH_DIR/data
path.logs: $LOG_DIR/elasticsearch
node.store.allow_mmap: false
xpack.security.enabled: false
action.destructive_requires_name: false
cluster.routing.allocation.disk.threshold_enabled: false
YML
  # java.io.tmpdir must be ES's own temp folder: Elasticsearch refuses to boot when a folder its
  # modules may read (the temp folder is one) contains its modules folder, e.g. a checkout in /tmp.
  cat >"$conf/jvm.options" <<OPTS
-Xms$ELASTICSEARCH_HEAP
-Xmx$ELASTICSEARCH_HEAP
-XX:+UseG1GC
-XX:ErrorFile=$LOG_DIR/elasticsearch/hs_err_pid%p.log
-Djava.io.tmpdir=\${ES_TMPDIR}
OPTS
  cp "$(elasticsearch_home)/config/log4j2.properties" "$conf/log4j2.properties"
  search_launch elasticsearch "$(elasticsearch_home)" "$ELASTICSEARCH_DIR" "$ELASTICSEARCH_PORT" "$ELASTICSEARCH_PID" \
    ES_JAVA_HOME="$(search_java_home)" ES_PATH_CONF="$conf" ES_TMPDIR="$ELASTICSEARCH_DIR/tmp"
}

elasticsearch_stop() { stop_pidfile elasticsearch "$ELASTICSEARCH_PID" 60; }
elasticsearch_running() { pid_alive "$ELASTICSEARCH_PID" && port_open "$ELASTICSEARCH_PORT"; }
elasticsearch_describe() { echo "Elasticsearch $(elasticsearch_version) single node on http://127.0.0.1:$ELASTICSEARCH_PORT, security off, data $ELASTICSEARCH_DIR"; }
