# http_fuzz.sh - the grammar-based HTTP fuzzer (tests/http/fuzz_http.py)
# for a bounded time with a fixed seed: every answer is one well-formed
# response obeying the error contract, and the program stays alive.
# `make fuzz` runs it longer (FUZZ_SECONDS, FUZZ_SEED).
source "$(dirname "$0")/../lib.sh"

port=$(free_port)
start_under_nprof "$T/out" --http "127.0.0.1:$port" -- "$BUILD/examples/busy"
python3 "$ROOT/tests/http/fuzz_http.py" --tcp "127.0.0.1:$port" --unix "$(sock_of $PID)" \
	--pid "$PID" --seconds "${FUZZ_SECONDS:-40}" --seed "${FUZZ_SEED:-1}" ||
	fail "the fuzzer found a response outside the contract"
kill -0 "$PID" || fail "the program died"
st=$(http_status "http://127.0.0.1:$port/debug/pprof/heap")
[ "$st" = 200 ] || fail "after fuzzing, the heap profile answers $st"
ok "fuzzed for ${FUZZ_SECONDS:-40} s; program alive and serving"
