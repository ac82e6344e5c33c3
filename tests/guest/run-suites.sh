#!/bin/sh
# SPDX-License-Identifier: MIT
# run-suites.sh: every suite of tests/guest/suites.txt, each in a guest of its own, with
# its time and result, then "N passed, M failed" (tests/run-all.sh --guest prints these
# lines, as it does for the host's suites).
# run-suites.sh --list: the suites' names, in order.
# run-suites.sh NAME: that suite's command in its guest: the command's own output and exit
# status (tests/guest/run.sh's 124 and 125 when the guest failed).
#
# Each guest may take CDMPLACE_GUEST_TIMEOUT seconds (default 1200), boot included.
set -eu
cd "$(dirname "$0")/../.."
# suites: "KERNEL TOPOLOGY NAME COMMAND", a line a suite, from the lines of suites.txt, which
# may each name several kernels (its header says how).
suites() {
    awk '/^[ \t]*(#|$)/ { next }
         {
             command = $0
             sub(/^[ \t]*[^ \t]+[ \t]+[^ \t]+[ \t]+[^ \t]+[ \t]+/, "", command)
             n = split($1, kernels, ",")
             for (i = 1; i <= n; i++)
                 print kernels[i], $2, (i == 1 ? $3 : $3 "-" kernels[i]), command
         }' tests/guest/suites.txt
}
case ${1:-} in
'')
    exec sh tests/run-all.sh --guest ;;
--list)
    suites | awk '{ print $3 }' ;;
-*)
    sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0" >&2
    exit 2 ;;
*)
    line=$(suites | awk -v name="$1" '$3 == name')
    if [ -z "$line" ]; then
        echo "run-suites: no suite $1 in tests/guest/suites.txt" >&2
        exit 2
    fi
    read -r kernel topology name command <<LINE
$line
LINE
    # CRITERION_VERBOSITY_LEVEL: skips are named (tests/run-all.sh counts them).
    exec sh tests/guest/run.sh --kernel "$kernel" --topology "$topology" \
        --env CRITERION_VERBOSITY_LEVEL=1 --timeout "${CDMPLACE_GUEST_TIMEOUT:-1200}" -- sh -c "$command" ;;
esac
