# Redis (Debian package) on 127.0.0.1:6379, append-only persistence under .data/redis.
REDIS_PORT=6379
REDIS_DIR="$TRIBUTARY_DATA/redis"

redis_install() { command -v redis-server >/dev/null || apt_install redis-server; }
redis_start() {
  mkdir -p "$REDIS_DIR"
  port_open $REDIS_PORT && die "redis: port $REDIS_PORT is taken by another process"
  redis-server --bind 127.0.0.1 --port $REDIS_PORT --dir "$REDIS_DIR" --appendonly yes \
    --daemonize yes --pidfile "$REDIS_DIR/redis.pid" --logfile "$LOG_DIR/redis.log" --save '' \
    || die "redis: failed to start, see $LOG_DIR/redis.log"
  wait_for redis 20 redis-cli -p $REDIS_PORT ping || die "redis: not answering PING, see $LOG_DIR/redis.log"
}
redis_stop() { stop_pidfile redis "$REDIS_DIR/redis.pid"; }
redis_running() { pid_alive "$REDIS_DIR/redis.pid" && port_open $REDIS_PORT; }
redis_describe() { echo "Redis $(redis-server --version | awk '{print $3}' | cut -d= -f2) on 127.0.0.1:$REDIS_PORT"; }
