# layers.sh - src/ stays layered (scripts/layers.py, drawn in
# docs/internals/README.md): no file uses a symbol or a header of a higher
# layer, no two files need each other, and a header declares only what its
# own folder defines. First the checker is shown a
# small tree that breaks both rules and must refuse it, so a checker that
# passes everything cannot pass this test; then the real tree must pass.
source "$(dirname "$0")/../lib.sh"

command -v nm >/dev/null || fail "nm missing (binutils)"
[ -f "$BUILD/libnprof.a" ] || fail "$BUILD/libnprof.a missing: run make first"

bad=$T/bad
mkdir -p "$bad/src/base" "$bad/src/serve" "$bad/src/record" "$bad/build/obj/base" \
	"$bad/build/obj/serve" "$bad/build/obj/record"
printf 'NPROF_1 { global: nprof_start; malloc; local: *; };\n' >"$bad/src/libnprof.map"
printf 'int serve_reply(void);\nint base_low(void) { return serve_reply(); }\n' >"$bad/src/base/low.c"
printf '#include "w.h"\nint serve_reply(void) { return 1; }\n' >"$bad/src/serve/high.c"
printf '/* w.h */\n' >"$bad/src/serve/w.h"
printf '#include "w.h"\nint b(void);\nint a(void) { return b(); }\n' >"$bad/src/record/a.c"
printf 'int a(void);\nint b(void) { return a(); }\n' >"$bad/src/record/b.c"
printf 'int nprof__high_ping(void);\n' >"$bad/src/base/low.h"
printf 'int nprof__high_ping(void) { return 2; }\n' >>"$bad/src/serve/high.c"
for f in base/low serve/high record/a record/b; do
	cc -c -I"$bad/src/serve" "$bad/src/$f.c" -o "$bad/build/obj/$f.o" || fail "cc $f"
done
if python3 scripts/layers.py "$bad/build" "$bad" >"$T/bad.out"; then
	cat "$T/bad.out"
	fail "the checker passed a tree that reaches up a layer"
fi
cat "$T/bad.out"
grep -q 'src/base/low.c: uses serve_reply of src/serve/high.c (above base)' "$T/bad.out" ||
	fail "upward symbol not reported"
grep -q 'src/record/a.c:1: includes w.h from src/serve/' "$T/bad.out" ||
	fail "upward #include not reported"
grep -q 'circle: src/record/a.c src/record/b.c' "$T/bad.out" || fail "circle not reported"
grep -q 'src/base/low.h: declares nprof__high_ping of src/serve/high.c' "$T/bad.out" ||
	fail "a header declaring a higher layer's function not reported"

python3 scripts/layers.py "$BUILD" || fail "src/ is not layered (see above)"
ok "layers: every file uses only its own folder and the layers below"
