# S3-compatible server (s3rver, from npm) on 127.0.0.1:4569 with bucket `tributary`.
# Credentials: access key S3RVER, secret S3RVER (s3rver's fixed pair).
S3_PORT=4569
S3_DIR="$TRIBUTARY_DATA/s3"

s3_install() {
  command -v node >/dev/null || die "s3: node not found (Node 20 is required)"
  [ -f "$REPO_DIR/node_modules/s3rver/package.json" ] && return 0
  log "s3: installing npm dependencies (npm ci)"
  (cd "$REPO_DIR" && npm ci --no-audit --no-fund >"$LOG_DIR/npm-ci.log" 2>&1) || die "s3: npm ci failed, see $LOG_DIR/npm-ci.log"
}
s3_start() {
  mkdir -p "$S3_DIR/buckets"
  port_open $S3_PORT && die "s3: port $S3_PORT is taken by another process"
  (exec node "$INFRA_DIR/s3/server.mjs" "$S3_PORT" "$S3_DIR/buckets" tributary) </dev/null >>"$LOG_DIR/s3.log" 2>&1 &
  echo $! >"$S3_DIR/s3.pid"
  wait_for s3 30 curl -fsS "http://127.0.0.1:$S3_PORT/tributary" || die "s3: bucket not reachable, see $LOG_DIR/s3.log"
}
s3_stop() { stop_pidfile s3 "$S3_DIR/s3.pid"; }
s3_running() { pid_alive "$S3_DIR/s3.pid" && port_open $S3_PORT; }
s3_describe() { echo "s3rver on http://127.0.0.1:$S3_PORT, bucket tributary, keys S3RVER/S3RVER"; }
