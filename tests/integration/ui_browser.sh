# ui_browser.sh - the web UI in real headless Chromium (Debian's chromium,
# driven by playwright-core from tests/ui/package-lock.json; no browser
# download): examples/timer_leak seen through `nprof ui PID` (socket only),
# examples/busy through its own HTTP listener, and a program with HTML in
# its thread and file names. tests/ui/ui_test.js has the checks; the
# screenshots go to this test's directory and build/ui-screenshots/.
source "$(dirname "$0")/../lib.sh"

command -v chromium >/dev/null || fail "chromium is not installed (scripts/deps.sh test)"
[ -d "$ROOT/tests/ui/node_modules/playwright-core" ] ||
	(cd "$ROOT/tests/ui" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund >/dev/null) ||
	fail "npm ci in tests/ui"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

leak_line=$(grep -n 'LEAK: a fresh timer' "$ROOT/examples/timer_leak.c" | cut -d: -f1)

# The leak, with snapshots every second so that suspects appear quickly,
# reachable only through its unix socket: the browser goes through nprof ui.
NPROF_SNAPSHOT=1s start_under_nprof "$T/leak.out" -- "$BUILD/examples/timer_leak"
leak_pid=$PID
"$NPROF" ui "$leak_pid" >"$T/ui.out" 2>&1 &
PIDS+=($!)
await 20 grep -q 'http://' "$T/ui.out" || fail "nprof ui printed no URL: $(cat "$T/ui.out")"
leak_url=$(grep -o 'http://[0-9.:]*' "$T/ui.out" | head -1)
ok "nprof ui: $(cat "$T/ui.out")"

# Every file the UI serves, as served (gzipped): at most 300 KB in all.
total=0
for f in "" app.js app.css vendor/uplot/uPlot.iife.min.js vendor/uplot/uPlot.min.css; do
	n=$(curl -s -H 'Accept-Encoding: gzip' -o /dev/null -w '%{size_download}' "$leak_url/debug/pprof/ui/$f")
	[ "$n" -gt 0 ] || fail "ui/$f is empty"
	total=$((total + n))
done
[ "$total" -le 307200 ] || fail "UI assets are $total bytes gzipped, over 300 KB"
ok "UI assets: $total bytes gzipped in all (bound 300 KB)"
curl -s -D - -o /dev/null "$leak_url/debug/pprof/ui" | grep -qi "^content-security-policy: default-src 'self'" ||
	fail "no Content-Security-Policy on the UI page"
ok "the UI page is limited to its own origin by its Content-Security-Policy"

busy_port=$(free_port)
start_under_nprof "$T/busy.out" --http "127.0.0.1:$busy_port" -- "$BUILD/examples/busy"
names_port=$(free_port)
start_under_nprof "$T/names.out" --http "127.0.0.1:$names_port" -- "$BUILD/tests/programs/ui_names"
await 20 grep -q ready "$T/names.out" || fail "ui_names never got ready"

out=$T/screenshots
mkdir -p "$out"
node "$ROOT/tests/ui/ui_test.js" "$out" "$leak_url" "http://127.0.0.1:$busy_port" \
	"http://127.0.0.1:$names_port" "$leak_line"
rc=$?
mkdir -p "$BUILD/ui-screenshots"
cp "$out"/*.png "$BUILD/ui-screenshots/" 2>/dev/null && echo "copied to $BUILD/ui-screenshots/"
[ $rc -eq 0 ] || fail "browser checks failed"
ok "web UI checks in chromium"
