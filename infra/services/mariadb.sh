# MariaDB (Debian package) with ROW binlog, FULL row image and GTIDs, on 127.0.0.1:3306.
# Capture logs in as `tributary`@`127.0.0.1` (password tributary) with replication grants.
MARIADB_PORT=3306
MARIADB_DIR="$TRIBUTARY_DATA/mariadb"
MARIADB_SOCK="$MARIADB_DIR/mysqld.sock"

mariadb_install() { command -v mariadbd >/dev/null || apt_install mariadb-server mariadb-client; }

mariadb_start() {
  mkdir -p "$MARIADB_DIR/data"
  cat >"$MARIADB_DIR/my.cnf" <<CNF
[mariadbd]
datadir=$MARIADB_DIR/data
socket=$MARIADB_SOCK
pid-file=$MARIADB_DIR/mariadbd.pid
bind-address=127.0.0.1
port=$MARIADB_PORT
user=mysql
server-id=1
log-bin=$MARIADB_DIR/data/binlog
binlog_format=ROW
binlog_row_image=FULL
binlog_row_metadata=FULL
gtid_strict_mode=ON
log_slave_updates=ON
expire_logs_days=2
innodb_buffer_pool_size=256M
innodb_flush_log_at_trx_commit=1
character-set-server=utf8mb4
collation-server=utf8mb4_unicode_ci
skip-name-resolve
log-error=$LOG_DIR/mariadb.log
CNF
  chown -R mysql:mysql "$MARIADB_DIR"
  grant_traverse mysql "$MARIADB_DIR/data"
  if [ ! -d "$MARIADB_DIR/data/mysql" ]; then
    log "mariadb: initialising $MARIADB_DIR/data"
    mariadb-install-db --defaults-file="$MARIADB_DIR/my.cnf" --auth-root-authentication-method=socket \
      >"$LOG_DIR/mariadb-install.log" 2>&1 || die "mariadb: mariadb-install-db failed, see $LOG_DIR/mariadb-install.log"
  fi
  port_open $MARIADB_PORT && die "mariadb: port $MARIADB_PORT is taken by another process"
  (exec mariadbd --defaults-file="$MARIADB_DIR/my.cnf") </dev/null >>"$LOG_DIR/mariadb.log" 2>&1 &
  wait_for mariadb 60 mariadb --socket="$MARIADB_SOCK" -uroot -e 'SELECT 1' || die "mariadb: not ready, see $LOG_DIR/mariadb.log"
  mariadb --socket="$MARIADB_SOCK" -uroot <<'SQL' || die "mariadb: creating user/database failed"
CREATE DATABASE IF NOT EXISTS tributary;
CREATE USER IF NOT EXISTS 'tributary'@'127.0.0.1' IDENTIFIED BY 'tributary';
CREATE USER IF NOT EXISTS 'tributary'@'localhost' IDENTIFIED BY 'tributary';
GRANT ALL PRIVILEGES ON *.* TO 'tributary'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO 'tributary'@'localhost';
FLUSH PRIVILEGES;
SQL
}

mariadb_stop() { stop_pidfile mariadb "$MARIADB_DIR/mariadbd.pid" 60; }
mariadb_running() { pid_alive "$MARIADB_DIR/mariadbd.pid" && port_open $MARIADB_PORT; }
mariadb_describe() { echo "MariaDB $(mariadbd --version | awk '{print $3}') on 127.0.0.1:$MARIADB_PORT, binlog ROW/FULL, GTID, user tributary/tributary"; }
