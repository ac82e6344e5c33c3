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
suites() {
    grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' tests/guest/suites.txt
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
