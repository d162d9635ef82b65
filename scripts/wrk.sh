#!/usr/bin/env bash
# Debian's wrk (the HTTP load generator the serving benchmarks use when it is there).
#
#   scripts/wrk.sh     install it with apt-get if missing; prints its path
#
# The benchmarks fall back to the in-repo Python generator (benchmarks/serving/loadgen.py)
# where wrk cannot be installed, but that one uses a core's worth of CPU to reach ~2,000 req/s.
set -euo pipefail

if ! command -v wrk >/dev/null 2>&1; then
    echo "wrk.sh: wrk not found; installing Debian's wrk with apt-get" >&2
    sudo=""
    [[ $EUID -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >&2
fi
command -v wrk
