#!/usr/bin/env bash
# bench/section.sh NAME FILE — put FILE's Markdown into docs/benchmarks.md as the section NAME,
# replacing the previous one (between <!-- begin NAME --> and <!-- end NAME -->) or appending it.
# Every bench/run* script calls this, so docs/benchmarks.md always holds the latest numbers of each
# benchmark together with the command that produced them.
set -euo pipefail
name="$1"
file="$2"
doc="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/docs/benchmarks.md"
if [ ! -f "$doc" ]; then
    printf '# Benchmarks\n\nEach section below is written by the bench script it names; re-run the script to refresh it.\n' >"$doc"
fi
tmp="$(mktemp)"
awk -v name="$name" -v file="$file" '
    function emit() { print "<!-- begin " name " -->"; while ((getline l < file) > 0) print l; print "<!-- end " name " -->" }
    $0 == "<!-- begin " name " -->" { skipping = 1; emit(); done = 1; next }
    $0 == "<!-- end " name " -->" { skipping = 0; next }
    !skipping { print }
    END { if (!done) { print ""; emit() } }
' "$doc" >"$tmp"
mv "$tmp" "$doc"
