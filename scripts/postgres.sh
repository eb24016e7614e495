#!/usr/bin/env bash
# postgres.sh: a throwaway PostgreSQL server on loopback for wif's tests.
#
#   scripts/postgres.sh start <dir>
#       Create a cluster in <dir> (initdb as the postgres user, since initdb
#       refuses root), start it on a free 127.0.0.1 port with trust
#       authentication for loopback only, create the database "wif", and
#       print
#           WIF_TEST_POSTGRES=postgres://wif@127.0.0.1:<port>/wif?sslmode=disable
#           PGBIN=<directory of pg_ctl>  PGDATA=<dir>/data  PGPORT=<port>
#       (also written to <dir>/env). Use: eval "$(scripts/postgres.sh start /tmp/pg)"
#
#   scripts/postgres.sh stop <dir>
#       Stop the server started by "start <dir>" (fast shutdown).
#
#   scripts/postgres.sh resume <dir>
#       Start a stopped server again on the same port (outage tests).
#
#   scripts/postgres.sh restart <dir>
#       Stop and start it again on the same port.
#
# Needs Debian's postgresql package (15 on bookworm).
set -euo pipefail

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

pgbin() {
	local d
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && { echo "$d"; return; }
	done
	die "PostgreSQL not installed: apt-get install postgresql"
}

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: postgres.sh start|stop|resume|restart <dir>"
bin=$(pgbin)

case "$cmd" in
start)
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[ "$(id -u)" = 0 ] && chown postgres "$dir"
	port=$(free_port)
	as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-instructions -E UTF8 >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; die "initdb failed"; }
	as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
		-o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null ||
		{ cat "$dir/server.log" >&2; die "pg_ctl start failed"; }
	as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -q -v ON_ERROR_STOP=1 \
		-c "CREATE ROLE wif LOGIN SUPERUSER" -c "CREATE DATABASE wif OWNER wif" >/dev/null
	echo "$port" >"$dir/port"
	{
		echo "WIF_TEST_POSTGRES=postgres://wif@127.0.0.1:$port/wif?sslmode=disable"
		echo "PGBIN=$bin"
		echo "PGDATA=$dir/data"
		echo "PGPORT=$port"
	} | tee "$dir/env"
	;;
stop)
	as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
	;;
restart | resume)
	port=$(cat "$dir/port")
	[ "$cmd" = restart ] && as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
	as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
		-o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null
	;;
*)
	die "unknown command $cmd"
	;;
esac
