# PostgreSQL (Debian package) with logical decoding, on 127.0.0.1:5432.
# Capture logs in as role `tributary` (LOGIN REPLICATION, not a superuser) to database `tributary`.
PG_PORT=5432
PG_DIR="$TRIBUTARY_DATA/postgres"
PG_DATA="$PG_DIR/data"
PG_USER_OS=postgres

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$d" ] || die "postgres: no server binaries under /usr/lib/postgresql"
  echo "$d"
}

postgres_install() {
  ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || apt_install postgresql postgresql-contrib
  id "$PG_USER_OS" >/dev/null 2>&1 || die "postgres: OS user '$PG_USER_OS' missing (it comes with the postgresql package)"
}

pg_as() { runuser -u "$PG_USER_OS" -- "$@"; }

postgres_start() {
  local bin; bin=$(pg_bin)
  mkdir -p "$PG_DIR"
  chown "$PG_USER_OS" "$PG_DIR"
  # The OS user must be able to reach the data folder through the checkout's parents.
  grant_traverse "$PG_USER_OS" "$PG_DIR"
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    log "postgres: initdb $PG_DATA"
    pg_as "$bin/initdb" -D "$PG_DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
      >"$LOG_DIR/postgres-initdb.log" 2>&1 || die "postgres: initdb failed, see $LOG_DIR/postgres-initdb.log"
    cat >>"$PG_DATA/postgresql.conf" <<CONF
# --- tributary ---
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_DIR'
wal_level = logical
max_replication_slots = 32
max_wal_senders = 32
max_slot_wal_keep_size = 4GB
wal_sender_timeout = 60s
max_connections = 200
shared_buffers = 256MB
fsync = on
logging_collector = off
CONF
    cat >"$PG_DATA/pg_hba.conf" <<HBA
local   all          all                     trust
local   replication  all                     trust
host    all          all      127.0.0.1/32   scram-sha-256
host    replication  all      127.0.0.1/32   scram-sha-256
HBA
  fi
  port_open $PG_PORT && die "postgres: port $PG_PORT is taken by another process (a system PostgreSQL? stop it: service postgresql stop)"
  touch "$LOG_DIR/postgres.log" && chown "$PG_USER_OS" "$LOG_DIR/postgres.log"
  pg_as "$bin/pg_ctl" -D "$PG_DATA" -l "$LOG_DIR/postgres.log" -w -t 60 start >/dev/null \
    || die "postgres: pg_ctl start failed, see $LOG_DIR/postgres.log"
  wait_for postgres 30 pg_as "$bin/pg_isready" -h "$PG_DIR" -p $PG_PORT || die "postgres: not ready, see $LOG_DIR/postgres.log"
  pg_as psql -h "$PG_DIR" -p $PG_PORT -U postgres -d postgres -v ON_ERROR_STOP=1 -q >/dev/null <<'SQL' || die "postgres: creating role/database failed"
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tributary') THEN
    CREATE ROLE tributary LOGIN REPLICATION PASSWORD 'tributary';
  END IF;
END $$;
SELECT 'CREATE DATABASE tributary OWNER tributary' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'tributary')\gexec
GRANT CREATE ON DATABASE tributary TO tributary;
SQL
}

postgres_stop() {
  if [ -f "$PG_DATA/postmaster.pid" ]; then
    log "stopping postgres"
    pg_as "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
  else
    log "postgres is not running"
  fi
}
postgres_running() { [ -f "$PG_DATA/postmaster.pid" ] && port_open $PG_PORT; }
postgres_describe() { echo "PostgreSQL $("$(pg_bin)/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT, wal_level=logical, role tributary/tributary db tributary"; }
