#!/bin/sh
# deps.sh - installs the Debian packages nprof needs that are missing.
#
#   scripts/deps.sh build   libraries and headers to build nprof
#   scripts/deps.sh test    build + the real peers the tests use
#   scripts/deps.sh bench   test + the anchors the benchmarks compare with
#
# Quiet and quick when everything is present (one dpkg query). Runs
# apt-get as root, or through sudo when available.
set -eu
# One line per need, so that each feature's packages are easy to find.
build="pkg-config gcc make libunwind8 libunwind-dev libdw-dev zlib1g-dev libmicrohttpd-dev libcurl4-openssl-dev"
# the leak-check examples (cmocka and Check suites) are built by `make`
build="$build libcmocka-dev check"
test="$build golang-go curl clang g++ python3 libjemalloc2 elfutils prometheus redis-server redis-tools"
# nprof check's corpus is compared with LeakSanitizer (clang's runtime)
test="$test libclang-rt-14-dev"
# symbols tests: binutils/xz-utils build stripped binaries with separate
# debug info, debuginfod serves it (libdebuginfod1 is its client, dlopened),
# iproute2 brings up loopback in the test's network namespace; memcached and
# nginx-light are compared with eu-stack.
test="$test binutils xz-utils debuginfod libdebuginfod1 iproute2 memcached nginx-light"
# the web UI test drives Debian's chromium (playwright-core, tests/ui)
test="$test chromium"
# The real servers of tests/preload/real_*.sh (memcached and nginx-light
# above) start themselves on their own ports and directories: a system
# instance started by a package's postinst does not matter.
test="$test libmemcached-tools wrk mariadb-server mariadb-client sysbench"
# attach refusals: capsh drops CAP_SYS_PTRACE, setpriv (util-linux) changes user;
# a -static build needs libc.a (libc6-dev)
test="$test libcap2-bin util-linux libc6-dev"
bench="$test libgoogle-perftools4 libgoogle-perftools-dev heaptrack gdb valgrind"
bench="$bench mariadb-server libc6-dbg"
# the scripts compute with bc; an instruction count of the malloc fast path uses perf
bench="$bench bc linux-perf"

case "${1:-build}" in
build) want=$build ;;
test) want=$test ;;
bench) want=$bench ;;
*) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac

# The web UI and trace tests drive Debian's chromium with playwright-core
# and read traces with DevTools' trace model, from tests/ui's lockfile
# (npm ci; never a browser download). node and npm come from Debian when
# the machine has none.
npm_deps() {
	[ "${1:-}" = build ] && return 0
	command -v npm >/dev/null 2>&1 || want="$want nodejs npm"
}
npm_ci() {
	[ "${1:-}" = build ] && return 0
	local dir
	dir="$(dirname "$0")/../tests/ui"
	[ -d "$dir/node_modules/playwright-core" ] && [ -d "$dir/node_modules/tracelib" ] && return 0
	(cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund >&2)
}
npm_deps "${1:-build}"

missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	npm_ci "${1:-build}"
	exit 0
fi

echo "nprof: installing missing packages:$missing" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 || {
		echo "nprof: need root (or sudo) to install:$missing" >&2
		exit 1
	}
	sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# One update per machine is enough; the lists are fresh for a day.
stamp=/var/lib/apt/periodic/nprof-update-stamp
if [ ! -f $stamp ] || [ -n "$(find $stamp -mtime +0 2>/dev/null)" ]; then
	$sudo apt-get update -q >&2
	$sudo mkdir -p /var/lib/apt/periodic && $sudo touch $stamp
fi
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing >&2
npm_ci "${1:-build}"
