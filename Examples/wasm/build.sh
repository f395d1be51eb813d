#!/bin/sh
# Builds the examples into dist/ (committed: the tests and the bundled functions.json use them,
# so `swift test` needs no wasm toolchain) and refreshes ../../fns/hello.wasm, the module of the
# bundled manifest's wasm route. Needs Debian's clang, lld and wasi-libc; wabt for the WAT one.
#
#   apt-get install clang lld wasi-libc wabt
#
# Debian's clang 14 does not ship the wasm32 compiler-rt builtins (package
# libclang-rt-14-dev-wasm32); -nodefaultlibs … -lc links without them, which is enough for
# these examples. With that package installed, drop -nodefaultlibs and -lc.
set -eu
cd "$(dirname "$0")"
CC=${CC:-clang}
mkdir -p dist
for example in hello counter consumer cron proxy echo; do
    "$CC" --target=wasm32-wasi -O2 -Iinclude -nodefaultlibs -Wl,--strip-all -o "dist/$example.wasm" "$example.c" -lc
done
# echo with its name section kept: a ~100 KB module for the instantiation benchmark
"$CC" --target=wasm32-wasi -O2 -Iinclude -nodefaultlibs -o dist/echo-unstripped.wasm echo.c -lc
wat2wasm hello.wat -o dist/hello-wat.wasm
cp dist/hello.wasm ../../fns/hello.wasm
ls -l dist
