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
extra=$(nm -D --defined-only "$LIB" | awk '{print $3}' | grep -Ev '^(nprof_|pthread_create$|sigaction$|signal$|malloc$|calloc$|realloc$|reallocarray$|free$|posix_memalign$|aligned_alloc$|memalign$|valloc$|pvalloc$|malloc_usable_size$|open$|open64$|openat$|openat64$|creat$|creat64$|__open_2$|__open64_2$|__openat_2$|__openat64_2$|socket$|socketpair$|accept$|accept4$|pipe$|pipe2$|dup$|dup2$|dup3$|fcntl$|fcntl64$|eventfd$|timerfd_create$|signalfd$|epoll_create$|epoll_create1$|memfd_create$|inotify_init$|inotify_init1$|fopen$|fopen64$|fdopen$|opendir$|recvmsg$|recvmmsg$|close$|fclose$|closedir$|close_range$|closefrom$|poll$|pthread_cond_wait$|pthread_cond_timedwait$|pthread_cond_clockwait$|pthread_mutex_lock$|pthread_mutex_timedlock$|pthread_mutex_clocklock$|pthread_mutex_unlock$|pthread_rwlock_rdlock$|pthread_rwlock_wrlock$|pthread_rwlock_timedrdlock$|pthread_rwlock_timedwrlock$|sem_wait$|sem_timedwait$|sem_clockwait$|pthread_join$|pthread_timedjoin_np$|pthread_clockjoin_np$|pthread_barrier_wait$|setrlimit$|setrlimit64$|prlimit$|prlimit64$|_init$|_fini$)' || true)
[ -z "$extra" ] || fail "libnprof.so exports more than it means to: $extra"
ok "host symbols untouched, exceptions work, exports minimal"
