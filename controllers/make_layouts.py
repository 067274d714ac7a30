#!/usr/bin/python3
"""Generate the controller layouts of the demo patch from the patch itself.

    controllers/make_layouts.py [--resonant build/resonant] [--patch patches/demo.rpatch] [--out controllers]

Writes, next to this script by default:

  demo.tosc      TouchOSC (the current app, 2021 on): zlib-compressed XML
  demo.touchosc  TouchOSC Mk1 (the legacy app): a zip holding index.xml
  demo.maxpat    Max 8 patcher (JSON)
  demo.pd        Pure Data 0.51+ (vanilla: oscformat, netsend -u -b)

They send OSC over UDP to 127.0.0.1:57130 and carry the same controls, read
from the patch through `resonant check` (the engine's own parser and canonical
form): for every track, that is every node cabled into the mixer, in strip
order, a fader on /MIX/gainN/norm, a REGEN button (/regen ,s NODE) and a LOCK
toggle (/lock ,si NODE 0|1), where NODE is the generator the strip plays (or
the strip's own node if no generator feeds it); then the mixer's master
fader (/MIX/gain/norm), a tempo control (/tempo ,f BPM), and transport
start/stop. A Mk1 control sends only its own number, with no string and no
empty message, so the Mk1 layout has the faders, the tempo, and push
buttons on the number forms the engine takes for buttons: /NODE/regen and
/transport/start|stop with 1 on press and 0 on release (controllers/README.md). Output is
deterministic (ids derive from names), so a test can check that the
committed layouts are what this script makes from the committed patch
(tests/runtime/live/test_controllers.py).
"""
import argparse
import base64
import io
import json
import os
import shlex
import subprocess
import sys
import uuid
import zipfile
import zlib
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HOST, PORT = "127.0.0.1", 57130
TEMPO_MIN, TEMPO_MAX = 40.0, 240.0
GAIN_MAX = 4.0  # the mixer's gain range is 0..4 (resonant nodes mixer)


# ---- the patch -----------------------------------------------------------------

def read_patch(resonant, patch):
    """The canonical form of `patch`: (tempo, nodes {name: (type, params)},
    cables [(from_node, from_port, to_node, to_port)])."""
    out = subprocess.run([resonant, "check", patch], check=True, capture_output=True, text=True).stdout
    tempo, nodes, cables = 120.0, {}, []
    for line in out.splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if words[0] == "tempo":
            tempo = float(words[1])
        elif words[0] == "node":
            params = dict(w.split("=", 1) for w in words[3:])
            nodes[words[1]] = (words[2], params)
        elif len(words) == 3 and words[1] == "->":
            a, b = words[0].split("."), words[2].split(".")
            cables.append((a[0], a[1], b[0], b[1]))
    return tempo, nodes, cables


def take_maker(strip, nodes, cables):
    """The node a track's REGEN and LOCK act on: the generator the mixer strip
    plays (nearest upstream, through its decoder or synchronizer), or the
    strip's own node where no generator feeds it (a test tone)."""
    seen, todo = set(), [strip]
    while todo:
        n = todo.pop(0)
        if nodes[n][0] == "generator":
            return n
        if n not in seen:
            seen.add(n)
            todo += [a for a, _, b, _ in cables if b == n]
    return strip


def controls(resonant, patch):
    """What the layouts control: the mixer, its tracks in strip order, the tempo."""
    tempo, nodes, cables = read_patch(resonant, patch)
    mixers = [n for n, (t, _) in nodes.items() if t == "mixer"]
    if len(mixers) != 1:
        sys.exit(f"{patch}: expected one mixer node, found {len(mixers)}")
    mix = mixers[0]
    # The mixer makes one strip per cable into its `in`, in patch order.
    strips = [a for a, _, b, port in cables if b == mix and port == "in"]
    gains = [float(nodes[mix][1].get(f"gain{i + 1}", 1)) for i in range(len(strips))]
    tracks = [take_maker(strip, nodes, cables) for strip in strips]
    return {"mix": mix, "tracks": tracks, "gains": gains,
            "master": float(nodes[mix][1].get("gain", 1)), "tempo": tempo}


# ---- TouchOSC (.tosc) ----------------------------------------------------------

def cdata(text):
    return f"<![CDATA[{text}]]>"


def prop(kind, key, value):
    """(key, xml) of one property."""
    if kind == "r":
        value = "".join(f"<{k}>{v}</{k}>" for k, v in zip("xywh", value))
    elif kind == "c":
        value = "".join(f"<{k}>{v}</{k}>" for k, v in zip("rgba", value))
    elif kind == "s":
        value = cdata(value)
    elif kind == "b":
        value = int(bool(value))
    return key, f"<property type='{kind}'><key>{cdata(key)}</key><value>{value}</value></property>"


def value(key, default):
    return (f"<value><key>{cdata(key)}</key><locked>0</locked><lockedDefaultCurrent>0</lockedDefaultCurrent>"
            f"<default>{cdata(default)}</default><defaultPull>0</defaultPull></value>")


def partial(kind, conversion, val, lo=0, hi=1):
    return (f"<partial><type>{kind}</type><conversion>{conversion}</conversion><value>{cdata(val)}</value>"
            f"<scaleMin>{lo}</scaleMin><scaleMax>{hi}</scaleMax></partial>")


def osc(path, args, condition="ANY"):
    """One message sent on every connection when the control's x changes
    (RISE: only when it goes up, i.e. a button press)."""
    return ("<osc><enabled>1</enabled><send>1</send><receive>0</receive><feedback>0</feedback>"
            "<noDuplicates>0</noDuplicates><connections>1111111111</connections>"
            f"<triggers><trigger><var>{cdata('x')}</var><condition>{condition}</condition></trigger></triggers>"
            f"<path>{partial('CONSTANT', 'STRING', path)}</path><arguments>{''.join(args)}</arguments></osc>")


def node(kind, name, frame, color, props=(), values=(), messages=(), children=()):
    # Ids derive from the name, so the file is the same on every run.
    nid = uuid.uuid5(uuid.NAMESPACE_URL, "resonantgen-controller/" + name)
    base = [prop("b", "background", 1), prop("c", "color", color), prop("f", "cornerRadius", 1),
            prop("r", "frame", frame), prop("b", "grabFocus", kind != "GROUP"),
            prop("b", "interactive", kind in ("BUTTON", "FADER")), prop("b", "locked", 0),
            prop("s", "name", name), prop("i", "orientation", 0), prop("b", "outline", 1),
            prop("i", "outlineStyle", 0), prop("i", "pointerPriority", 0), prop("i", "shape", 1),
            prop("b", "visible", 1)]
    merged = dict(base)
    merged.update(props)  # a control's own properties replace the defaults
    xml = f"<node ID='{nid}' type='{kind}'><properties>{''.join(merged[k] for k in sorted(merged))}</properties>"
    xml += f"<values>{''.join(values)}</values>"
    if messages:
        xml += f"<messages>{''.join(messages)}</messages>"
    if children:
        xml += f"<children>{''.join(children)}</children>"
    return xml + "</node>"


GREY, TEXT = (0.25, 0.25, 0.25, 1), (1, 1, 1, 1)
TRACK_COLORS = [(0.95, 0.55, 0.2, 1), (0.3, 0.7, 0.95, 1), (0.45, 0.85, 0.4, 1), (0.85, 0.4, 0.85, 1),
                (0.95, 0.85, 0.3, 1), (0.4, 0.9, 0.8, 1), (0.95, 0.4, 0.4, 1), (0.6, 0.6, 0.95, 1)]


def label(name, frame, text):
    return node("LABEL", name, frame, (0, 0, 0, 0), [prop("i", "textSize", 18), prop("c", "textColor", TEXT),
                                                    prop("b", "background", 0)],
                [value("text", text), value("touch", "false")])


def fader(name, frame, color, default, message):
    # orientation 0 (north, the default): a vertical fader, 0 at the bottom
    return node("FADER", name, frame, color, [prop("i", "response", 0)],
                [value("x", f"{default:g}"), value("touch", "false")], [message])


def button(name, frame, color, toggle, message):
    # buttonType 0: momentary, 1: toggle on release
    return node("BUTTON", name, frame, color, [prop("i", "buttonType", 1 if toggle else 0),
                                              prop("b", "press", 1), prop("b", "release", 1)],
                [value("x", "0"), value("touch", "false")], [message])


def touchosc(c):
    kids, width = [], 1024
    for i, track in enumerate(c["tracks"]):
        x, color = 20 + i * 140, TRACK_COLORS[i % len(TRACK_COLORS)]
        gain = f"/{c['mix']}/gain{i + 1}/norm"
        kids += [label(f"{track}_name", (x, 10, 120, 40), track),
                 fader(f"{track}_gain", (x, 60, 120, 460), color, c["gains"][i] / GAIN_MAX,
                       osc(gain, [partial("VALUE", "FLOAT", "x")])),
                 button(f"{track}_regen", (x, 540, 120, 90), color, False,
                        osc("/regen", [partial("CONSTANT", "STRING", track)], "RISE")),
                 button(f"{track}_lock", (x, 650, 120, 90), GREY, True,
                        osc("/lock", [partial("CONSTANT", "STRING", track),
                                      partial("VALUE", "INTEGER", "x")]))]
    x = 20 + len(c["tracks"]) * 140 + 40
    tempo_x = (c["tempo"] - TEMPO_MIN) / (TEMPO_MAX - TEMPO_MIN)
    kids += [label("master_name", (x, 10, 120, 40), "master"),
             fader("master_gain", (x, 60, 120, 460), TEXT, c["master"] / GAIN_MAX,
                   osc(f"/{c['mix']}/gain/norm", [partial("VALUE", "FLOAT", "x")])),
             label("tempo_name", (x + 140, 10, 120, 40), f"tempo {TEMPO_MIN:g}-{TEMPO_MAX:g}"),
             fader("tempo", (x + 140, 60, 120, 460), (0.9, 0.9, 0.5, 1), tempo_x,
                   osc("/tempo", [partial("VALUE", "FLOAT", "x", TEMPO_MIN, TEMPO_MAX)])),
             button("start", (x, 540, 120, 90), (0.3, 0.8, 0.3, 1), False, osc("/transport/start", [], "RISE")),
             button("stop", (x + 140, 540, 120, 90), (0.8, 0.3, 0.3, 1), False, osc("/transport/stop", [], "RISE"))]
    width = max(width, x + 300)
    root = node("GROUP", "resonant_demo", (0, 0, width, 768), (0, 0, 0, 1), values=[value("touch", "false")],
                children=kids)
    xml = f"<?xml version='1.0' encoding='UTF-8'?><lexml version='3'>{root}</lexml>"
    return zlib.compress(xml.encode("utf-8"), 9)


# ---- TouchOSC Mk1 (.touchosc) ------------------------------------------------------

def b64(text):
    return base64.b64encode(text.encode()).decode()


def mk1_control(kind, name, x, y, w, h, color, **attrs):
    """One Mk1 control; its name, text and OSC address are base64 in layout version 17."""
    fields = {"type": kind, "name": b64(name), "x": x, "y": y, "w": w, "h": h, "color": color}
    fields.update({k: b64(v) if k in ("text", "osc_cs") else v for k, v in attrs.items()})
    return "<control " + " ".join(f'{k}="{escape(str(v))}"' for k, v in fields.items()) + "></control>"


def mk1_fader(name, x, color, address, lo=0.0, hi=1.0, height=560):
    return mk1_control("faderv", name, x, 60, 120, height, color, osc_cs=address, scalef=f"{lo:.1f}",
                       scalet=f"{hi:.1f}", inverted="false", response="absolute", centered="false")


def mk1_push(name, x, y, color, address):
    """A push button: 1 when pressed, 0 when released (the engine acts on 1)."""
    return mk1_control("push", name, x, y, 120, 60, color, osc_cs=address, scalef="0.0", scalet="1.0",
                       local_off="false", sp="true", sr="true")


def mk1_label(name, x, text):
    return mk1_control("labelh", name, x, 10, 120, 40, "gray", text=text, size=16, background="false",
                       outline="false")


def touchosc_mk1(c):
    colors = ["orange", "blue", "green", "purple", "yellow", "pink", "red", "brown"]
    controls = []
    for i, track in enumerate(c["tracks"]):
        x = 20 + i * 140
        controls += [mk1_label(f"{track}_name", x, track),
                     mk1_fader(f"{track}_gain", x, colors[i % len(colors)], f"/{c['mix']}/gain{i + 1}/norm",
                               height=480),
                     mk1_push(f"{track}_regen", x, 560, colors[i % len(colors)], f"/{track}/regen")]
    x = 20 + len(c["tracks"]) * 140 + 40
    controls += [mk1_label("master_name", x, "master"),
                 mk1_fader("master_gain", x, "gray", f"/{c['mix']}/gain/norm"),
                 mk1_label("tempo_name", x + 140, f"tempo {TEMPO_MIN:g}-{TEMPO_MAX:g}"),
                 mk1_fader("tempo", x + 140, "yellow", "/tempo", TEMPO_MIN, TEMPO_MAX),
                 mk1_push("start", x + 280, 60, "green", "/transport/start"),
                 mk1_push("stop", x + 280, 140, "red", "/transport/stop")]
    width = max(1024, x + 420)
    page = (f'<tabpage name="{b64("demo")}" scalef="0.0" scalet="1.0" li_t="" li_c="gray" li_s="14" li_o="false" '
            f'li_b="false" la_t="" la_c="gray" la_s="14" la_o="false" la_b="false">{"".join(controls)}</tabpage>')
    xml = (f'<?xml version="1.0" encoding="UTF-8"?><layout version="17" mode="3" w="{width}" h="768" '
           f'orientation="horizontal">{page}</layout>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        entry = zipfile.ZipInfo("index.xml", date_time=(1980, 1, 1, 0, 0, 0))  # a fixed time: reproducible
        entry.compress_type, entry.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
        z.writestr(entry, xml)
    return out.getvalue()


# ---- Max (.maxpat) ---------------------------------------------------------------

class Patcher:
    def __init__(self):
        self.boxes, self.lines = [], []

    def box(self, maxclass, rect, text=None, inlets=1, outlets=1, outlettype=("",), **attrs):
        bid = f"obj-{len(self.boxes) + 1}"
        b = {"id": bid, "maxclass": maxclass, "numinlets": inlets, "numoutlets": outlets,
             "patching_rect": [float(v) for v in rect]}
        if outlets:
            b["outlettype"] = list(outlettype)
        if text is not None:
            b["text"] = text
        b.update(attrs)
        self.boxes.append({"box": b})
        return bid

    def connect(self, src, dst, inlet=0):
        self.lines.append({"patchline": {"source": [src, 0], "destination": [dst, inlet]}})

    def comment(self, rect, text):
        return self.box("comment", rect, text, outlets=0)

    def rect(self, bid):
        return next(b["box"]["patching_rect"] for b in self.boxes if b["box"]["id"] == bid)

    def to(self, dst, src, prefix):
        """src's output, with `prefix` put in front, to dst."""
        x, y = self.rect(src)[:2]
        p = self.box("newobj", (x, y + 150, 130, 22), f"prepend {prefix}")
        self.connect(src, p)
        self.connect(p, dst)


def maxpat(c):
    p = Patcher()
    p.comment((20, 10, 700, 20), "ResonantGen demo controller: resonant run patches/demo.rpatch, then play. "
              "Generated by controllers/make_layouts.py")
    send = p.box("newobj", (20, 520, 160, 22), f"udpsend {HOST} {PORT}", outlets=0)
    for i, track in enumerate(c["tracks"]):
        x = 20 + i * 150
        p.comment((x, 40, 140, 20), track)
        slider = p.box("slider", (x, 70, 30, 140), floatoutput=1, size=1.0)
        p.to(send, slider, f"/{c['mix']}/gain{i + 1}/norm")
        regen = p.box("message", (x + 40, 70, 100, 22), f"/regen {track}", inlets=2)
        p.connect(regen, send)
        # The toggle sends 0 or 1: /lock NODE 0|1.
        lock = p.box("toggle", (x + 40, 110, 24, 24), outlettype=("int",))
        p.comment((x + 68, 110, 60, 20), "lock")
        prep = p.box("newobj", (x + 40, 180, 100, 22), f"prepend /lock {track}")
        p.connect(lock, prep)
        p.connect(prep, send)
    x = 20 + len(c["tracks"]) * 150
    p.comment((x, 40, 140, 20), "master")
    master = p.box("slider", (x, 70, 30, 140), floatoutput=1, size=1.0)
    p.to(send, master, f"/{c['mix']}/gain/norm")
    p.comment((x + 50, 40, 100, 20), "tempo (bpm)")
    tempo = p.box("flonum", (x + 50, 70, 60, 22), outlets=2, outlettype=("", "bang"),
                  minimum=TEMPO_MIN, maximum=TEMPO_MAX, format=6)
    p.to(send, tempo, "/tempo")
    for k, what in enumerate(("start", "stop")):
        b = p.box("message", (x + 50, 110 + 30 * k, 110, 22), f"/transport/{what}", inlets=2)
        p.connect(b, send)
    patcher = {"fileversion": 1,
               "appversion": {"major": 8, "minor": 5, "revision": 0, "architecture": "x64", "modernui": 1},
               "classnamespace": "box", "rect": [100.0, 100.0, float(x + 250), 580.0], "bglocked": 0,
               "openinpresentation": 0, "default_fontsize": 12.0, "default_fontname": "Arial",
               "gridsize": [15.0, 15.0], "boxes": p.boxes, "lines": p.lines, "dependency_cache": [],
               "autosave": 0}
    return (json.dumps({"patcher": patcher}, indent=1, sort_keys=True) + "\n").encode()


# ---- Pure Data (.pd) -----------------------------------------------------------------

class PdPatch:
    """Boxes are numbered in the order they are written, as Pd does."""

    def __init__(self):
        self.lines, self.links, self.count = [], [], 0

    def add(self, kind, x, y, text):
        self.lines.append(f"#X {kind} {x} {y} {text};")
        self.count += 1
        return self.count - 1

    def connect(self, a, b, inlet=0, outlet=0):
        self.links.append(f"#X connect {a} {outlet} {b} {inlet};")


def iemgui(kind, receive, label, *args):
    """A vanilla IEM GUI object with receive name `receive` (so the patch can
    also be played with `pd -send "RECEIVE VALUE"`)."""
    head = {"vsl": "17 128 0 1 0 0", "tgl": "25 0", "bng": "25 250 50 0", "nbx": "5 17 20 999 0 0"}[kind]
    tail = {"vsl": "0 1", "tgl": "0 1", "bng": "", "nbx": f"{args[0]:g} 256" if args else ""}[kind]
    return f"{kind} {head} empty {receive} {label} 0 -9 0 12 #fcfcfc #000000 #000000 {tail}".rstrip()


def puredata(c):
    pd = PdPatch()
    width = 20 + (len(c["tracks"]) + 2) * 130
    pd.add("text", 20, 10, f"ResonantGen demo controller (generated by controllers/make_layouts.py): "
                           f"resonant run patches/demo.rpatch then open this patch. OSC over UDP to "
                           f"localhost {PORT}. Each control also listens on the receive name under it")
    connect = pd.add("msg", 20, 50, f"connect localhost {PORT}")
    load = pd.add("obj", 20, 80, "loadbang")
    pd.connect(load, connect)
    send = pd.add("obj", 20, 560, "netsend -u -b")
    pd.connect(connect, send)
    trim = pd.add("obj", 20, 530, "list trim")
    pd.connect(trim, send)
    prepend = pd.add("obj", 20, 500, "list prepend send")
    pd.connect(prepend, trim)

    def osc(x, y, *address):
        o = pd.add("obj", x, y, "oscformat " + " ".join(address))
        pd.connect(o, prepend)
        return o

    regen = osc(20, 440, "regen")
    lock = osc(200, 440, "lock")
    for i, track in enumerate(c["tracks"]):
        x = 20 + i * 130
        pd.add("text", x, 110, track)
        fader = pd.add("obj", x, 150, iemgui("vsl", f"rg-{track}-gain", "gain"))
        pd.connect(fader, osc(x, 300, c["mix"], f"gain{i + 1}", "norm"))
        bang = pd.add("obj", x + 50, 150, iemgui("bng", f"rg-{track}-regen", "regen"))
        name = pd.add("msg", x + 50, 340, f"symbol {track}")
        pd.connect(bang, name)
        pd.connect(name, regen)
        toggle = pd.add("obj", x + 50, 220, iemgui("tgl", f"rg-{track}-lock", "lock"))
        tag = pd.add("obj", x + 50, 380, f"list prepend {track}")
        pd.connect(toggle, tag)
        pd.connect(tag, lock)
    x = 20 + len(c["tracks"]) * 130
    pd.add("text", x, 110, "master")
    master = pd.add("obj", x, 150, iemgui("vsl", "rg-master", "gain"))
    pd.connect(master, osc(x, 300, c["mix"], "gain", "norm"))
    pd.add("text", x + 130, 110, "tempo")
    tempo = pd.add("obj", x + 130, 150, iemgui("nbx", "rg-tempo", "bpm", c["tempo"]))
    pd.connect(tempo, osc(x + 130, 300, "tempo"))
    for k, what in enumerate(("start", "stop")):
        b = pd.add("obj", x + 130 + 50 * k, 200, iemgui("bng", f"rg-{what}", what))
        pd.connect(b, osc(x + 130, 340 + 30 * k, "transport", what))
    # Another engine: pd -send "rg-connect HOST PORT" (disconnect first:
    # netsend refuses to connect while connected).
    where = pd.add("obj", 200, 480, "r rg-connect")
    order = pd.add("obj", 200, 500, "t a b")
    pd.connect(where, order)
    drop = pd.add("msg", 250, 530, "disconnect")
    pd.connect(order, drop, outlet=1)
    pd.connect(drop, send)
    again = pd.add("obj", 200, 530, "list prepend connect")
    pd.connect(order, again)
    pd.connect(again, trim)
    # Any node by name: pd -send "rg-regen NODE"
    any_node = pd.add("obj", 20, 400, "r rg-regen")
    as_list = pd.add("obj", 20, 420, "list")
    pd.connect(any_node, as_list)
    pd.connect(as_list, regen)
    return ("\n".join([f"#N canvas 40 60 {width} 600 12;"] + pd.lines + pd.links) + "\n").encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resonant", default=os.path.join(ROOT, "build", "resonant"))
    ap.add_argument("--patch", default=os.path.join(ROOT, "patches", "demo.rpatch"))
    ap.add_argument("--out", default=HERE)
    args = ap.parse_args()
    c = controls(args.resonant, args.patch)
    for name, data in (("demo.tosc", touchosc(c)), ("demo.touchosc", touchosc_mk1(c)), ("demo.maxpat", maxpat(c)),
                       ("demo.pd", puredata(c))):
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(data)
        print(f"wrote {os.path.join(args.out, name)} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
