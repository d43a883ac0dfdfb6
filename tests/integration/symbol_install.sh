# symbol_install.sh - pprof's remote symbolization endpoint answers for a
# real address, and `make install PREFIX=…` gives a library, header and
# nprof.pc that build and run a linked program.
source "$(dirname "$0")/../lib.sh"

start_under_nprof "$T/busy.out" -- "$BUILD/examples/busy"
exe=$(readlink -f "$BUILD/examples/busy")
base=$(awk -v f="$exe" '$6 == f && $3 == "00000000" {split($1, a, "-"); print a[1]; exit}' "/proc/$PID/maps")
off=$(nm "$exe" | awk '$3 == "checksum_block" {print $1}')
[ -n "$base" ] && [ -n "$off" ] || fail "cannot locate checksum_block (base=$base off=$off)"
addr=$(printf '0x%x' $((0x$base + 0x$off + 4)))
ucurl "$PID" /debug/pprof/symbol >"$T/get"
grep -q '^num_symbols: 1' "$T/get" || fail "GET symbol: $(cat "$T/get")"
ucurl "$PID" /debug/pprof/symbol --data-binary "$addr" >"$T/post"
grep -q "^$addr[[:space:]]checksum_block\$" "$T/post" || fail "POST symbol $addr: $(cat "$T/post")"
ok "symbol: $addr -> checksum_block"

make -s -C "$ROOT" BUILD="$BUILD" install PREFIX="$T/prefix" >"$T/install.log" 2>&1 || fail "install: $(cat "$T/install.log")"
for f in lib/libnprof.so lib/libnprof.a include/nprof.h bin/nprof lib/pkgconfig/nprof.pc; do
	[ -e "$T/prefix/$f" ] || fail "install lacks $f"
done
export PKG_CONFIG_PATH=$T/prefix/lib/pkgconfig
cc -o "$T/linked" "$ROOT/tests/programs/linked_busy.c" $(pkg-config --cflags --libs nprof) -pthread \
	-Wl,-rpath,"$T/prefix/lib" || fail "cannot build against the installed nprof"
ldd "$T/linked" | grep -q "$T/prefix/lib/libnprof.so" || fail "not linked to the installed library"
"$T/linked" >"$T/linked.out" 2>&1 &
PID=$!
PIDS+=("$PID")
await 20 test -S "$(sock_of $PID)" || fail "installed library did not serve: $(cat "$T/linked.out")"
ok "make install + pkg-config: a linked program serves"
