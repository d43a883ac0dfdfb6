# host_symbols.sh - under LD_PRELOAD, the host's backtrace() and _Unwind_*
# still resolve to glibc and libgcc (libunwind stays private to nprof), and
# C++ exceptions work.
source "$(dirname "$0")/../lib.sh"

LD_PRELOAD="$LIB" "$BUILD/tests/programs/host_symbols" >"$T/out" 2>&1 || fail "$(cat "$T/out")"
cat "$T/out"
grep -q '^backtrace .*/libc\.so\.6$' "$T/out" || fail "backtrace is not glibc's"
for f in _Unwind_Backtrace _Unwind_RaiseException _Unwind_GetIP _Unwind_Resume; do
	grep -q "^$f .*/libgcc_s\.so\.1$" "$T/out" || fail "$f is not libgcc's: $(grep "^$f" "$T/out")"
done
grep -q libunwind "$T/out" && fail "libunwind leaked into the host's symbols"
# nprof really was loaded and running in that process.
NPROF_SOCKET=off LD_PRELOAD="$LIB" "$BUILD/tests/programs/cxx_throw" >"$T/cxx" 2>&1 || fail "C++ exceptions: $(cat "$T/cxx")"
grep -q 'caught 1000' "$T/cxx" || fail "$(cat "$T/cxx")"
# Exported symbols: the API and the overrides only.
extra=$(nm -D --defined-only "$LIB" | awk '{print $3}' | grep -Ev '^(nprof_|pthread_create$|sigaction$|signal$|malloc$|calloc$|realloc$|reallocarray$|free$|posix_memalign$|aligned_alloc$|memalign$|valloc$|pvalloc$|malloc_usable_size$|_init$|_fini$)' || true)
[ -z "$extra" ] || fail "libnprof.so exports more than it means to: $extra"
ok "host symbols untouched, exceptions work, exports minimal"
