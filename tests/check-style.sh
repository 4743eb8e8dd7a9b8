#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The house rules a grep can check (STYLE.md): no goto, no g_error (), no g_error_free,
# no // comments, an SPDX line first, translatable files listed in po/POTFILES.in.
srcdir=${G_TEST_SRCDIR:-$(dirname "$0")}/..
cd "$srcdir" || exit 1
files=$(find src tests -name '*.[ch]' ! -name '*-generated.[ch]' ! -name '*.pb-c.[ch]' | sort)
n=0
check () {
  n=$((n + 1))
  if [ -z "$2" ]; then
    echo "ok $n - $1"
  else
    echo "not ok $n - $1"
    echo "$2" | sed 's/^/# /'
  fi
}
echo "1..7"
check "no goto" "$(grep -n -E '\bgoto\b' $files)"
check "no g_error ()" "$(grep -n -E '\bg_error \(' $files)"
check "no g_error_free" "$(grep -n 'g_error_free' $files)"
check "no // comments" "$(grep -n -E '(^|[^:"])//' $files | grep -v -E '"[^"]*//[^"]*"')"
check "SPDX line first" "$(for f in $files; do head -n 1 "$f" | grep -q 'SPDX-License-Identifier' || echo "$f"; done)"
missing=""
for f in $(grep -l -E '\b_ ?\(' $(find src -name '*.c')); do
  grep -qx "$f" po/POTFILES.in || missing="$missing $f"
done
check "files using _() are in po/POTFILES.in" "$missing"
if command -v clang-format >/dev/null; then
  check "clang-format (.clang-format, GNU at 100 columns)" \
    "$(clang-format --dry-run --Werror $files 2>&1 | grep 'error:')"
else
  n=$((n + 1)); echo "ok $n # SKIP clang-format is not installed"
fi
