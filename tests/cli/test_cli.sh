#!/bin/sh
# The resonant command line, as a musician meets it: exit codes, one-line
# errors, help everywhere, and docs that come from the registry. Prints TAP.
set -u
BIN="$1"
SRC="${RESONANT_SOURCE_DIR:?}"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
n=0
failed=0

ok() { # ok DESCRIPTION COMMAND... : passes when the command succeeds
    desc="$1"; shift
    n=$((n + 1))
    if "$@" >"$TMP/out" 2>"$TMP/err"; then
        echo "ok $n - $desc"
    else
        echo "not ok $n - $desc"
        sed 's/^/# /' "$TMP/out" "$TMP/err" | head -20
        failed=$((failed + 1))
    fi
}

exit_is() { # exit_is CODE COMMAND...
    want="$1"; shift
    "$@" >"$TMP/stdout" 2>"$TMP/stderr"
    got=$?
    [ "$got" -eq "$want" ] || { echo "exit $got, want $want"; cat "$TMP/stderr"; return 1; }
}

one_line_error() { # one_line_error PATTERN : stderr is exactly one line matching PATTERN
    [ "$(wc -l <"$TMP/stderr")" -eq 1 ] && grep -Eq "$1" "$TMP/stderr" || { cat "$TMP/stderr"; return 1; }
}

printf 'node s sine\nnode o outptu\n' >"$TMP/bad.rpatch"
printf 'node s sine\nnode o output\ns.out -> o.in\n' >"$TMP/good.rpatch"

check_bad() { exit_is 1 "$BIN" check "$TMP/bad.rpatch" && one_line_error "bad.rpatch:2:8: error: unknown node type 'outptu' \(did you mean 'output'\?\)"; }
check_good() { exit_is 0 "$BIN" check "$TMP/good.rpatch" && grep -q '^s.out -> o.in$' "$TMP/stdout"; }
render_bad() { exit_is 1 "$BIN" render "$TMP/bad.rpatch" -o "$TMP/x.wav" && one_line_error ':2:8: error:' && [ ! -e "$TMP/x.wav" ]; }
render_good() { exit_is 0 "$BIN" render "$TMP/good.rpatch" -o "$TMP/g.wav" --bars 2 && [ -s "$TMP/g.wav" ]; }
render_quiet_when_piped() { exit_is 0 "$BIN" render "$TMP/good.rpatch" -o "$TMP/q.wav" --seconds 1 && ! grep -q 'rendering \[' "$TMP/stderr"; }
render_usage() { exit_is 1 "$BIN" render "$TMP/good.rpatch" && grep -q "where to" "$TMP/stderr"; }
render_bad_option() { exit_is 1 "$BIN" render "$TMP/good.rpatch" -o "$TMP/x.wav" --bars -3; }
render_both_lengths() { exit_is 1 "$BIN" render "$TMP/good.rpatch" -o "$TMP/x.wav" --bars 1 --seconds 1; }
missing_file() { exit_is 1 "$BIN" check "$TMP/nope.rpatch" && one_line_error 'nope.rpatch: error: cannot open'; }
unknown_command() { exit_is 1 "$BIN" frobnicate; }
version() { exit_is 0 "$BIN" --version && grep -Eq '^resonant [0-9]+\.[0-9]+\.[0-9]+$' "$TMP/stdout"; }
help_everywhere() {
    for cmd in render check nodes sync eval; do
        exit_is 0 "$BIN" "$cmd" --help && grep -q "usage: resonant $cmd" "$TMP/stdout" || return 1
        exit_is 0 "$BIN" "$cmd" --version || return 1
    done
    exit_is 0 "$BIN" --help && grep -q "commands:" "$TMP/stdout"
}
nodes_lists_registry() {
    exit_is 0 "$BIN" nodes || return 1
    for t in output mixer gain file_in file_out sine noise click; do
        grep -q "^$t: " "$TMP/stdout" || { echo "missing $t"; return 1; }
    done
}
nodes_one_type() { exit_is 0 "$BIN" nodes mixer && grep -q "pan8" "$TMP/stdout"; }
nodes_unknown_type() { exit_is 1 "$BIN" nodes mixr && grep -q "did you mean 'mixer'" "$TMP/stderr"; }
docs_match_registry() { "$BIN" nodes --markdown >"$TMP/nodes.md" && diff -u "$SRC/docs/nodes.md" "$TMP/nodes.md"; }
# The demo runs the shipped model: what it renders is music-like sound with
# onsets (a broken model path renders silence), whatever the seeds drawn.
demo_renders_8_seconds() {
    RESONANT_BACKEND=cpu exit_is 0 "$BIN" render "$SRC/patches/demo.rpatch" -o "$TMP/demo.wav" --bars 4 &&
        grep -q "8.000 s at 48000 Hz" "$TMP/stderr" || return 1
    exit_is 0 "$BIN" eval "$TMP/demo.wav" --tempo 120 &&
        awk '/^onsets:/ { found = 1; exit !($2 >= 8) } END { if (!found) exit 1 }' "$TMP/stdout" ||
        { cat "$TMP/stdout"; return 1; }
}

# A model node with no model= loads the shipped default (models/default), so
# a newcomer's patch needs no model path and nothing is downloaded.
printf 'tempo 120\nnode t conditioner prompt="techno"\nnode g generator track=drums bars=1 seed=3\nnode d decoder\nnode o output\nt.cond -> g.cond\ng.tokens -> d.tokens\nd.audio -> o.in\n' >"$TMP/model.rpatch"
default_model_renders() {
    RESONANT_BACKEND=cpu exit_is 0 "$BIN" render "$TMP/model.rpatch" -o "$TMP/m.wav" --bars 1 &&
        grep -q "2.000 s at 48000 Hz" "$TMP/stderr"
}
default_model_missing() {
    RESONANT_MODEL="$TMP/no-such-model" exit_is 1 "$BIN" render "$TMP/model.rpatch" -o "$TMP/x.wav" --bars 1 &&
        grep -q "no-such-model" "$TMP/stderr" && [ ! -e "$TMP/x.wav" ]
}
# resonant generate without --model uses the same default.
generate_default_model() {
    RESONANT_BACKEND=cpu exit_is 0 "$BIN" generate --prompt "bass, 120 bpm, A minor" --seconds 0.5 --key-lock \
        -o "$TMP/gen.wav" && grep -q "wrote .*gen.wav: 0.500 s at 16000 Hz" "$TMP/stderr" || { cat "$TMP/stderr"; return 1; }
    RESONANT_MODEL="$TMP/no-such-model" exit_is 1 "$BIN" generate --prompt "" -o "$TMP/y.wav" &&
        grep -q "no-such-model" "$TMP/stderr" && [ ! -e "$TMP/y.wav" ]
}

sync_then_eval() {
    printf 'tempo 97\nnode c click\nnode o output\nc.out -> o.in\n' >"$TMP/c97.rpatch"
    exit_is 0 "$BIN" render "$TMP/c97.rpatch" -o "$TMP/c97.wav" --bars 8 || return 1
    exit_is 0 "$BIN" sync "$TMP/c97.wav" -o "$TMP/c124.wav" --tempo 124 --bars 2 || return 1
    grep -q "^source tempo: 97.0" "$TMP/stdout" || { cat "$TMP/stdout"; return 1; }
    exit_is 0 "$BIN" eval "$TMP/c124.wav" --tempo 124 || return 1
    grep -q "^onsets: 8$" "$TMP/stdout" &&
        awk '/^onset-to-grid/ { exit !($4 + 0 < 5) }' "$TMP/stdout" || { cat "$TMP/stdout"; return 1; }
    # --onsets alone lists them: 8 clicks, each within 2 ms of a beat at 124 bpm
    exit_is 0 "$BIN" eval "$TMP/c124.wav" --onsets || return 1
    awk '/^onset: / { n++; beat = $2 * 124 / 60; d = (beat - int(beat + 0.5)) * 60 / 124; if (d < 0) d = -d;
                      if (d > 0.002) bad++ }
         END { exit !(n == 8 && bad == 0) }' "$TMP/stdout" || { cat "$TMP/stdout"; return 1; }
}
sync_bad_args() {
    exit_is 1 "$BIN" sync "$TMP/g.wav" -o "$TMP/x.wav" || return 1              # no tempo
    exit_is 1 "$BIN" eval "$TMP/g.wav" --tempo 124 --key "H minor" || return 1
    exit_is 1 "$BIN" eval "$TMP/g.wav" || return 1                                # no tempo, no --onsets
    exit_is 1 "$BIN" eval "$TMP/g.wav" --onsets --key "A minor" || return 1      # a key needs a tempo
    exit_is 1 "$BIN" eval "$TMP/g.wav" --onsets --against "$TMP/g.wav" || return 1 # so does another track
    grep -q "which tempo" "$TMP/stderr" || return 1
    exit_is 1 "$BIN" sync "$TMP/g.wav" -o "$TMP/x.wav" --tempo 120 --onsets || return 1
    exit_is 1 "$BIN" sync "$TMP/missing.wav" -o "$TMP/x.wav" --tempo 120 && grep -q "missing.wav" "$TMP/stderr"
}

ok "check: a bad patch fails with one file:line:col line and a suggestion" check_bad
ok "check: a good patch prints its canonical form" check_good
ok "render: a bad patch writes nothing" render_bad
ok "render: a good patch writes a file" render_good
ok "render: no progress bar when stderr is not a terminal" render_quiet_when_piped
ok "render: missing -o is a usage error" render_usage
ok "render: a negative length is refused" render_bad_option
ok "render: --bars and --seconds together are refused" render_both_lengths
ok "a missing patch file is a user error" missing_file
ok "an unknown command is a user error" unknown_command
ok "--version prints the version" version
ok "--help and --version work for every command" help_everywhere
ok "nodes lists every registered type" nodes_lists_registry
ok "nodes TYPE describes one type" nodes_one_type
ok "nodes suggests the nearest type" nodes_unknown_type
ok "docs/nodes.md is what 'resonant nodes --markdown' prints" docs_match_registry
ok "a model node without model= uses the shipped default model" default_model_renders
ok "RESONANT_MODEL naming a missing folder is an error naming it" default_model_missing
ok "generate without --model uses the shipped default model" generate_default_model
ok "sync puts a 97 bpm take on the 124 bpm grid; eval measures it and lists its onsets" sync_then_eval
ok "sync and eval refuse bad arguments and missing files" sync_bad_args
ok "the demo patch renders 4 bars at 120 bpm as 8.000 s of sound from the model" demo_renders_8_seconds

echo "1..$n"
[ "$failed" -eq 0 ]
