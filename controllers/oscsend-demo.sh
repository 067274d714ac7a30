#!/bin/sh
# Drive patches/demo.rpatch from a shell with liblo's oscsend (liblo-tools):
#   resonant run patches/demo.rpatch --autoconnect &
#   controllers/oscsend-demo.sh [HOST] [PORT]
# Each step prints what it does; the engine answers /done or /fail to the
# sender (oscsend does not wait for answers; see docs/live.md). A new take
# starts at a bar line once enough of it is made: the pauses leave it time.
set -eu
HOST=${1:-localhost}
PORT=${2:-57130}
send() { echo "> $*"; oscsend "$HOST" "$PORT" "$@"; sleep "${PAUSE:-4}"; }

send /lock si drums 1                 # keep these drums
send /regen s bass                    # a new bass, hearing the locked drums
send /mix/gain2/norm f 0.35           # the bass fader up (0..1 onto gain 0..4)
send /text/prompt s "acid techno"     # a new prompt: every unlocked track follows
send /undo s bass                     # the previous bass back, at the next bar
send /tempo f 128                     # faster, from the next bar
send /node/add sssfsf bell sine freq 880 amp 0.05
send /connect ss bell.out mix.in      # a new strip on the mixer
send /patch/save s demo-bell.rpatch   # saved with the bell
send /node/remove s bell
send /lock si drums 0
send /take/export ss bass keeper      # the bass as a WAV (reply: its path)
send /patch/save s demo-live.rpatch   # the live state, next to the patch
