# rlimit_as.sh - the program lowers RLIMIT_AS to 256 MB after start: under
# nprof it gets the same successes and failures as with glibc alone, and
# within 15% of the same total, at the default heap rate and at rate 1
# (every allocation sampled). (At rates in between, freed sampled runs
# below a live one keep their address space: see README, "Never harm the
# host".) A large up-front address reservation
# breaks this both ways: every mapping fails, or sampled blocks bypass the
# limit.
source "$(dirname "$0")/../lib.sh"

PROG="$BUILD/tests/programs/as_limit"
base=$("$PROG" 256) || fail "without nprof: $base"
echo "glibc alone: $base"
set -- $base
b_big=$2 b_huge=$4 b_64=$6 b_1=$8
close() { # close A B: |A-B| <= 15% of B
	python3 -c 'import sys; a,b=map(float,sys.argv[1:]); sys.exit(0 if abs(a-b) <= 0.15*b else 1)' "$1" "$2"
}
for rate in 524288 1; do
	out=$(NPROF_HEAP_RATE=$rate "$NPROF" run -- "$PROG" 256 2>"$T/err") ||
		fail "rate $rate: exit $?: $(cat "$T/err")"
	echo "rate $rate: $out"
	set -- $out
	[ "$2" = "$b_big" ] || fail "rate $rate: malloc(100 MB) $2, glibc alone $b_big"
	[ "$4" = "$b_huge" ] || fail "rate $rate: calloc(8 GiB) $4, glibc alone $b_huge"
	close "$6" "$b_64" || fail "rate $rate: $6 MB in 64 KiB blocks, glibc alone $b_64 MB"
	close "$8" "$b_1" || fail "rate $rate: $8 MB in 1 KiB blocks, glibc alone $b_1 MB"
done
ok "RLIMIT_AS 256 MB: same outcomes as glibc alone at the default rate and at rate 1"
