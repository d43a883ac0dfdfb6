# cli_top.sh - `nprof top` and `nprof diff` against go tool pprof on real
# profiles: the busy example's CPU profile and heap_mixed's heap, saved
# with `nprof fetch` and read back by both tools, a live `nprof top PID`
# and `URL`, a diff of two saved profiles against `pprof -top -base`, and
# malformed inputs (one line, exit 1, no crash, clean under valgrind).
source "$(dirname "$0")/../lib.sh"

# rows FILE: the table rows of a -top output (after the "flat%" header),
# blanks squeezed so that column widths do not matter.
rows() {
	awk 'seen {print} /^ *flat +flat%/ {seen = 1}' "$1" | tr -s ' ' | sed 's/^ //'
}
# first_name FILE: the name column of the first row (fields 6..).
first_name() {
	rows "$1" | head -1 | cut -d' ' -f6-
}
# total FILE: Z in "Showing nodes accounting for X, Y of Z total".
total() {
	sed -n 's/^Showing nodes accounting for .* of \(.*\) total$/\1/p' "$1"
}
accounted() {
	sed -n 's/^Showing nodes accounting for \([^,]*\),.*/\1/p' "$1"
}

# same_as_pprof WHAT NPROF-ARGS -- PPROF-ARGS: the two tables agree on the
# top function, the total and the number of rows, and row by row.
same_as_pprof() {
	local what=$1 n=() g=()
	shift
	while [ "$1" != -- ]; do n+=("$1"); shift; done
	shift
	g=("$@")
	"$NPROF" top "${n[@]}" >"$T/n.txt" 2>"$T/n.err" || fail "$what: nprof top: $(cat "$T/n.err")"
	pprof -top "${g[@]}" >"$T/g.txt" || fail "$what: pprof: $(cat "$T/pprof.err")"
	[ "$(first_name "$T/n.txt")" = "$(first_name "$T/g.txt")" ] ||
		fail "$what: top function '$(first_name "$T/n.txt")', pprof '$(first_name "$T/g.txt")'"
	[ -n "$(total "$T/n.txt")" ] && [ "$(total "$T/n.txt")" = "$(total "$T/g.txt")" ] ||
		fail "$what: total '$(total "$T/n.txt")', pprof '$(total "$T/g.txt")'"
	[ "$(rows "$T/n.txt" | wc -l)" = "$(rows "$T/g.txt" | wc -l)" ] ||
		fail "$what: $(rows "$T/n.txt" | wc -l) rows, pprof $(rows "$T/g.txt" | wc -l)"
	diff <(rows "$T/n.txt") <(rows "$T/g.txt") >"$T/d.txt" ||
		{ cat "$T/d.txt"; fail "$what: rows differ from pprof's"; }
}

port=$(free_port)
start_under_nprof "$T/busy.out" --http ":$port" -- "$BUILD/examples/busy"
busy=$PID
"$NPROF" fetch "$busy" profile --seconds 2 -o "$T/a.pb.gz" || fail "fetch a"
"$NPROF" fetch "$busy" profile --seconds 1 -o "$T/b.pb.gz" || fail "fetch b"

# (1) a saved CPU profile, in each ordering and granularity.
same_as_pprof "cpu" "$T/a.pb.gz" -- "$T/a.pb.gz"
cat "$T/n.txt"
first_name "$T/n.txt" | grep -Eq '^(mix|checksum_block)' || fail "busy's hot loop is not on top"
grep -q '^Type: cpu$' "$T/n.txt" || fail "no Type: cpu header"
grep -Eq '^Duration: 2(\.[0-9]+)?s, Total samples = ' "$T/n.txt" || fail "no Duration header"
same_as_pprof "cpu --cum" "$T/a.pb.gz" --cum -- -cum "$T/a.pb.gz"
same_as_pprof "cpu --lines" "$T/a.pb.gz" --lines -- -lines "$T/a.pb.gz"
same_as_pprof "cpu samples" "$T/a.pb.gz" --sample-index samples -- -sample_index=samples "$T/a.pb.gz"
gzip -dc "$T/a.pb.gz" >"$T/a.pb"
same_as_pprof "plain .pb" "$T/a.pb" -- "$T/a.pb.gz"
"$NPROF" top "$T/a.pb.gz" --nodecount 2 >"$T/n2.txt" || fail "--nodecount"
[ "$(rows "$T/n2.txt" | wc -l)" = 2 ] && grep -q '^Showing top 2 nodes out of ' "$T/n2.txt" ||
	{ cat "$T/n2.txt"; fail "--nodecount 2"; }
ok "top FILE agrees with go tool pprof -top (flat, --cum, --lines, .pb, --nodecount)"

# A heap profile: bytes units, four sample types, a default type.
start_under_nprof "$T/heap.out" -- "$BUILD/tests/programs/heap_mixed" 0.05
await 30 grep -q ready "$T/heap.out" || fail "heap_mixed never got ready"
"$NPROF" fetch "$PID" heap -o "$T/heap.pb.gz" || fail "fetch heap"
same_as_pprof "heap" "$T/heap.pb.gz" -- "$T/heap.pb.gz"
grep -q '^Type: inuse_space$' "$T/n.txt" || fail "heap default type: $(grep Type "$T/n.txt")"
grep -Eq '[0-9.]+[kMG]B ' "$T/n.txt" || fail "heap values not in kB/MB: $(rows "$T/n.txt" | head -1)"
same_as_pprof "heap alloc_objects" "$T/heap.pb.gz" --sample-index alloc_objects --lines -- \
	-sample_index=alloc_objects -lines "$T/heap.pb.gz"
kill -9 "$PID"
wait "$PID" 2>/dev/null
ok "top of a heap profile agrees with pprof (bytes, --sample-index)"

# (2) live: by PID through the unix socket, and by URL.
"$NPROF" top "$busy" --seconds 1 >"$T/live.txt" 2>"$T/live.err" || fail "top PID: $(cat "$T/live.err")"
grep -Eq '^Duration: 1(\.[0-9]+)?s, ' "$T/live.txt" && grep -q '^Type: cpu$' "$T/live.txt" ||
	{ cat "$T/live.txt"; fail "top PID header"; }
first_name "$T/live.txt" | grep -Eq '^(mix|checksum_block)' || { cat "$T/live.txt"; fail "top PID top row"; }
"$NPROF" top "http://127.0.0.1:$port" goroutine >"$T/url.txt" || fail "top URL goroutine"
grep -q '^Type: goroutine$' "$T/url.txt" || fail "top URL type: $(head -5 "$T/url.txt")"
"$NPROF" top "$busy" nosuch 2>"$T/err" >/dev/null
[ $? = 1 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q '^nprof: nosuch: HTTP 404' "$T/err" ||
	fail "top PID nosuch: $(cat "$T/err")"
"$NPROF" top "$busy" leaks 2>"$T/err" >/dev/null
[ $? = 1 ] && [ "$(wc -l <"$T/err")" = 1 ] || fail "top of a non-proto answer: $(cat "$T/err")"
ok "top PID and top URL"

# (3) diff of two saved profiles against pprof -top -base.
"$NPROF" diff "$T/a.pb.gz" "$T/b.pb.gz" >"$T/nd.txt" 2>"$T/nd.err" || fail "diff: $(cat "$T/nd.err")"
pprof -top -base "$T/a.pb.gz" "$T/b.pb.gz" >"$T/gd.txt" || fail "pprof -base"
cat "$T/nd.txt"
[ "$(total "$T/nd.txt")" = "$(total "$T/gd.txt")" ] ||
	fail "diff total '$(total "$T/nd.txt")', pprof '$(total "$T/gd.txt")'"
[ "$(accounted "$T/nd.txt" | tr -d +)" = "$(accounted "$T/gd.txt")" ] ||
	fail "diff net change '$(accounted "$T/nd.txt")', pprof '$(accounted "$T/gd.txt")'"
[ "$(first_name "$T/nd.txt")" = "$(first_name "$T/gd.txt")" ] ||
	fail "diff top entry '$(first_name "$T/nd.txt")', pprof '$(first_name "$T/gd.txt")'"
diff <(rows "$T/nd.txt" | tr -d +) <(rows "$T/gd.txt") || fail "diff rows differ from pprof's"
grep -Eq '^Base: .*a\.pb\.gz: Duration: 2(\.[0-9]+)?s' "$T/nd.txt" && grep -q '^Change (NEW - BASE): ' "$T/nd.txt" ||
	fail "diff header"
"$NPROF" diff "$T/a.pb.gz" "$T/a.pb.gz" >"$T/same.txt" || fail "diff of a file with itself"
grep -q '^Showing nodes accounting for 0, 0% of 0 total$' "$T/same.txt" && [ -z "$(rows "$T/same.txt")" ] ||
	{ cat "$T/same.txt"; fail "a profile minus itself is not empty"; }
"$NPROF" diff "$T/a.pb.gz" "$T/heap.pb.gz" 2>"$T/err" >/dev/null
[ $? = 1 ] && [ "$(wc -l <"$T/err")" = 1 ] && grep -q 'different kinds of profile' "$T/err" ||
	fail "diff cpu heap: $(cat "$T/err")"
ok "diff agrees with go tool pprof -top -base"

# (4) malformed inputs: one line on stderr, exit 1, nothing on stdout.
head -c 200 "$T/a.pb.gz" >"$T/trunc.pb.gz"
head -c 300 "$T/a.pb" >"$T/trunc.pb"
head -c 4096 /dev/urandom >"$T/random.bin"
: >"$T/empty.pb.gz"
echo "not a profile at all" | gzip >"$T/text.gz"
(cat "$T/a.pb.gz"; echo junk) >"$T/trailing.pb.gz"
VG=
# (Not on a sanitizer build of the CLI, which valgrind cannot run.)
command -v valgrind >/dev/null && ! ldd "$NPROF" | grep -q 'lib[a-z]*san\.' && VG="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite"
for f in trunc.pb.gz trunc.pb random.bin empty.pb.gz text.gz trailing.pb.gz missing.pb.gz; do
	for cmd in "top $T/$f" "diff $T/a.pb.gz $T/$f"; do
		# valgrind on `top` only: `diff` reads BASE through the same code.
		case $cmd in top*) vg=$VG ;; *) vg= ;; esac
		$vg "$NPROF" $cmd >"$T/out" 2>"$T/err"
		rc=$?
		[ $rc = 1 ] || fail "nprof $cmd: exit $rc, want 1: $(cat "$T/err")"
		[ -s "$T/out" ] && fail "nprof $cmd wrote to stdout"
		[ "$(wc -l <"$T/err")" = 1 ] && grep -q "^nprof: $T/$f: " "$T/err" ||
			fail "nprof $cmd: message: $(cat "$T/err")"
	done
	echo "  $f: $(cat "$T/err")"
done
if [ -n "$VG" ]; then
	$VG "$NPROF" top "$T/heap.pb.gz" --lines >/dev/null || fail "valgrind: top of a good heap profile"
	$VG "$NPROF" diff "$T/a.pb.gz" "$T/b.pb.gz" >/dev/null || fail "valgrind: diff"
fi
ok "malformed inputs: one-line errors, exit 1${VG:+, clean under valgrind}"

# Wrong arguments: usage on stderr, exit 2.
for args in "top" "top $T/a.pb.gz heap" "top $T/a.pb.gz --seconds 3" "top $busy --nodecount x" \
	"top $busy --bogus" "diff $T/a.pb.gz" "diff a b c" "diff --nodecount"; do
	"$NPROF" $args >"$T/out" 2>"$T/err"
	rc=$?
	[ $rc = 2 ] || fail "nprof $args: exit $rc, want 2"
	grep -q '^usage: nprof \(top\|diff\)' "$T/err" || fail "nprof $args: no usage: $(head -2 "$T/err")"
done
"$NPROF" top --help >"$T/out" && grep -q '^usage: nprof top' "$T/out" || fail "top --help"
"$NPROF" help diff >"$T/out" && grep -q '^usage: nprof diff' "$T/out" || fail "help diff"
ok "wrong arguments exit 2 with usage"
