# OpenSearch (single node, security off, loopback only) on 127.0.0.1:9200, from Maven Central.
# The node runs as the system user `opensearch` (OpenSearch refuses to run as root); its
# config, data and logs live under $TRIBUTARY_DATA/opensearch, the unpacked distribution under
# infra/opensearch/dist (git-ignored, like the Kafka jars).
OPENSEARCH_PORT=${TRIBUTARY_OPENSEARCH_PORT:-9200}
OPENSEARCH_TRANSPORT_PORT=${TRIBUTARY_OPENSEARCH_TRANSPORT_PORT:-9300}
OPENSEARCH_HEAP=${TRIBUTARY_OPENSEARCH_HEAP:-512m} # at most 1g on the shared 2-core machine
OPENSEARCH_DIST="$INFRA_DIR/opensearch/dist"
OPENSEARCH_DIR="$TRIBUTARY_DATA/opensearch"
OPENSEARCH_PID="$OPENSEARCH_DIR/opensearch.pid"
OPENSEARCH_USER_OS=opensearch

opensearch_version() { sed -n 's#.*<opensearch.version>\(.*\)</opensearch.version>.*#\1#p' "$INFRA_DIR/opensearch/pom.xml"; }
opensearch_home() { echo "$OPENSEARCH_DIST/opensearch-$(opensearch_version)"; }

opensearch_install() {
  command -v java >/dev/null || die "java not found: install a Java 17 JDK (apt-get install openjdk-17-jdk-headless)"
  search_os_user
  [ -f "$(opensearch_home)/lib/opensearch-$(opensearch_version).jar" ] && return 0
  log "opensearch: downloading OpenSearch $(opensearch_version) from Maven Central into infra/opensearch/dist"
  search_fetch opensearch "$INFRA_DIR/opensearch" "$OPENSEARCH_DIST"
  [ -f "$(opensearch_home)/lib/opensearch-$(opensearch_version).jar" ] || die "opensearch: unpacked distribution incomplete, see $LOG_DIR/opensearch-mvn.log"
}

opensearch_write_config() {
  local conf="$OPENSEARCH_DIR/config"
  mkdir -p "$conf" "$OPENSEARCH_DIR/data" "$OPENSEARCH_DIR/tmp" "$LOG_DIR/opensearch"
  # No mmap (vm.max_map_count stays at the default 65530), single-node discovery (no bootstrap
  # checks, no cluster formation), loopback only; no security plugin is in the distribution.
  cat >"$conf/opensearch.yml" <<YML
cluster.name: tributary-dev
node.name: tributary-1
network.host: 127.0.0.1
http.port: $OPENSEARCH_PORT
transport.port: $OPENSEARCH_TRANSPORT_PORT
discovery.type: single-node
path.data: $OPENSEARCH_DIR/data
path.logs: $LOG_DIR/opensearch
node.store.allow_mmap: false
bootstrap.memory_lock: false
action.destructive_requires_name: false
cluster.routing.allocation.disk.threshold_enabled: false
YML
  cat >"$conf/jvm.options" <<OPTS
-Xms$OPENSEARCH_HEAP
-Xmx$OPENSEARCH_HEAP
-XX:+UseG1GC
-XX:ErrorFile=$LOG_DIR/opensearch/hs_err_pid%p.log
-Djava.io.tmpdir=\${OPENSEARCH_TMPDIR}
18-:-Djava.security.manager=allow
-Djava.util.concurrent.ForkJoinPool.common.threadFactory=org.opensearch.secure_sm.SecuredForkJoinWorkerThreadFactory
OPTS
  cp "$(opensearch_home)/config/log4j2.properties" "$conf/log4j2.properties"
}

opensearch_start() {
  opensearch_write_config
  search_launch opensearch "$(opensearch_home)" "$OPENSEARCH_DIR" "$OPENSEARCH_PORT" "$OPENSEARCH_PID" \
    OPENSEARCH_JAVA_HOME="$(search_java_home)" OPENSEARCH_PATH_CONF="$OPENSEARCH_DIR/config" \
    OPENSEARCH_TMPDIR="$OPENSEARCH_DIR/tmp"
}

opensearch_stop() { stop_pidfile opensearch "$OPENSEARCH_PID" 60; }
opensearch_running() { pid_alive "$OPENSEARCH_PID" && port_open "$OPENSEARCH_PORT"; }
opensearch_describe() { echo "OpenSearch $(opensearch_version) single node on http://127.0.0.1:$OPENSEARCH_PORT, security off, data $OPENSEARCH_DIR"; }

# --- shared by opensearch.sh and elasticsearch.sh (both Lucene search nodes from Maven Central)

# search_os_user: the OS user both search nodes run as (they refuse to run as root).
search_os_user() {
  id "$OPENSEARCH_USER_OS" >/dev/null 2>&1 ||
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$OPENSEARCH_USER_OS" ||
    die "could not create the OS user '$OPENSEARCH_USER_OS' (needs root)"
}

# search_fetch <svc> <pom folder> <dist folder>: unpacks the distribution zip named by the pom.
search_fetch() {
  local svc=$1 pomdir=$2 dist=$3
  command -v mvn >/dev/null || die "mvn not found: install Maven (apt-get install maven)"
  # (Maven's unpack markers live in target/: remove them so a deleted dist is unpacked again.)
  rm -rf "$dist" "$pomdir/target"
  mvn -q -B -f "$pomdir/pom.xml" dependency:unpack-dependencies -DoutputDirectory="$dist" \
    >"$LOG_DIR/$svc-mvn.log" 2>&1 || die "$svc: Maven could not fetch the distribution, see $LOG_DIR/$svc-mvn.log"
  rm -rf "$pomdir/target"
  chmod -R a+rX "$dist"
}

# search_launch <svc> <home> <data dir> <port> <pidfile> <VAR=value...>: starts bin/<svc> as the
# search user and waits until cluster health is at least yellow (the pid file is written by the
# node itself once it runs); gives up at once when the node process exits.
search_launch() {
  local svc=$1 home=$2 dir=$3 port=$4 pidfile=$5; shift 5
  chown -R "$OPENSEARCH_USER_OS" "$dir" "$LOG_DIR/$svc"
  grant_traverse "$OPENSEARCH_USER_OS" "$dir"
  grant_traverse "$OPENSEARCH_USER_OS" "$home"
  port_open "$port" && die "$svc: port $port is taken by another process"
  rm -f "$pidfile"
  (cd "$home" && exec runuser -u "$OPENSEARCH_USER_OS" -- env "$@" "bin/$svc" -p "$pidfile") \
    </dev/null >"$LOG_DIR/$svc.log" 2>&1 &
  local launcher=$! deadline=$((SECONDS + 150))
  until search_ready "$pidfile" "$port" >/dev/null 2>&1; do
    if ! kill -0 "$launcher" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      tail -20 "$LOG_DIR/$svc.log" >&2
      die "$svc: not ready, see $LOG_DIR/$svc.log and $LOG_DIR/$svc/"
    fi
    sleep 0.5
  done
  log "$svc is ready"
}

search_ready() {
  pid_alive "$1" || return 1
  curl -fsS "http://127.0.0.1:$2/_cluster/health?wait_for_status=yellow&timeout=1s"
}

search_java_home() { dirname "$(dirname "$(readlink -f "$(command -v java)")")"; }
