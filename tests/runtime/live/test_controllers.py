"""The controller kit (controllers/) drives the demo patch with messages the
engine understands. For the TouchOSC layouts (current and Mk1), the Max
patch and the Pd patch:

- they are what controllers/make_layouts.py makes from patches/demo.rpatch
  (so they cannot drift from the patch);
- every OSC message a control sends is either a command of the engine's
  address table (runtime/osc_commands.c) with the arguments it takes and a
  node of the demo patch where it names one, or the /<node>/<param>[/norm]
  form on a node of the demo patch and a parameter its type declares
  (`resonant nodes TYPE`), fader values inside 0..1 for /norm;
- a running engine (`resonant run --no-jack`) answers each of them: /done,
  or, for /regen and /lock on a node that makes no takes (a patch of test
  tones), the /fail that says so (not an unknown address, node or type tag);
- and, where Pure Data is installed, the Pd patch run headless really sends
  what its controls promise (a UDP listener in place of the engine).

Prints TAP (meson protocol 'tap')."""
import base64
import json
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
import xml.etree.ElementTree as ET

ROOT = os.environ.get("RESONANT_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BUILD = os.environ.get("RESONANT_BUILD_DIR") or os.path.join(ROOT, "build")
RESONANT = os.path.join(BUILD, "resonant")
PATCH = os.path.join(ROOT, "patches", "demo.rpatch")
CONTROLLERS = os.path.join(ROOT, "controllers")
sys.path.insert(0, os.path.join(ROOT, "tests", "train"))
import tap  # noqa: E402

# The arguments each command the layouts use takes (docs/live.md, address
# table); 'node' is a string that must name a node of the patch.
SIGNATURES = {
    "/regen": [["node"], ["node", "s"]],
    "/lock": [["node", "i"], ["node", "f"]],  # a whole float is taken as an int
    "/tempo": [["f"], ["i"]],
    "/transport/start": [[], ["f"], ["i"]],  # a button's 1/0
    "/transport/stop": [[], ["f"], ["i"]],
}


def engine_table():
    """The addresses of the engine's command table."""
    with open(os.path.join(ROOT, "runtime", "osc_commands.c")) as f:
        return set(re.findall(r'\{\s*"(/[^"]+)"\s*,\s*cmd_\w+\s*\}', f.read()))


def patch_nodes():
    """{node: {param: (lo, hi) or None}} of the demo patch."""
    canonical = subprocess.run([RESONANT, "check", PATCH], check=True, capture_output=True, text=True).stdout
    nodes = {}
    for line in canonical.splitlines():
        words = line.split()
        if words[:1] == ["node"]:
            described = subprocess.run([RESONANT, "nodes", words[2]], check=True, capture_output=True,
                                       text=True).stdout
            params, in_params = {}, False
            for d in described.splitlines():
                if d.strip() == "parameters:":
                    in_params = True
                elif in_params and d.startswith("    "):
                    cols = d.split()
                    rng = re.fullmatch(r"(-?[\d.e+]+)\.\.(-?[\d.e+]+)", cols[3])
                    params[cols[0]] = (float(rng[1]), float(rng[2])) if rng else None
                elif not d.startswith("    "):
                    in_params = False
            nodes[words[1]] = params
    return nodes


# ---- what the layouts send -------------------------------------------------------

def tosc_messages(path):
    """[(control, address, [(osc type, sample values)])] of a .tosc file.
    Each argument comes with the values it can take at its extremes."""
    root = ET.fromstring(zlib.decompress(open(path, "rb").read()))
    out = []
    for node in root.iter("node"):
        name = next(p.find("value").text for p in node.find("properties") if p.find("key").text == "name")
        for o in node.findall("messages/osc"):
            if o.find("send").text != "1" or o.find("enabled").text != "1":
                continue
            parts = o.findall("path/partial")
            assert all(p.find("type").text == "CONSTANT" for p in parts), f"{name}: a computed address"
            address = "".join(p.find("value").text for p in parts)
            args = []
            for a in o.findall("arguments/partial"):
                kind, conv, val = a.find("type").text, a.find("conversion").text, a.find("value").text
                lo, hi = float(a.find("scaleMin").text), float(a.find("scaleMax").text)
                tag = {"FLOAT": "f", "INTEGER": "i", "STRING": "s", "BOOLEAN": "T"}[conv]
                if kind == "CONSTANT":
                    args.append((tag, [val if tag == "s" else float(val)]))
                else:  # the control's value x, 0..1, scaled onto lo..hi
                    assert kind == "VALUE" and val == "x", f"{name}: argument from {kind} {val}"
                    args.append((tag, [int(lo), int(hi)] if tag == "i" else [lo, hi]))
            out.append((name, address, args))
    return out


def touchosc_mk1_messages(path):
    """The same for a TouchOSC Mk1 layout: every control but a label sends
    its base64 osc_cs address with one float between scalef and scalet."""
    with zipfile.ZipFile(path) as z:
        root = ET.fromstring(z.read("index.xml"))
    assert root.tag == "layout" and root.get("version") == "17", "a Mk1 layout, version 17 (base64 names)"
    out = []
    for control in root.iter("control"):
        name = base64.b64decode(control.get("name")).decode()
        if control.get("type").startswith("label"):
            continue
        assert control.get("osc_cs"), f"{name}: no address (TouchOSC would make up /page/{name})"
        address = base64.b64decode(control.get("osc_cs")).decode()
        out.append((name, address, [("f", [float(control.get("scalef")), float(control.get("scalet"))])]))
    return out


def pd_boxes(path):
    """The boxes of a Pd patch (numbered as Pd numbers them) and who feeds whom."""
    boxes, into = [], {}
    for statement in re.split(r"(?<!\\);\s*\n", open(path).read()):
        words = statement.split()
        if words[:1] == ["#X"] and words[1] in ("obj", "msg", "text", "floatatom", "symbolatom"):
            boxes.append(words[4:] if words[1] == "obj" else [words[1]] + words[4:])
        elif words[:2] == ["#X", "connect"]:
            into.setdefault(int(words[4]), []).append(int(words[2]))
    return boxes, into


def pd_messages(path):
    """The same for the Pd patch: each `oscformat A B ...` sends /A/B/...
    with what feeds it: a slider's or number box's range, a bang's empty
    message, a `symbol NODE` message, `list prepend NODE` fed by a toggle, or
    a node name sent to `r rg-regen`."""
    boxes, into = pd_boxes(path)

    def fed_by(i, kinds):
        return [boxes[k][0] for k in into.get(i, [])] == kinds

    def feeder_args(i):
        b = boxes[i]
        if b[0] in ("vsl", "hsl", "nbx"):
            return [("f", [float(b[3]), float(b[4])])]
        if b[0] == "bng":
            return []
        if b[0] == "msg" and b[1] == "symbol":
            return [("s", [b[2]])]
        if b[:2] == ["list", "prepend"] and len(b) == 3 and fed_by(i, ["tgl"]):
            return [("s", [b[2]]), ("f", [0.0, 1.0])]
        if b == ["list"] and [boxes[k] for k in into.get(i, [])] == [["r", "rg-regen"]]:
            return [("s", ["bass"])]  # pd -send "rg-regen NODE": any node the user names
        raise AssertionError(f"box {i}: unexpected source {b}")

    out = []
    for i, b in enumerate(boxes):
        if b[0] == "oscformat":
            assert into.get(i), f"oscformat {b[1:]}: fed by nothing"
            for k in into[i]:
                out.append((f"box {k}", "/" + "/".join(b[1:]), feeder_args(k)))
    return out


def maxpat_messages(path):
    """The same for a Max patch: what reaches its udpsend, from message boxes
    and from `prepend ADDRESS ...` objects fed by a slider, toggle or number."""
    patcher = json.load(open(path))["patcher"]
    boxes = {b["box"]["id"]: b["box"] for b in patcher["boxes"]}
    into = {}
    for line in patcher["lines"]:
        src, dst = line["patchline"]["source"][0], line["patchline"]["destination"][0]
        into.setdefault(dst, []).append(src)
    sends = [i for i, b in boxes.items() if b.get("text", "").startswith("udpsend ")]
    assert len(sends) == 1, "one udpsend"
    host, port = boxes[sends[0]]["text"].split()[1:3]
    assert host == "127.0.0.1" and port == "57130", boxes[sends[0]]["text"]

    def words(text):
        return [(("f", [float(w)]) if re.fullmatch(r"-?\d+\.\d*", w) else ("i", [int(w)])
                 if re.fullmatch(r"-?\d+", w) else ("s", [w])) for w in text.split()]

    def source_values(b):
        if b["maxclass"] == "slider":
            assert b.get("floatoutput") == 1, f"{b['id']}: an int slider"
            return ("f", [0.0, float(b.get("size", 128))])
        if b["maxclass"] == "toggle":
            return ("i", [0, 1])
        if b["maxclass"] == "flonum":
            return ("f", [float(b["minimum"]), float(b["maximum"])])
        raise AssertionError(f"{b['id']}: unexpected source {b['maxclass']}")

    out = []
    for src in into.get(sends[0], []):
        b = boxes[src]
        if b["maxclass"] == "message":
            w = b["text"].split(maxsplit=1)
            out.append((src, w[0], words(w[1]) if len(w) > 1 else []))
        elif b["maxclass"] == "newobj" and b["text"].startswith("prepend "):
            w = b["text"].split()[1:]
            feeders = into.get(src, [])
            assert len(feeders) == 1, f"{src}: fed by {feeders}"
            out.append((src, w[0], words(" ".join(w[1:])) + [source_values(boxes[feeders[0]])]))
        else:
            raise AssertionError(f"{src}: {b['maxclass']} {b.get('text')} sends to udpsend")
    return out


# ---- checks --------------------------------------------------------------------------

def check_against_table(messages, table, nodes):
    """Every message is a table command with its arguments, or /<node>/<param>[/norm]."""
    assert messages, "no messages"
    for control, address, args in messages:
        where = f"{control}: {address}"
        if address in table:
            assert address in SIGNATURES, f"{where}: a command the layouts should not send"
            tags = [t for t, _ in args]
            for sig in SIGNATURES[address]:
                if len(sig) == len(tags) and all(s == t or (s == "node" and t == "s") for s, t in zip(sig, tags)):
                    break
            else:
                raise AssertionError(f"{where}: arguments ,{''.join(tags)} fit none of {SIGNATURES[address]}")
            for s, (t, values) in zip(sig, args):
                if s == "node":
                    assert values[0] in nodes, f"{where}: '{values[0]}' is not a node of {PATCH}"
            continue
        parts = address.strip("/").split("/")
        if len(parts) == 2 and parts[1] == "regen":  # /<node>/regen: a button's 1/0
            assert parts[0] in nodes, f"{where}: '{parts[0]}' is not a node of {PATCH}"
            assert len(args) <= 1 and all(t in "if" for t, _ in args), f"{where}: none or one number"
            continue
        norm = len(parts) == 3 and parts[2] == "norm"
        assert len(parts) == 2 or norm, f"{where}: not in the engine's table, not /<node>/<param>"
        node, param = parts[:2]
        assert node in nodes, f"{where}: '{node}' is not a node of {PATCH}"
        assert param in nodes[node], f"{where}: '{node}' has no parameter '{param}'"
        assert len(args) == 1, f"{where}: one value"
        if norm:
            assert nodes[node][param] is not None, f"{where}: '{param}' declares no range for /norm"
            assert all(0 <= v <= 1 for v in args[0][1]), f"{where}: /norm values {args[0][1]} outside 0..1"


def osc_string(s):
    b = s.encode() + b"\0"
    return b + b"\0" * (-len(b) % 4)


def osc_message(address, args):
    tags, data = ",", b""
    for tag, v in args:
        tags += tag
        data += osc_string(v) if tag == "s" else struct.pack(">i", v) if tag == "i" else struct.pack(">f", v)
    return osc_string(address) + osc_string(tags) + data


def osc_parse(packet):
    def string(at):
        end = packet.index(b"\0", at)
        return packet[at:end].decode(), (end + 4) & ~3
    address, at = string(0)
    tags, at = string(at)
    args = []
    for t in tags[1:]:
        if t == "s":
            v, at = string(at)
        elif t in "if":
            v = struct.unpack(">" + t, packet[at:at + 4])[0]
            at += 4
        elif t in "hd":
            v = struct.unpack(">" + ("q" if t == "h" else "d"), packet[at:at + 8])[0]
            at += 8
        else:
            v = None
        args.append(v)
    return address, args


class Engine:
    """`resonant run --no-jack` on the demo patch, and a UDP socket to talk to it."""

    def __enter__(self):
        self.proc = subprocess.Popen([RESONANT, "run", PATCH, "--no-jack", "--osc-port", "0", "--seconds", "120"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        port, t0 = None, time.time()
        while port is None and time.time() - t0 < 15:
            line = self.proc.stdout.readline()
            m = re.search(r"OSC on .*:(\d+)", line)
            port = int(m[1]) if m else None
            assert line or port, "the engine stopped before printing its OSC port"
        assert port, "no OSC port printed"
        self.to = ("127.0.0.1", port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        return self

    def ask(self, address, args):
        self.sock.sendto(osc_message(address, args), self.to)
        ready, _, _ = select.select([self.sock], [], [], 10)
        assert ready, f"no answer to {address}"
        return osc_parse(self.sock.recv(65536))

    def __exit__(self, *exc):
        self.sock.close()
        self.proc.terminate()
        self.proc.wait(10)


# A node that makes no takes refuses these with its own reason (a patch of
# test tones); any other /fail is wrong.
NO_TAKES = {"/regen": "makes no takes", "/lock": "has no lock"}


def engine_answers(messages):
    with Engine() as engine:
        for control, address, args in messages:
            for pick in (0, -1):  # each argument at one extreme, then the other
                concrete = [(t, values[pick]) for t, values in args]
                reply, rargs = engine.ask(address, concrete)
                if reply == "/done":
                    continue
                assert reply == "/fail", f"{control}: {address} {concrete} -> {reply} {rargs}"
                expected = NO_TAKES.get("/regen" if address.endswith("/regen") else address)
                assert expected and expected in rargs[1], f"{control}: {address} {concrete} -> /fail {rargs[1]}"
        # Still there after all of it.
        assert engine.ask("/ping", [])[0] == "/pong"


# ---- the tests --------------------------------------------------------------------

LAYOUTS = {"TouchOSC": ("demo.tosc", tosc_messages), "TouchOSC Mk1": ("demo.touchosc", touchosc_mk1_messages),
           "Max": ("demo.maxpat", maxpat_messages), "Pd": ("demo.pd", pd_messages)}
GENERATED = list(LAYOUTS)


def content(path):
    """What a layout file holds, without its compression (which zlib versions may do differently)."""
    data = open(path, "rb").read()
    if path.endswith(".tosc"):
        return zlib.decompress(data)
    if path.endswith(".touchosc"):
        with zipfile.ZipFile(path) as z:
            return z.read("index.xml")
    return data


def generated_from_the_patch():
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["/usr/bin/python3", os.path.join(CONTROLLERS, "make_layouts.py"), "--resonant", RESONANT,
                        "--patch", PATCH, "--out", tmp], check=True, capture_output=True)
        for kind in GENERATED:
            name = LAYOUTS[kind][0]
            new, old = (content(os.path.join(d, name)) for d in (tmp, CONTROLLERS))
            assert new == old, (f"controllers/{name} differs from what make_layouts.py makes "
                                "from patches/demo.rpatch: run it and commit the result")


def addresses_test(kind):
    def run():
        name, reader = LAYOUTS[kind]
        messages = reader(os.path.join(CONTROLLERS, name))
        check_against_table(messages, engine_table(), patch_nodes())
        return f"{len(messages)} messages"
    return run


def answers_test(kind):
    def run():
        name, reader = LAYOUTS[kind]
        messages = reader(os.path.join(CONTROLLERS, name))
        engine_answers(messages)
        return f"{len(messages)} messages, each at both ends of its range"
    return run


def pd_sends_what_it_should():
    if not shutil.which("pd"):
        return "SKIP pd (puredata) is not installed"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    played = [("rg-drums-gain 0.5", "/mix/gain1/norm", [0.5]), ("rg-drums-regen bang", "/regen", ["drums"]),
              ("rg-bass-lock 1", "/lock", ["bass", 1.0]), ("rg-tempo 132", "/tempo", [132.0]),
              ("rg-start bang", "/transport/start", []), ("rg-stop bang", "/transport/stop", []),
              ("rg-regen bass", "/regen", ["bass"]), ("rg-master 1", "/mix/gain/norm", [1.0]),
              ("rg-bass-gain 0.25", "/mix/gain2/norm", [0.25])]
    argv = ["pd", "-nogui", "-noaudio", "-nomidi", "-open", os.path.join(CONTROLLERS, "demo.pd"),
            "-send", f"rg-connect localhost {sock.getsockname()[1]}"]
    for send, _, _ in played:
        argv += ["-send", send]
    pd = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    got = []
    try:
        t0 = time.time()
        while len(got) < len(played) and time.time() - t0 < 15:
            if select.select([sock], [], [], 0.5)[0]:
                got.append(osc_parse(sock.recv(65536)))
    finally:
        pd.kill()
        pd.wait()
        sock.close()
    assert got == [(address, args) for _, address, args in played], f"pd sent {got}"
    return f"{len(got)} messages"


def the_checks_catch_a_wrong_address():
    """The checks are not vacuous: a misspelt node, a parameter the type does
    not have, a /norm beyond 1 and an unknown command are all refused."""
    table, nodes = engine_table(), patch_nodes()
    for bad in [("x", "/mixx/gain1/norm", [("f", [0.0, 1.0])]), ("x", "/mix/gain9x", [("f", [1.0])]),
                ("x", "/mix/gain1/norm", [("f", [0.0, 4.0])]), ("x", "/regen", [("s", ["nobody"])]),
                ("x", "/lock", [("s", ["drums"])]), ("x", "/bogus", []), ("x", "/nobody/regen", [("f", [1.0])])]:
        try:
            check_against_table([bad], table, nodes)
        except AssertionError:
            continue
        raise AssertionError(f"{bad[1]} {bad[2]} passed the check")


if __name__ == "__main__":
    tap.run([
        ("layouts are what make_layouts.py makes from the demo patch", generated_from_the_patch),
        ("every TouchOSC address is in the engine's table or names a node parameter of the demo patch",
         addresses_test("TouchOSC")),
        ("every TouchOSC Mk1 address is in the engine's table or names a node parameter of the demo patch",
         addresses_test("TouchOSC Mk1")),
        ("every Max address is in the engine's table or names a node parameter of the demo patch",
         addresses_test("Max")),
        ("the checks refuse wrong addresses", the_checks_catch_a_wrong_address),
        ("a running engine accepts every TouchOSC message", answers_test("TouchOSC")),
        ("a running engine accepts every TouchOSC Mk1 message", answers_test("TouchOSC Mk1")),
        ("a running engine accepts every Max message", answers_test("Max")),
        ("every Pd address is in the engine's table or names a node parameter of the demo patch",
         addresses_test("Pd")),
        ("a running engine accepts every Pd message", answers_test("Pd")),
        ("the Pd patch, run headless, sends what its controls promise", pd_sends_what_it_should),
    ])
