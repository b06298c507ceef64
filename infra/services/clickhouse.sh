# ClickHouse (Debian's clickhouse-server) with HTTP on 127.0.0.1:8123 (native protocol on 9000).
CLICKHOUSE_PORT=8123
CLICKHOUSE_DIR="$TRIBUTARY_DATA/clickhouse"

clickhouse_install() { command -v clickhouse-server >/dev/null || apt_install clickhouse-server clickhouse-client; }
clickhouse_start() {
  mkdir -p "$CLICKHOUSE_DIR"/{data,tmp,user_files,format_schemas}
  sed -e "s#@DIR@#$CLICKHOUSE_DIR#g" -e "s#@LOG@#$LOG_DIR#g" "$INFRA_DIR/clickhouse/config.xml.template" >"$CLICKHOUSE_DIR/config.xml"
  cp "$INFRA_DIR/clickhouse/users.xml" "$CLICKHOUSE_DIR/users.xml"
  port_open $CLICKHOUSE_PORT && die "clickhouse: port $CLICKHOUSE_PORT is taken by another process"
  (cd "$CLICKHOUSE_DIR" && exec clickhouse-server --config-file="$CLICKHOUSE_DIR/config.xml") \
    </dev/null >>"$LOG_DIR/clickhouse.out" 2>&1 &
  echo $! >"$CLICKHOUSE_DIR/clickhouse.pid"
  wait_for clickhouse 60 clickhouse_ping || { tail -20 "$LOG_DIR/clickhouse.err.log" >&2 2>/dev/null; die "clickhouse: HTTP port not answering, see $LOG_DIR/clickhouse.err.log"; }
}
clickhouse_ping() { [ "$(curl -fsS "http://127.0.0.1:$CLICKHOUSE_PORT/ping" 2>/dev/null)" = "Ok." ]; }
clickhouse_stop() { stop_pidfile clickhouse "$CLICKHOUSE_DIR/clickhouse.pid" 60; }
clickhouse_running() { pid_alive "$CLICKHOUSE_DIR/clickhouse.pid" && clickhouse_ping; }
clickhouse_describe() { echo "ClickHouse $(curl -fsS "http://127.0.0.1:$CLICKHOUSE_PORT/?query=SELECT%20version()" 2>/dev/null || echo '?') HTTP on 127.0.0.1:$CLICKHOUSE_PORT"; }
