#!/bin/bash
# symbols.sh - symbolization on a big real binary: mariadbd (26 MB of
# code, a C++ symbol table of ~30,000 functions) under nprof.
#   - time of the first and of later GET /debug/pprof/heap, without and
#     with debuginfod (a real `debuginfod` on loopback in a private network
#     namespace, indexing the C library's debug files from libc6-dbg, with
#     NPROF_DEBUG_DIRS pointing nowhere so that they must come from it);
#   - what the symbolizer keeps: nprof's arena (nprof_memory_bytes) and
#     the process's RSS, before and after the first profile;
#   - descriptors nprof holds for ELF and debug files after the profiles;
#   - the stacks of mariadbd's blocked threads against eu-stack's
#     (tests/eustack_compare.py), which starts too slowly for `make check`.
# Prints a markdown table and saves it as bench/results/symbols.md. Never
# fails for being slow.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
command -v mariadbd >/dev/null || PATH=$PATH:/usr/sbin
command -v mariadbd >/dev/null || { echo "(mariadbd missing: scripts/deps.sh bench installs mariadb-server)"; exit 0; }
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 $p 2>/dev/null; done; rm -rf "$tmp"' EXIT
export XDG_RUNTIME_DIR=$tmp/run
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mariadb-install-db --no-defaults --datadir="$tmp/data" --auth-root-authentication-method=normal \
	--skip-test-db >"$tmp/install.log" 2>&1 || { echo "(mariadb-install-db failed)"; tail -3 "$tmp/install.log"; exit 0; }

# run LABEL [ENV=V...]: one mariadbd under nprof; prints a table row.
run() {
	local label=$1
	shift
	rm -f "$tmp/my.sock"
	env "$@" LD_PRELOAD="$PWD/$BUILD/libnprof.so" mariadbd --no-defaults --user=root \
		--datadir="$tmp/data" --socket="$tmp/my.sock" --port="$(free_port)" \
		--bind-address=127.0.0.1 --innodb-buffer-pool-size=32M >"$tmp/mdb.log" 2>&1 &
	local pid=$!
	pids+=("$pid")
	for _ in $(seq 600); do [ -S "$tmp/my.sock" ] && break; sleep 0.1; done
	local sock=$XDG_RUNTIME_DIR/nprof/$pid.sock
	for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
	get() { curl -s -o /dev/null -w '%{time_total}' --max-time 300 --unix-socket "$sock" "http://localhost$1"; }
	arena() { get /metrics >/dev/null; curl -s --unix-socket "$sock" http://localhost/metrics | awk '/^nprof_memory_bytes/ {print $2}'; }
	rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
	local a0 r0 first later=""
	a0=$(arena)
	r0=$(rss)
	first=$(get /debug/pprof/heap)
	for _ in 1 2 3; do later+="$(get /debug/pprof/heap) "; done
	local a1 r1 fds
	a1=$(arena)
	r1=$(rss)
	fds=$(ls -l "/proc/$pid/fd" 2>/dev/null | grep -Ec '\.debug$|/debuginfo$|/usr/(s?bin|lib)/[^ ]*(\.so[.0-9]*|mariadbd)$')
	printf "| %s | %.3f | %.3f | %.1f | %.1f | %s |\n" "$label" "$first" \
		"$(echo "$later" | tr ' ' '\n' | grep . | sort -g | sed -n 2p)" \
		"$(echo "($a1 - $a0) / 1048576" | bc -l)" "$(echo "($r1 - $r0) / 1024" | bc -l)" "$fds"
	if [ "$label" = "local files" ]; then
		python3 tests/eustack_compare.py "$pid" "$sock" --min 5 >"$tmp/cmp" 2>&1
		echo "eu-stack: $(tail -1 "$tmp/cmp")" >"$tmp/cmp.line"
	fi
	kill "$pid"
	wait "$pid" 2>/dev/null
}

table=$tmp/table
{
	echo "## Symbols on mariadbd"
	echo
	echo "| run | first heap (s) | later heap (s, median of 3) | arena kept (MiB) | RSS added (MiB) | ELF/debug fds held |"
	echo "| --- | --- | --- | --- | --- | --- |"
	run "local files"
	run "no debug info (NPROF_DEBUG_DIRS empty)" NPROF_DEBUG_DIRS="$tmp/none"
	if command -v debuginfod >/dev/null && unshare -n true 2>/dev/null; then
		# The whole run inside a network namespace: debuginfod 0.188 cannot
		# bind to loopback only. It indexes libc6-dbg's files.
		export -f run free_port
		export tmp BUILD PWD
		unshare -n bash -c '
			ip link set lo up
			port=$(free_port)
			debuginfod -p $port -d "$tmp/dfd.sqlite" -F /usr/lib/debug/.build-id -t 0 -g 0 -c 1 >"$tmp/dfd.log" 2>&1 &
			dpid=$!
			id=$(readelf -n /lib/x86_64-linux-gnu/libc.so.6 | awk "/Build ID:/ {print \$3}")
			for _ in $(seq 600); do curl -sf -o /dev/null http://127.0.0.1:$port/buildid/$id/debuginfo && break; sleep 0.2; done
			pids=()
			run "debuginfod (libc from the server)" NPROF_DEBUG_DIRS="$tmp/none" \
				DEBUGINFOD_URLS=http://127.0.0.1:$port DEBUGINFOD_CACHE_PATH="$tmp/dcache"
			run "debuginfod, cache warm" NPROF_DEBUG_DIRS="$tmp/none" \
				DEBUGINFOD_URLS=http://127.0.0.1:$port DEBUGINFOD_CACHE_PATH="$tmp/dcache"
			kill $dpid
		'
	else
		echo "| debuginfod | (not run: debuginfod or unshare -n unavailable) | | | | |"
	fi
	echo
	cat "$tmp/cmp.line" 2>/dev/null
	[ -s "$tmp/cmp" ] && grep -q DIFF "$tmp/cmp" && sed 's/^/    /' "$tmp/cmp"
} >"$table"
cat "$table"
cp "$table" bench/results/symbols.md
