# lib.sh - what the benchmark scripts share (sourced, not run).
#
# Runs are alternated (A B C A B C ...) so that drift on a shared machine
# hits every variant alike, and medians are compared.

# median: the median of the whitespace-separated numbers on stdin.
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# ab_run ROUNDS KIND...: runs the shell function of each KIND ROUNDS times,
# alternating, and collects each run's last output line in RUNS[KIND].
declare -A RUNS
ab_run() {
	local rounds=$1 k
	shift
	for _ in $(seq "$rounds"); do
		for k in "$@"; do
			RUNS[$k]+="$("$k" | tail -1) "
		done
	done
}

# ab_table TITLE DECIMALS KIND=LABEL...: a markdown table of each KIND's
# median in RUNS, with the difference from and ratio to the first KIND.
ab_table() {
	local title=$1 dec=$2 base m k label
	shift 2
	base=$(echo "${RUNS[${1%%=*}]}" | median)
	echo "| $title | median ns/pair | added ns | × no nprof |"
	echo "| --- | --- | --- | --- |"
	for kl in "$@"; do
		k=${kl%%=*}
		label=${kl#*=}
		m=$(echo "${RUNS[$k]}" | median)
		printf "| %s | %.${dec}f | %+.${dec}f | %.3f |\n" "$label" "$m" \
			"$(echo "$m - $base" | bc -l)" "$(echo "$m / $base" | bc -l)"
	done
}
