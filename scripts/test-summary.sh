#!/usr/bin/env bash
# Sums the "test result:" lines of a cargo test log into one closing line, so that the last
# thing `make test` prints is the whole run's count (not the last, often empty, doc-test suite).
set -euo pipefail
awk '/^test result:/ {
       for (i = 1; i <= NF; i++) {
         if ($(i + 1) ~ /^passed;?$/) passed += $i
         if ($(i + 1) ~ /^failed;?$/) failed += $i
         if ($(i + 1) ~ /^ignored;?$/) ignored += $i
       }
     }
     END {
       if (passed + failed == 0) { print "no test ran" > "/dev/stderr"; exit 1 }
       printf "tests: %d passed, %d failed, %d skipped\n", passed, failed, ignored
       exit failed > 0
     }' "$1"
