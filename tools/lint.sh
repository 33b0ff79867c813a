#!/bin/sh
# Static analysis, clean or failing: cppcheck, then clang's analyzer over a
# full build.
set -eu
cd "$(dirname "$0")/.."

inc="-Icommon -Idaemon -Irelay -Imatcher -Iclient -Iregress/unit -Ibench"
srcs=$(ls common/*.c daemon/*.c relay/*.c matcher/*.c client/*.c \
    ctl/*.c bench/*.c 2>/dev/null || true)

echo "== cppcheck"
# shellcheck disable=SC2086
cppcheck -j 2 -q --error-exitcode=1 --inline-suppr --std=c11 \
    --enable=warning,performance,portability \
    --suppress=missingIncludeSystem -D_GNU_SOURCE -D__GNUC__ $inc $srcs

echo "== clang static analyzer"
rm -rf build/scan
scan-build --status-bugs -o build/scan/report --use-cc=clang \
    make -s -j2 BUILD=build/scan BIN=build/scan/bin all \
    build/scan/bench/drload >/dev/null
echo "lint clean"
