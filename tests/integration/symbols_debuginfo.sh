# symbols_debuginfo.sh - a stripped program's names and lines come from
# its debug info wherever tools look for it (debuginfod:
# symbols_debuginfod.sh): .gnu_debuglink, a build-id directory,
# MiniDebugInfo (.gnu_debugdata: names only, it has no lines), and a
# binary deleted after start (read through /proc/self/map_files). Each CPU
# and heap profile names the hot function (checksum_block, or the mix()
# loop inlined into it) and the allocating one (worker), with busy.c:LINE
# where the debug info has lines. Without any of it: module+0xOFFSET.
source "$(dirname "$0")/../lib.sh"

for t in objcopy strip nm xz readelf; do
	command -v $t >/dev/null || fail "$t missing (scripts/deps.sh test installs binutils, xz-utils)"
done
source "$(dirname "$0")/symbols_lib.inc"

# No debug info at all: stripped of everything, no link, no build-id file.
mkdir -p "$T/bare"
strip --strip-all -o "$T/bare/busy" "$SRC"
profiles "$T/bare" bare none NPROF_DEBUG_DIRS="$T/nothing"
grep -Eq 'busy\+0x[0-9a-f]+' "$T/bare.cpu.txt" || { cat "$T/bare.cpu.txt"; fail "bare: no module+0xOFFSET"; }
! grep -Eq '^ .* 0x[0-9a-f]+$|\?\?' "$T/bare.cpu.txt" || { cat "$T/bare.cpu.txt"; fail "bare: a bare address or ??"; }
ok "bare: names are module+0xOFFSET"

# .gnu_debuglink: the debug file beside the binary, CRC checked.
mkdir -p "$T/link"
objcopy --only-keep-debug "$SRC" "$T/link/busy.debug"
strip --strip-all -o "$T/link/busy" "$SRC"
(cd "$T/link" && objcopy --add-gnu-debuglink=busy.debug busy)
profiles "$T/link" debuglink lines NPROF_DEBUG_DIRS="$T/nothing"
# A debug file with the right name but other contents fails the CRC.
mkdir -p "$T/badlink"
cp "$T/link/busy" "$T/badlink/busy"
objcopy --only-keep-debug "$BUILD/examples/idle" "$T/badlink/busy.debug"
profiles "$T/badlink" badlink none NPROF_DEBUG_DIRS="$T/nothing"
grep -q 'busy+0x' "$T/badlink.cpu.txt" || { cat "$T/badlink.cpu.txt"; fail "a debuglink with a wrong CRC was used"; }
ok "debuglink: a file failing the CRC is not used"

# A build-id directory (NPROF_DEBUG_DIRS points at a test-local root).
id=$(readelf -n "$SRC" | awk '/Build ID:/ {print $3}')
[ -n "$id" ] || fail "busy has no build ID"
mkdir -p "$T/bid" "$T/root/.build-id/${id:0:2}"
strip --strip-all -o "$T/bid/busy" "$SRC"
objcopy --only-keep-debug "$SRC" "$T/root/.build-id/${id:0:2}/${id:2}.debug"
profiles "$T/bid" build-id lines NPROF_DEBUG_DIRS="$T/root"

# MiniDebugInfo, as Fedora builds it: the function symbols, xz-compressed,
# in a .gnu_debugdata section of the stripped binary.
mkdir -p "$T/mini"
nm -D "$SRC" --format=posix --defined-only | awk '{print $1}' | sort >"$T/mini/dynsyms"
nm "$SRC" --format=posix --defined-only | awk '$2 ~ /[TtWw]/ {print $1}' | sort >"$T/mini/funcsyms"
comm -13 "$T/mini/dynsyms" "$T/mini/funcsyms" >"$T/mini/keep"
objcopy --only-keep-debug "$SRC" "$T/mini/full.debug"
objcopy -S --remove-section .gdb_index --remove-section .comment --keep-symbols="$T/mini/keep" \
	"$T/mini/full.debug" "$T/mini/mini.debug"
xz -f "$T/mini/mini.debug"
strip --strip-all -o "$T/mini/busy" "$SRC"
objcopy --add-section .gnu_debugdata="$T/mini/mini.debug.xz" "$T/mini/busy"
readelf -S "$T/mini/busy" | grep -q gnu_debugdata || fail "no .gnu_debugdata section built"
profiles "$T/mini" minidebuginfo names NPROF_DEBUG_DIRS="$T/nothing"

# Deleted after start: the binary (with its debug info) is removed while
# it runs; names and lines come from the mapped file.
mkdir -p "$T/del"
cp "$SRC" "$T/del/busy"
AFTER_START='rm -f "$T/del/busy"; await 5 grep -q "busy (deleted)" /proc/$PID/maps || fail "not deleted"' \
	profiles "$T/del" deleted lines
# Replaced: another program now has the path.
mkdir -p "$T/repl"
cp "$SRC" "$T/repl/busy"
AFTER_START='cp "$BUILD/examples/idle" "$T/repl/busy.new"; mv -f "$T/repl/busy.new" "$T/repl/busy"' \
	profiles "$T/repl" replaced lines
