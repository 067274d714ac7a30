#!/bin/sh
# Drive patches/demo.rpatch from a shell with liblo's oscsend (liblo-tools):
#   resonant run patches/demo.rpatch --autoconnect &
#   controllers/oscsend-demo.sh [HOST] [PORT]
# Each step prints what it does; the engine answers /done or /fail to the
# sender (oscsend does not wait for answers; see docs/live.md).
set -eu
HOST=${1:-localhost}
PORT=${2:-57130}
send() { echo "> $*"; oscsend "$HOST" "$PORT" "$@"; sleep "${PAUSE:-2}"; }

send /mix/gain1/norm f 0.25          # the click fader down (0..1 onto gain 0..4)
send /low/freq f 98                  # the drone down a tone
send /fifth/amp f 0                  # mute the fifth
send /tempo f 132                    # faster, from the next bar
send /node/add sssfsf bell sine freq 880 amp 0.05
send /connect ss bell.out mix.in     # a new strip on the mixer
send '/{low,bell}/amp' f 0.1         # a pattern: two nodes at once
send /patch/save s demo-bell.rpatch  # saved with the bell
send /node/remove s bell
send /mix/gain1/norm f 0.25
send /tempo f 120
send /patch/save s demo-live.rpatch  # the live state, next to the patch
