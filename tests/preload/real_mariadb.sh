# real_mariadb.sh - a program nprof did not write: MariaDB's mariadbd (C++,
# dozens of threads, io_uring, Debian's build) in a temporary data
# directory, on a unix socket and a loopback port, under sysbench
# oltp_read_write, side by side with and without nprof preloaded. Under
# nprof it serves every profile, commits as many transactions, logs
# nothing new and exits 0 on `mariadb-admin shutdown`, as without.
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/real_lib.sh"

MYSQLD=$(command -v mariadbd || command -v mysqld || echo /usr/sbin/mariadbd)
for need in mariadb-install-db mariadb-admin mariadb sysbench; do
	command -v $need >/dev/null ||
		fail "$need missing (scripts/deps.sh test installs mariadb-server mariadb-client sysbench)"
done
[ -x "$MYSQLD" ] || fail "mariadbd missing (scripts/deps.sh test installs mariadb-server)"

# Small and quick: the defaults would write a 100 MB redo log per server.
# The buffer pool is not dumped at shutdown: how many pages that dump
# takes depends on the load, and it logs a note that then differs.
OPTS=(--no-defaults --innodb-buffer-pool-size=32M --innodb-log-file-size=4M --user=root
	--innodb-buffer-pool-dump-at-shutdown=0)
# One data directory, initialized once, copied for both servers so that
# they start from the same state. Running as root needs --user=root.
mariadb-install-db "${OPTS[@]}" --datadir="$T/pristine" --auth-root-authentication-method=normal \
	--skip-test-db >"$T/install.log" 2>&1 || fail "mariadb-install-db: $(tail -20 "$T/install.log")"

# sql NAME ARGS...: a client over the server's unix socket.
sql() {
	local name=$1
	shift
	mariadb --no-defaults -S "$T/$name/sock" -uroot "$@"
}

# start NAME [env...]: mariadbd on its copy of the data directory, its own
# socket and a free loopback port, in the background (both servers start
# at once: InnoDB's start takes seconds); sets PID_NAME, PORT_NAME.
start() {
	local name=$1 dir=$T/$1
	shift
	eval "PORT_$name=$(free_port)"
	mkdir -p "$dir" && cp -a "$T/pristine" "$dir/data"
	env "$@" "$MYSQLD" "${OPTS[@]}" --datadir="$dir/data" --socket="$dir/sock" \
		--port="$(eval echo "\$PORT_$name")" --bind-address=127.0.0.1 --skip-name-resolve \
		--log-error="$dir/err.log" --pid-file="$dir/pid" >"$dir/stdout" 2>&1 &
	eval "PID_$name=$!"
	PIDS+=("$!")
}

# ready NAME: waits until the server answers on its socket and its port.
ready() {
	local port
	await 60 sql "$1" -e 'select 1' ||
		fail "$1: mariadbd does not answer: $(cat "$T/$1/stdout"; tail -20 "$T/$1/err.log")"
	port=$(eval echo "\$PORT_$1")
	mariadb-admin --no-defaults -h 127.0.0.1 -P "$port" ping | grep -q 'is alive' ||
		fail "$1: mariadbd does not answer on 127.0.0.1:$port"
}

SB=(oltp_read_write --db-driver=mysql --mysql-user=root --mysql-db=sbtest --tables=2 --table-size=2000)

start base
start nprof "${NPROF_ENV[@]}"
ready base
ready nprof
await 20 test -S "$(sock_of "$PID_nprof")" || fail "no nprof socket in mariadbd"
for name in base nprof; do
	sql $name -e 'create database sbtest' || fail "$name: create database"
	sysbench "${SB[@]}" --mysql-socket="$T/$name/sock" prepare >"$T/$name.prepare" 2>&1 ||
		fail "$name: sysbench prepare: $(tail "$T/$name.prepare")"
done

# load NAME: one sysbench round (4 threads, 2 s); prints transactions per
# second.
load() {
	local out=$T/$1.sysbench
	sysbench "${SB[@]}" --mysql-socket="$T/$1/sock" --threads=4 --time=2 run >"$out" 2>&1 ||
		fail "$1: sysbench run: $(tail "$out")"
	awk '$1 == "transactions:" && $2 > 0 { sub(/\(/, "", $3); printf "%d\n", $3; f = 1 }
		END { exit !f }' "$out" || fail "$1: sysbench output: $(cat "$out")"
}
declare -A R
for round in 1 2 3 4 5; do
	for name in base nprof; do
		[ $round$name = 3nprof ] && cpu_profile_start "$PID_nprof" 2
		v=$(load $name) || exit 1 # (fail in $(...) only ends the subshell)
		R[$name]+="$v "
	done
done
cpu_profile_check mariadbd busy
every_profile "$PID_nprof"
rows() { sql "$1" -N -e 'select count(*) from sbtest.sbtest1'; }
[ "$(rows nprof)" = "$(rows base)" ] || fail "sbtest1 has $(rows nprof) rows under nprof, $(rows base) without"

for name in base nprof; do
	mariadb-admin --no-defaults -S "$T/$name/sock" -uroot shutdown || fail "$name: mariadb-admin shutdown"
done
wait "$PID_base"
base_status=$?
wait "$PID_nprof"
status=$?
[ "$status" = "$base_status" ] || fail "exit status $status under nprof, $base_status without"
for name in base nprof; do
	cat "$T/$name/stdout" >>"$T/$name/err.log"
	# The data directory's path and its random server_uid differ anyway.
	sed -i -e "s|$T/$name|DIR|g" -e 's/server_uid [^ ]*/server_uid UID/' "$T/$name/err.log"
	grep -E '\[ERROR\]' "$T/$name/err.log" && fail "$name: mariadbd errors"
done
same_log mariadb "$T/base/err.log" "$T/nprof/err.log"
# shellcheck disable=SC2086
with=$(median ${R[nprof]}) without=$(median ${R[base]})
not_collapsed mariadb "$with" "$without"
ok "mariadb: nprof's own descriptors $OWN_FDS; $with transactions/s vs $without/s without ($(ratio "$with" "$without")x), medians" \
	"of 5 sysbench rounds; exit $status both; CPU profile $CPU_TOTAL; $PARSED profiles parsed;" \
	"log unchanged ($(wc -l <"$T/nprof/err.log") lines)"
