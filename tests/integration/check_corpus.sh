# check_corpus.sh - `nprof check` on the corpus tests/programs/check_*.c:
# each program leaks threads, descriptors or heap blocks at known lines
# (marked LEAK: in the source) among noise that must not be reported
# (threads joined, descriptors closed, memory freed or still referenced
# from globals, statics and TLS). nprof must report exactly the marked
# lines; on the heap, every block LeakSanitizer (clang -fsanitize=leak,
# same source) reports must be among nprof's. Exit statuses: 1 when
# something is reported, the program's own when it failed, 0 when clean.
source "$(dirname "$0")/../lib.sh"
P="$BUILD/tests/programs"
have_lsan=0
if command -v clang >/dev/null; then
	have_lsan=1
fi

echo "| site | kind | expected | nprof | LSan | verdict |"
echo "|---|---|---|---|---|---|"
for prog in check_heap check_threads check_fds check_clean; do
	src="$ROOT/tests/programs/$prog.c"
	arg=
	[ $prog = check_clean ] && arg=0
	"$NPROF" check --json -- "$P/$prog" $arg >/dev/null 2>"$T/$prog.json"
	rc=$?
	want=1
	[ $prog = check_clean ] && [ -z "$arg" ] && want=0
	# check_clean with an argument forks a child that leaks one block.
	[ $rc -eq $want ] || { cat "$T/$prog.json"; fail "$prog: exit $rc, want $want"; }
	lsan_out=
	if [ $have_lsan = 1 ] && grep -q 'LEAK: heap' "$src"; then
		clang -fsanitize=leak -g -O2 -pthread -o "$T/$prog.lsan" "$src" ||
			fail "clang -fsanitize=leak $prog"
		LSAN_OPTIONS=exitcode=0 "$T/$prog.lsan" $arg >/dev/null 2>"$T/$prog.lsan.err"
		lsan_out="$T/$prog.lsan.err"
	fi
	python3 "$ROOT/tests/integration/check_corpus.py" "$src" "$T/$prog.json" $lsan_out ||
		{ cat "$T/$prog.json"; fail "$prog: nprof check does not report exactly the marked leaks"; }
done
ok "every marked leak reported at its line, nothing else; LSan's heap leaks all among nprof's"

# The clean program: nothing reported, exit 0, nothing on stderr from nprof.
"$NPROF" check -- "$P/check_clean" >/dev/null 2>"$T/clean.err" || fail "check_clean: exit $?"
grep -q 'nprof check' "$T/clean.err" && { cat "$T/clean.err"; fail "check_clean: report printed"; }
ok "clean program: exit 0, no report"

# The program's own failure wins; --exitcode changes the leak status.
"$NPROF" check -- "$P/check_clean" 7 >/dev/null 2>&1
[ $? -eq 7 ] || fail "program status 7 not passed through"
"$NPROF" check --exitcode 23 -- "$P/check_heap" >/dev/null 2>&1
[ $? -eq 23 ] || fail "--exitcode 23 not used"
ok "exit status: the program's own when it fails, --exitcode N on leaks"

# One kind at a time.
"$NPROF" check --fds --json -- "$P/check_threads" >/dev/null 2>"$T/fds.json"
python3 - "$T/fds.json" <<'PY' || fail "--fds reported other kinds"
import json, sys
r = json.load(open(sys.argv[1]))[0]
assert not r["threads"] and not r["heap"] and len(r["fds"]) == 1, r
PY
ok "--fds reports descriptors only"

# --heap=all lists reachable blocks too, apart from the leaks.
"$NPROF" check --heap=all --json -- "$P/check_heap" >/dev/null 2>"$T/all.json"
python3 - "$T/all.json" <<'PY' || fail "--heap=all"
import json, sys
r = json.load(open(sys.argv[1]))[0]
reach = [h for h in r["heap"] if h["leak"] == "reachable"]
assert any(f["function"] == "noise" for h in reach for f in h["stack"]), reach
assert r["total"] == 7, r["total"]
PY
ok "--heap=all lists the reachable blocks, counts only the leaks"

# Text report: one section per kind, program frames with lines.
"$NPROF" check -- "$P/check_threads" >/dev/null 2>"$T/text.err"
grep -q '^threads still running (2):' "$T/text.err" || { cat "$T/text.err"; fail "text: threads section"; }
grep -q '^descriptors left open (2):' "$T/text.err" || fail "text: fds section"
grep -q 'pthread_cond_wait' "$T/text.err" || fail "text: wait reason"
grep -q 'start_waiter .*check_threads.c:53' "$T/text.err" || fail "text: creating line"
grep -q 'libc\|clone' "$T/text.err" && { cat "$T/text.err"; fail "text: foreign frames shown"; }
ok "text report: sections, wait reasons, creating lines, program frames only"

# Suppressions: kind:glob on function or file of any frame.
cat >"$T/supp" <<'S'
# the list and the big block are known
heap:leak_l*
heap:*/check_heap.c
thread:waiter
S
"$NPROF" check --suppressions "$T/supp" --json -- "$P/check_heap" >/dev/null 2>"$T/s.json"
[ $? -eq 0 ] || { cat "$T/s.json"; fail "suppressed heap leaks still fail the run"; }
python3 - "$T/s.json" <<'PY' || fail "suppressions"
import json, sys
r = json.load(open(sys.argv[1]))[0]
assert r["total"] == 0 and r["suppressed"]["heap"] == 7, r
PY
"$NPROF" check --threads --suppressions "$T/supp" --json -- "$P/check_threads" >/dev/null 2>"$T/s2.json"
python3 - "$T/s2.json" <<'PY' || fail "thread suppression"
import json, sys
r = json.load(open(sys.argv[1]))[0]
assert r["total"] == 1 and r["suppressed"]["threads"] == 1, r
assert r["threads"][0]["wait"] == "read", r
PY
ok "suppressions: heap by function glob and by file glob, thread by function"

# Clear errors: one line, exit 2.
printf 'heap:ok\nnot a suppression\n' >"$T/bad.supp"
"$NPROF" check --suppressions "$T/bad.supp" -- true 2>"$T/e1"
[ $? -eq 2 ] && [ "$(wc -l <"$T/e1")" -eq 1 ] && grep -q "bad.supp:2: bad suppression" "$T/e1" ||
	{ cat "$T/e1"; fail "bad suppression line"; }
"$NPROF" check --bogus -- true 2>"$T/e2"
[ $? -eq 2 ] && [ "$(wc -l <"$T/e2")" -eq 1 ] && grep -q "unknown option '--bogus'" "$T/e2" ||
	{ cat "$T/e2"; fail "unknown option"; }
"$NPROF" check -- "$T/does-not-exist" 2>"$T/e3"
[ $? -eq 2 ] && [ "$(wc -l <"$T/e3")" -eq 1 ] && grep -q "cannot run .*does-not-exist: No such file" "$T/e3" ||
	{ cat "$T/e3"; fail "program that cannot start"; }
ok "errors: bad suppression (file:line), unknown option, program not found: one line, exit 2"

# Children: a forked child that exits and an exec'd program get their own report.
"$NPROF" check --json -- sh -c "'$P/check_fds' >/dev/null; exec '$P/check_clean' 0 >/dev/null" 2>"$T/kids.json"
[ $? -eq 1 ] || fail "children's leaks do not fail the run"
python3 - "$T/kids.json" <<'PY' || { cat "$T/kids.json"; fail "children reports"; }
import json, sys
rs = json.load(open(sys.argv[1]))
cmds = sorted(r["command"].rsplit("/", 1)[-1] for r in rs if r["total"] > 0)
assert cmds == ["check_clean", "check_fds"], cmds
PY
ok "exec'd programs and forked children are checked, each with its own report"
