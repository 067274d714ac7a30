#!/usr/bin/python3
"""Smoke tests of the text encoder and the track-aware generator (train/text.py,
train/lm.py) on tiny configs, and of the composite export: the exported
folder, read by train/musicgen_ref.py's loader and run by the reference
extended with the track context, must give the trained module's logits."""
import json
import os
import shutil
import tempfile

import numpy as np
import torch

import tap
import codec
import corpus
import encodec_ref
import export
import lm
import text
from t5_ref import T5Config, T5Encoder as T5Ref

TMP = tempfile.mkdtemp(prefix="rg-lm-")
CFG = os.path.join(tap.ROOT, "train", "configs", "lm_tiny.json")
torch.set_num_threads(1)
STATE = {}


def codec_checkpoint():
    if "codec" not in STATE:
        m, t = codec.load_config(os.path.join(tap.ROOT, "train", "configs", "codec_tiny.json"))
        codec.train(m, t, os.path.join(TMP, "codec"), steps=2, quiet=True)
        STATE["codec"] = os.path.join(TMP, "codec", "checkpoint.pt")
    return STATE["codec"]


def run_b_data():
    """(dataset, tokenizer) of run "b" (test_train_resume_and_finite's)."""
    return torch.load(os.path.join(TMP, "b", "dataset.pt")), text.Tokenizer(os.path.join(TMP, "b", "spiece.model"))


def run_beside_b(name):
    """A new run folder that shares run "b"'s tokenizer and dataset, so a
    run started there from b's model reads the same ids and codes."""
    out = os.path.join(TMP, name)
    os.makedirs(out, exist_ok=True)
    shutil.copy(os.path.join(TMP, "b", "spiece.model"), out)
    os.symlink(os.path.join(TMP, "b", "dataset.pt"), os.path.join(out, "dataset.pt"))
    return out


def test_spm_on_captions():
    path = text.train_spm(os.path.join(TMP, "spm"), vocab=128, captions=300)
    tok = text.Tokenizer(path)
    cap = corpus.caption(corpus.sample_spec(5), "bass")
    ids = tok.encode(cap)
    assert ids[-1] == text.EOS and 2 not in ids, ids  # no <unk> in a corpus caption
    assert tok.sp.decode(ids[:-1]) == cap
    assert 40 <= tok.vocab_size <= 128, tok.vocab_size
    return f"vocab {tok.vocab_size}, '{cap}' -> {len(ids)} tokens"


def test_t5_module_matches_reference():
    c = T5Config(vocab_size=50, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2)
    torch.manual_seed(0)
    m = text.T5Encoder(c).eval()
    sd = {"text_encoder." + k: v for k, v in m.state_dict().items()}
    ids = torch.tensor([[5, 9, 13, 1, 0], [7, 3, 1, 0, 0]])
    mask = (torch.arange(5)[None] < torch.tensor([[4], [3]])).long()
    with torch.no_grad():
        a = m(ids, mask)
    b = T5Ref(c, sd)(ids, mask)
    err = float((a - b).abs().max())
    assert err < 1e-5, err


def test_delay_pattern():
    codes = torch.arange(2 * 4 * 6).view(2, 4, 6)
    inp, tgt, valid = lm.delayed(codes, 999)
    assert inp.shape == (2, 4, 9)
    assert (inp[:, :, 0] == 999).all()  # step 0 is all special tokens
    for k in range(4):
        for s in range(9):
            f = s - k
            assert bool(valid[k, s]) == (0 <= f < 6)
            if 0 <= f < 6:
                assert (tgt[:, k, s] == codes[:, k, f]).all()
            if 1 <= s:
                assert (inp[:, k, s] == tgt[:, k, s - 1]).all()


def test_beat_bins():
    # at 120 bpm a bar is 2 s = 100 frames at 50 Hz: frame 25 is beat 2
    b = lm.beat_bins(torch.arange(0, 200, 25), torch.tensor([120.0]), 50, 48)[0].tolist()
    assert b == [0, 12, 24, 36, 0, 12, 24, 36], b


def test_train_resume_and_finite():
    cfg, t = lm.load_config(CFG)
    ck = codec_checkpoint()
    a = lm.train(cfg, t, ck, os.path.join(TMP, "a"), steps=4, quiet=True)
    a += lm.train(cfg, t, ck, os.path.join(TMP, "a"), steps=8, quiet=True)
    b = lm.train(cfg, t, ck, os.path.join(TMP, "b"), steps=8, quiet=True)
    la, lb = [e["loss"] for e in a], [e["loss"] for e in b]
    assert [e["step"] for e in a] == list(range(1, 9))
    assert all(np.isfinite(la)) and np.allclose(la, lb, rtol=1e-4), (la, lb)
    return "losses " + " ".join(f"{x:.2f}" for x in la)


def test_dataset_is_the_same_built_in_parallel():
    cfg, t = lm.load_config(CFG)
    cmodel = codec.load_checkpoint_model(codec_checkpoint())
    one = lm.build_dataset(cmodel, dict(t, dataset_workers=1, songs=4))
    two = lm.build_dataset(cmodel, dict(t, dataset_workers=2, songs=4))
    assert len(one) == len(two) == 4
    for a, b in zip(one, two):
        assert a["captions"] == b["captions"] and a["bpm"] == b["bpm"]
        assert all(torch.equal(a["codes"][r], b["codes"][r]) for r in a["codes"]), a["captions"]
    return f"4 songs, {sum(len(a['codes']) for a in one)} stems, equal from 1 and 2 workers"


def test_pitch_codec_dataset_codes_the_known_notes():
    """With a pitch codebook the dataset's codes have its row: the bass's
    known notes (their semitones, in the song's key), the drums no pitch;
    a generator trained on them predicts one codebook more, and exports."""
    m, t = codec.load_config(os.path.join(tap.ROOT, "train", "configs", "codec_tiny.json"))
    m = dict(m, codebook_size=64, harmonic_bins=4, pitch_codebook=True)
    codec.train(m, dict(t, roles=["drums", "bass"]), os.path.join(TMP, "pitch_codec"), steps=1, quiet=True)
    ck = os.path.join(TMP, "pitch_codec", "checkpoint.pt")
    cmodel = codec.load_checkpoint_model(ck)
    cfg, lt = lm.load_config(CFG)
    data = lm.build_dataset(cmodel, dict(lt, dataset_workers=1, songs=3))
    rows = cmodel.cfg.num_codebooks
    pcs = set()
    for i, item in enumerate(data):
        spec = corpus.sample_spec(lt["seed"] * 1_000_003 + 500_000 + i, bars=lt["song_bars"])
        assert item["codes"]["drums"].shape[0] == rows and not item["codes"]["drums"][-1].any()
        bass = item["codes"]["bass"][-1].long()
        assert (bass > 0).float().mean() > 0.3, bass
        midi = bass[bass > 0] - 1 + cmodel.cfg.pitch_midi_min
        song_pcs = {int(p) % 12 for p in midi}
        assert song_pcs <= set(corpus.scale_pitch_classes(spec["root"], spec["mode"])), (song_pcs, spec)
        pcs |= song_pcs
    logs = lm.train(cfg, dict(lt, songs=3), ck, os.path.join(TMP, "pitch_lm"), steps=2, quiet=True)
    assert all(np.isfinite(e["loss"]) for e in logs)
    model, mcfg = lm.load_checkpoint_model(os.path.join(TMP, "pitch_lm", "checkpoint.pt"))
    assert mcfg["decoder"]["num_codebooks"] == rows
    return f"{len(data)} songs, {rows} code rows, bass pitch classes {sorted(pcs)}"


def test_loss_decreases_on_fixed_batch():
    cfg, t = lm.load_config(CFG)
    model, _ = lm.load_checkpoint_model(os.path.join(TMP, "b", "checkpoint.pt"))
    model.train()
    data, tok = run_b_data()
    t["p_uncond"] = 0.0
    batch = lm.batch_at(data, tok, t, 0, model.track, model.dc.special)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    torch.manual_seed(0)
    losses = []
    for _ in range(40):
        loss = lm.loss_of(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3]), losses
    return f"{np.mean(losses[:3]):.2f} -> {np.mean(losses[-3:]):.2f}"


def test_row_loss_weights_weigh_each_codebook():
    """loss_of with row weights: all ones is the plain mean; a weight on one
    row only is that row's own mean cross-entropy (computed here from the
    logits); 1 and 3 on two rows sit between them by those weights."""
    cfg, t = lm.load_config(CFG)
    model, _ = lm.load_checkpoint_model(os.path.join(TMP, "b", "checkpoint.pt"))
    model.eval()
    data, tok = run_b_data()
    batch = lm.batch_at(data, tok, dict(t, p_uncond=0.0), 0, model.track, model.dc.special)
    kk = model.dc.num_codebooks
    with torch.no_grad():
        plain = lm.loss_of(model, batch).item()
        ones = lm.loss_of(model, batch, [1.0] * kk).item()
        mem, mm = model.memory(batch["ids"], batch["mask"], batch["ctx"], batch["ctx_roles"],
                               batch["ctx_present"], batch["uncond"])
        inp, tgt, valid = lm.delayed(batch["codes"], model.dc.special)
        logits = model(inp, batch["role"], batch["bpm"], mem, mm, batch["key"], batch["tags"])
        own = [torch.nn.functional.cross_entropy(logits[:, k][:, valid[k]].reshape(-1, logits.shape[-1]),
                                                 tgt[:, k][:, valid[k]].reshape(-1)).item() for k in range(kk)]
        only_last = lm.loss_of(model, batch, [0.0] * (kk - 1) + [1.0]).item()
        mixed = lm.loss_of(model, batch, [1.0] + [0.0] * (kk - 2) + [3.0]).item()
    n = [int(valid[k].sum()) for k in range(kk)]
    assert abs(plain - ones) < 1e-5 and abs(only_last - own[-1]) < 1e-5, (plain, ones, only_last, own)
    want = (own[0] * n[0] + 3 * own[-1] * n[-1]) / (n[0] + 3 * n[-1])
    assert abs(mixed - want) < 1e-5, (mixed, want)
    return f"rows {[round(x, 2) for x in own]}; last only {only_last:.3f}"


def test_target_roles_and_init_from():
    """target_roles trains only those roles' tracks (the rest stay context);
    --init-from starts a new run from another run's model."""
    cfg, t = lm.load_config(CFG)
    model, _ = lm.load_checkpoint_model(os.path.join(TMP, "b", "checkpoint.pt"))
    data, tok = run_b_data()
    roles = [lm.ROLES[int(r)] for s in range(6)
             for r in lm.batch_at(data, tok, dict(t, target_roles=["bass"]), s, model.track, model.dc.special)["role"]]
    every = {lm.ROLES[int(r)] for s in range(6)
             for r in lm.batch_at(data, tok, t, s, model.track, model.dc.special)["role"]}
    assert set(roles) == {"bass"} and len(every) > 1, (set(roles), every)
    out = run_beside_b("init")
    # one step at rate 0: the new run's model is the one it started from
    lm.train(cfg, dict(t, lr=0.0), codec_checkpoint(), out, steps=1, quiet=True,
             init_from=os.path.join(TMP, "b", "checkpoint.pt"))
    started, _ = lm.load_checkpoint_model(os.path.join(out, "checkpoint.pt"))
    same = all(torch.equal(a, b) for a, b in zip(started.state_dict().values(), model.state_dict().values()))
    assert same and torch.load(os.path.join(out, "checkpoint.pt"))["step"] == 1
    return f"roles trained with target_roles=[bass]: {sorted(set(roles))}; without: {sorted(every)}"


def test_trainable_trains_only_the_named_parameters():
    """trainable: a run from another run's model changes only the parameters
    named by the prefixes (here the last code row's head), every other one
    stays bit for bit; a prefix naming nothing is refused."""
    cfg, t = lm.load_config(CFG)
    model, _ = lm.load_checkpoint_model(os.path.join(TMP, "b", "checkpoint.pt"))
    head = f"decoder.lm_heads.{model.dc.num_codebooks - 1}."
    out = run_beside_b("trainable")
    lm.train(cfg, dict(t, lr=1e-2, warmup=1, trainable=[head]), codec_checkpoint(), out, steps=2, quiet=True,
             init_from=os.path.join(TMP, "b", "checkpoint.pt"))
    after, _ = lm.load_checkpoint_model(os.path.join(out, "checkpoint.pt"))
    before = model.state_dict()
    changed = sorted(n for n, v in after.state_dict().items() if not torch.equal(v, before[n]))
    assert changed == [head + "weight"], changed
    try:
        lm.trainable_params(model, ["decoder.no_such_layer."])
    except SystemExit as e:
        assert "no_such_layer" in str(e)
    else:
        raise AssertionError("a prefix naming nothing was accepted")
    return f"changed: {changed}"


def test_distillation_loss_is_the_teachers_kl():
    """loss_of with a teacher: distilled items add KL(teacher || model) per
    token, the others keep their (weighted) cross-entropy. A teacher equal
    to the model adds 0; another teacher adds the KL computed here from
    both models' logits; no distilled item is the plain loss; an unknown
    role is refused."""
    cfg, t = lm.load_config(CFG)
    model, _ = lm.load_checkpoint_model(os.path.join(TMP, "b", "checkpoint.pt"))
    data, tok = run_b_data()
    batch = lm.batch_at(data, tok, dict(t, p_uncond=0.0), 0, model.track, model.dc.special)
    drums = lm.distilled_items(batch, ["drums"])
    assert 0 < int(drums.sum()) < len(drums), batch["role"]
    try:
        lm.distilled_items(batch, ["drum"])
    except SystemExit as e:
        assert "'drum'" in str(e), e
    else:
        raise AssertionError("an unknown role was accepted")
    other, _ = lm.load_checkpoint_model(os.path.join(TMP, "b", "checkpoint.pt"))
    with torch.no_grad():
        for v in other.parameters():
            v.add_(0.05 * torch.randn_like(v))
    kk = model.dc.num_codebooks
    w = [1.0] * (kk - 1) + [4.0]
    with torch.no_grad():
        plain = lm.loss_of(model, batch, w).item()
        none = lm.loss_of(model, batch, w, other, torch.zeros_like(drums)).item()
        self_taught = lm.loss_of(model, batch, w, model, drums).item()
        taught = lm.loss_of(model, batch, w, other, drums, 2.0).item()
        mine, tgt, valid = lm.token_logits(model, batch)
        theirs = lm.token_logits(other, batch)[0]
        p, q = torch.log_softmax(theirs[drums], -1), torch.log_softmax(mine[drums], -1)
        kl = (p.exp() * (p - q)).sum(-1).mean().item()
        own = {k: v[~drums] for k, v in batch.items()}
        ce_own = lm.loss_of(model, own, w).item()
    assert abs(none - plain) < 1e-6, (none, plain)
    assert abs(self_taught - ce_own) < 1e-5, (self_taught, ce_own)
    assert kl > 1e-3 and abs(taught - (ce_own + 2.0 * kl)) < 1e-5, (taught, ce_own, kl)
    return f"KL to a perturbed teacher {kl:.4f}; own cross-entropy {ce_own:.3f}"


def test_distillation_keeps_the_distilled_roles():
    """A run from a model with distill_roles=[drums] and that model as the
    teacher (distill_weight 4) moves the drums' predictions less than the
    same run without it: their KL from the start under 3/4 of it, same
    batches, rate and steps (not to 0: the student's dropout is on, the
    teacher's off). distill_roles without a teacher is refused."""
    cfg, t = lm.load_config(CFG)
    start = os.path.join(TMP, "b", "checkpoint.pt")
    teacher, _ = lm.load_checkpoint_model(start)
    data, tok = run_b_data()
    probe = lm.batch_at(data, tok, dict(t, p_uncond=0.0, seed=99, batch=16), 0, teacher.track, teacher.dc.special)
    drums = lm.distilled_items(probe, ["drums"])
    assert drums.any(), probe["role"]
    drift = {}
    for name, extra in (("plain", {}), ("distilled", dict(distill_roles=["drums"], distill_weight=4.0))):
        out = run_beside_b("distill_" + name)
        lm.train(cfg, dict(t, lr=1e-3, warmup=1, **extra), codec_checkpoint(), out, steps=8, quiet=True,
                 init_from=start, distill_from=start if extra else None)
        after, _ = lm.load_checkpoint_model(os.path.join(out, "checkpoint.pt"))
        with torch.no_grad():
            p = torch.log_softmax(lm.token_logits(teacher, probe)[0][drums], -1)
            q = torch.log_softmax(lm.token_logits(after, probe)[0][drums], -1)
            drift[name] = (p.exp() * (p - q)).sum(-1).mean().item()
    assert drift["distilled"] < 0.75 * drift["plain"], drift  # 0.55 here (dropout keeps it off 0)
    try:
        lm.train(cfg, dict(t, distill_roles=["drums"]), codec_checkpoint(), os.path.join(TMP, "distill_plain"),
                 steps=9, quiet=True)
    except SystemExit as e:
        assert "--distill-from" in str(e), e
    else:
        raise AssertionError("distill_roles without a teacher was accepted")
    return f"drums' KL from the start: {drift['plain']:.4f} plain, {drift['distilled']:.4f} distilled"


def test_init_from_grows_the_pitch_row():
    """--init-from a generator of four code rows onto a pitch codec with the
    same encoder (codec_tiny_pitch.json: decoder-only from that codec): the
    grown model starts predicting the four old rows exactly as the old one
    did (new input embeddings at zero), and only learns the new row; a model
    that does not fit the old one is refused."""
    cfg, t = lm.load_config(CFG)
    m, ct = codec.load_config(os.path.join(tap.ROOT, "train", "configs", "codec_tiny_pitch.json"))
    codec.train(m, ct, os.path.join(TMP, "grow_codec"), steps=1, quiet=True, init_from=codec_checkpoint())
    pitch_ck = os.path.join(TMP, "grow_codec", "checkpoint.pt")
    old_codec, new_codec = codec.load_checkpoint_model(codec_checkpoint()), codec.load_checkpoint_model(pitch_ck)
    assert all(torch.equal(a, new_codec.state_dict()[k]) for k, a in old_codec.state_dict().items()
               if not k.startswith("decoder.")), "decoder-only training changed the encoder or codebooks"
    out = os.path.join(TMP, "grown")
    lm.train(cfg, dict(t, lr=0.0, songs=3), pitch_ck, out, steps=1, quiet=True,
             init_from=os.path.join(TMP, "b", "checkpoint.pt"))
    assert os.path.exists(os.path.join(out, "spiece.model")), "the tokenizer was not carried over"
    old, _ = lm.load_checkpoint_model(os.path.join(TMP, "b", "checkpoint.pt"))
    grown, _ = lm.load_checkpoint_model(os.path.join(out, "checkpoint.pt"))
    assert grown.dc.num_codebooks == old.dc.num_codebooks + 1
    assert not grown.decoder.model.decoder.embed_tokens[-1].weight.any()
    tok = text.Tokenizer(os.path.join(out, "spiece.model"))
    batch = lm.batch_at(torch.load(os.path.join(out, "dataset.pt")), tok, t, 0, grown.track, grown.dc.special)
    kk = old.dc.num_codebooks

    def logits(model, rows):
        mem, mem_mask = model.memory(batch["ids"], batch["mask"], batch["ctx"][:, :, :rows], batch["ctx_roles"],
                                     batch["ctx_present"], batch["uncond"])
        inp, _, _ = lm.delayed(batch["codes"][:, :rows], model.dc.special)
        return model(inp, batch["role"], batch["bpm"], mem, mem_mask, batch["key"], batch["tags"])

    with torch.no_grad():
        a, b = logits(old, kk), logits(grown, kk + 1)
    length = a.shape[2]
    assert torch.allclose(a, b[:, :kk, :length], atol=1e-5), (a - b[:, :kk, :length]).abs().max()
    try:
        lm.load_initial_state(grown, os.path.join(TMP, "pitch_lm", "checkpoint.pt"))  # another vocabulary
    except SystemExit as e:
        refused = str(e)
    else:
        raise AssertionError("a model of another size was loaded")
    assert "not this architecture" in refused, refused
    return f"{kk} old rows' logits equal after growing to {kk + 1}"


def test_export_layout_and_reference_parity():
    model, cfg = lm.load_checkpoint_model(os.path.join(TMP, "b", "checkpoint.pt"))
    # make the extension terms matter, so a reference that ignored them fails
    with torch.no_grad():
        for p in model.track_context.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    out = os.path.join(TMP, "export")
    cmodel = codec.load_checkpoint_model(codec_checkpoint())
    lm.export_model(model, cfg, out, os.path.join(TMP, "b", "spiece.model"), cmodel)
    sd = export.read_safetensors(os.path.join(out, "model.safetensors"))
    with open(os.path.join(out, "config.json")) as f:
        conf = json.load(f)
    D, K, card = model.dc.hidden_size, model.dc.num_codebooks, model.dc.vocab_size
    R, Bn = len(conf["track_context"]["roles"]), conf["track_context"]["beat_bins"]
    want = {"enc_to_dec_proj.weight": [D, model.t5c.d_model], "decoder.lm_heads.0.weight": [card, D],
            "decoder.model.decoder.embed_tokens.0.weight": [card + 1, D],
            "text_encoder.shared.weight": [model.t5c.vocab_size, model.t5c.d_model],
            "audio_encoder.quantizer.layers.0.codebook.embed": [card, cmodel.cfg.codebook_dim],
            "track_context.embed_tokens.0.weight": [card + 1, D], "track_context.role_embed.weight": [R, D],
            "track_context.target_role_embed.weight": [R, D], "track_context.beat_embed.weight": [Bn, D],
            "track_context.layer_norm.weight": [D], "track_context.layer_norm.bias": [D],
            "track_context.key_embed.weight": [24, D],
            "track_context.tag_embed.weight": [len(conf["track_context"]["tags"]), D]}
    for name, shape in want.items():
        assert list(sd[name].shape) == shape, (name, list(sd[name].shape), shape)
    assert {"text_encoder", "decoder", "audio_encoder", "track_context"} <= set(conf)
    assert os.path.exists(os.path.join(out, "spiece.model"))

    ref = lm.load_reference(out)
    tok = text.Tokenizer(os.path.join(out, "spiece.model"))
    prompt = "bass, acid line, 124 bpm, A minor, dark techno"
    ids = torch.tensor(tok.encode(prompt))
    drums = torch.randint(0, card, (K, 30), generator=torch.Generator().manual_seed(3))
    role, bpm = corpus.ROLES.index("bass"), 124.0
    keys = torch.from_numpy(np.stack([corpus.key_vector(corpus.caption_key(prompt))] * 2))
    tags = torch.from_numpy(np.stack([corpus.caption_tags(prompt, cfg["track_context"]["tags"])] * 2))
    assert tags.sum() == 4, tags  # acid, dark (of the tiny config's tags), twice
    ref.set_track(role, bpm, [(0, drums)], prompt)
    first = {}
    steps = 12
    grid = ref.generate(ids, steps, guidance=3.0, first_logits=first)
    # the trained module, teacher-forced on the reference's tokens
    with torch.no_grad():
        mem, mm = model.memory(ids[None], torch.ones(1, len(ids), dtype=torch.long), drums[None, None],
                               torch.tensor([[0]]), torch.tensor([[True]]))
        null = torch.zeros_like(mem)
        inp = torch.cat([torch.full((K, 1), model.dc.special), grid[:, :-1]], 1)[None].expand(2, -1, -1)
        logits = model(inp, torch.tensor([role, role]), torch.tensor([bpm, bpm]), torch.cat([mem, null]),
                       torch.cat([mm, mm]), keys, tags)
    mixed = logits[1] + (logits[0] - logits[1]) * 3.0
    err = float((logits[0, :, 0] - first["cond"]).abs().max())
    err_mixed = float((mixed[:, 0] - first["mixed"]).abs().max())
    assert err < 1e-4 and err_mixed < 1e-3, (err, err_mixed)
    greedy = mixed.argmax(-1)  # [K, steps]
    for s in range(steps):
        col = lm.musicgen_ref.delay_mask(greedy[:, s], s + 1, model.dc.special, steps - K + 1)
        assert torch.equal(col, grid[:, s]), (s, col, grid[:, s])
    # and the context is used: other drums change the first logits
    ref.set_track(role, bpm, [(0, (drums + 1) % card)])
    other = {}
    ref.generate(ids, 1, guidance=3.0, first_logits=other)
    assert float((other["cond"] - first["cond"]).abs().max()) > 1e-3
    # and so is the key: another one changes them too
    ref.set_track(role, bpm, [(0, drums)], prompt.replace("A minor", "D dorian"))
    other = {}
    ref.generate(ids, 1, guidance=3.0, first_logits=other)
    assert float((other["cond"] - first["cond"]).abs().max()) > 1e-3
    # and the tags: the same text without "dark" changes them too
    ref.set_track(role, bpm, [(0, drums)], prompt.replace("dark ", ""))
    other = {}
    ref.generate(ids, 1, guidance=3.0, first_logits=other)
    assert float((other["cond"] - first["cond"]).abs().max()) > 1e-3
    # sampling at temperature 0 is greedy decoding: the same frames
    ref.set_track(role, bpm, [(0, drums)], prompt)
    frames = steps - K + 1
    codes = lm.sample(ref, ids, frames, guidance=3.0, temperature=0)
    assert torch.equal(codes, lm.musicgen_ref.undelay(grid, frames))
    sampled = lm.sample(ref, ids, frames, guidance=3.0, temperature=1.0, seed=5)
    assert sampled.shape == (K, frames) and int(sampled.max()) < card
    return f"first-step logits max err {err:.1e}, {steps} greedy steps identical"


def test_key_lock_samples_the_pitch_row_from_the_key():
    """key_lock_mask allows, on a pitch codec's last row, no pitch and the
    notes of the key the text names (A minor and C major: the same seven
    pitch classes), every token elsewhere; nothing without a key or a pitch
    row. sample() with it never draws a disallowed token, and the mask
    changes what an unconstrained draw gives."""
    import encodec_ref

    c = encodec_ref.Config(dict(harmonic_bins=4, pitch_codebook=True, codebook_size=64, sampling_rate=16000,
                                upsampling_ratios=[8, 5, 4, 2], target_bandwidths=[2.0]))
    a = lm.key_lock_mask(c, 5, 64, "bass, 120 bpm, A minor, dark techno")
    assert torch.equal(a, lm.key_lock_mask(c, 5, 64, "bass, C major"))
    notes = [k for k in range(1, c.pitch_notes + 1) if a[-1, k]]
    assert a[-1, 0] and not a[-1, c.pitch_notes + 1:].any() and a[:-1].all()
    assert {(c.pitch_midi_min + k - 1) % 12 for k in notes} == {0, 2, 4, 5, 7, 9, 11} and len(notes) == 28
    assert lm.key_lock_mask(c, 5, 64, "bass, dark techno") is None
    assert lm.key_lock_mask(encodec_ref.Config(dict(c.__dict__, pitch_codebook=False)), 4, 64, "A minor") is None
    ref = lm.load_reference(os.path.join(TMP, "export"))
    card, kk = ref.dec.cfg.vocab_size, ref.dec.cfg.num_codebooks
    allowed = torch.ones(kk, card, dtype=torch.bool)
    allowed[-1] = torch.arange(card) % 3 == 0  # any mask: here every third token of the last codebook
    ids = torch.tensor([5, 6, 7])
    ref.set_track(1, 120.0, [])
    free = lm.sample(ref, ids, 40, seed=3)
    ref.set_track(1, 120.0, [])
    locked = lm.sample(ref, ids, 40, seed=3, allowed=allowed)
    assert (locked[-1] % 3 == 0).all() and not (free[-1] % 3 == 0).all(), (free[-1], locked[-1])
    return f"A minor: {len(notes)} of {c.pitch_notes} notes; locked draws all allowed, free ones not"


def test_pitch_row_samples_at_its_own_temperature():
    """row_temperatures puts a pitch codec's last row at the pitch
    temperature (None without a pitch row, at the same temperature, or
    greedy). sample() with row_temperature: every row at the temperature
    draws as without it; every row near 0 draws the greedy take; only the
    last row near 0 changes that row, and nothing sampled before its first
    step (the delay pattern: row k of frames t < K - 1 - k)."""
    import encodec_ref

    c = encodec_ref.Config(dict(harmonic_bins=4, pitch_codebook=True, codebook_size=64, sampling_rate=16000,
                                upsampling_ratios=[8, 5, 4, 2], target_bandwidths=[2.0]))
    rows = lm.row_temperatures(c, 5, 1.0, 0.5)
    assert rows.tolist() == [1.0, 1.0, 1.0, 1.0, 0.5], rows
    assert lm.row_temperatures(c, 5, 0.5, 0.5) is None and lm.row_temperatures(c, 5, 0.0, 0.5) is None
    assert lm.row_temperatures(encodec_ref.Config(dict(c.__dict__, pitch_codebook=False)), 4, 1.0, 0.5) is None
    ref = lm.load_reference(os.path.join(TMP, "export"))
    kk, ids = ref.dec.cfg.num_codebooks, torch.tensor([5, 6, 7])
    draws = {}
    for name, rt in (("none", None), ("same", torch.full((kk,), 1.0)), ("all cold", torch.full((kk,), 1e-4)),
                     ("cold", torch.tensor([1.0] * (kk - 1) + [1e-4]))):
        ref.set_track(1, 120.0, [])
        draws[name] = lm.sample(ref, ids, 30, temperature=1.0, top_k=0, seed=3, row_temperature=rt)
    ref.set_track(1, 120.0, [])
    greedy = lm.sample(ref, ids, 30, temperature=0)
    assert torch.equal(draws["none"], draws["same"]) and torch.equal(draws["all cold"], greedy)
    assert not torch.equal(draws["none"][-1], draws["cold"][-1])
    for k in range(kk - 1):
        assert torch.equal(draws["none"][k, :kk - 1 - k], draws["cold"][k, :kk - 1 - k])
    return f"{kk} rows: all cold = greedy; the last cold changes only what follows its first step"


def test_codebook_order_puts_a_row_first():
    """track_context.codebook_order: refused unless an order of the rows;
    codes go to the model's order and back; token_logits lists the tokens
    of models in two orders alike (by frame and codec row);
    --init-from a generator in the codec's order moves each codebook's
    embeddings and head with its code row; the key lock and the pitch
    row's temperature land on the row that holds the pitch."""
    import encodec_ref

    assert lm.codebook_order({}, 4) == [0, 1, 2, 3]
    for bad in ([0, 0, 1, 2], [1, 2, 3], [4, 0, 1, 2]):
        try:
            lm.codebook_order({"codebook_order": bad}, 4)
            raise AssertionError(f"{bad} was taken")
        except SystemExit as e:
            assert "codebook_order" in str(e), e
    order = [3, 0, 1, 2]
    codes = torch.arange(4 * 5).reshape(4, 5)
    assert torch.equal(lm.to_model_rows(codes, order)[0], codes[3])
    assert torch.equal(lm.to_codec_rows(lm.to_model_rows(codes, order), order), codes)
    _, t = lm.load_config(CFG)
    data, tok = run_b_data()
    old, old_cfg = lm.load_checkpoint_model(os.path.join(TMP, "b", "checkpoint.pt"))
    cfg = dict(old_cfg, track_context=dict(old_cfg["track_context"], codebook_order=order))
    model = lm.new_model(cfg, tok.vocab_size)
    lm.load_initial_state(model, os.path.join(TMP, "b", "checkpoint.pt"))
    for k, row in enumerate(order):
        assert torch.equal(model.decoder.model.decoder.embed_tokens[k].weight,
                           old.decoder.model.decoder.embed_tokens[row].weight)
        assert torch.equal(model.decoder.lm_heads[k].weight, old.decoder.lm_heads[row].weight)
        assert torch.equal(model.track_context.embed_tokens[k].weight, old.track_context.embed_tokens[row].weight)
    batch = lm.batch_at(data, tok, t, 3, cfg["track_context"], old.dc.special)
    with torch.no_grad():
        a, target_a, rows_a = lm.token_logits(old, batch)
        b, target_b, rows_b = lm.token_logits(model.eval(), batch)
    # listed by frame and codec row in both orders: the same targets, and the
    # codebooks that hold them moved by the order
    assert torch.equal(target_a, target_b) and a.shape == b.shape
    assert torch.equal(torch.as_tensor(order)[rows_b], rows_a)
    c = encodec_ref.Config(dict(harmonic_bins=4, pitch_codebook=True, codebook_size=64, sampling_rate=16000,
                                upsampling_ratios=[8, 5, 4, 2], target_bandwidths=[2.0]))
    first = [4, 0, 1, 2, 3]
    assert lm.pitch_row(c, first) == 0 and lm.pitch_row(c, list(range(5))) == 4
    a = lm.key_lock_mask(c, 5, 64, "A minor", first)
    assert torch.equal(a[0], lm.key_lock_mask(c, 5, 64, "A minor")[-1]) and a[1:].all()
    assert lm.row_temperatures(c, 5, 1.0, 0.5, first).tolist() == [0.5, 1.0, 1.0, 1.0, 1.0]
    return "order [3, 0, 1, 2]: weights follow their rows, tokens listed alike, pitch row first"


def test_note_on_lock_starts_notes_on_the_grid():
    """note_on_mask marks the frame of each 16th (125 bpm at 50 Hz: every
    6th frame); pitch_row_choices leaves the previous note or silence off
    them; sample() with the lock starts no note of its last row off the
    grid where a free draw does."""
    assert lm.note_on_mask(30, 50.0, 125.0).nonzero().flatten().tolist() == [0, 6, 12, 18, 24]
    assert lm.note_on_mask(20, 50.0, 120.0).nonzero().flatten().tolist() == [0, 6, 12, 18]  # 6.25 frames
    every = torch.ones(8, dtype=torch.bool)
    assert lm.pitch_row_choices(every, 5, True) is every
    assert lm.pitch_row_choices(every, 5, False).nonzero().flatten().tolist() == [0, 5]
    assert lm.pitch_row_choices(every, 0, False).nonzero().flatten().tolist() == [0]
    ref = lm.load_reference(os.path.join(TMP, "export"))
    kk, ids, frames = ref.dec.cfg.num_codebooks, torch.tensor([5, 6, 7]), 60
    on = lm.note_on_mask(frames, 50.0, 125.0)

    def starts(row):
        return [f for f in range(1, frames) if row[f] != 0 and row[f] != row[f - 1] and not on[f]]

    ref.set_track(1, 125.0, [])
    free = lm.sample(ref, ids, frames, seed=3, top_k=0)
    ref.set_track(1, 125.0, [])
    locked = lm.sample(ref, ids, frames, seed=3, top_k=0, note_on=on, pitch=kk - 1)
    assert starts(free[-1]) and not starts(locked[-1]), (free[-1], locked[-1])
    return f"free draw: {len(starts(free[-1]))} notes off the grid, locked: 0"


# The sustain lock's worked example, the same in tests/runtime/lm/test_lm_cli.c:
# a pitch row, attack 3 and release 2 frames, the frames whose other rows go
# quiet: a note held past its third frame (3, 4), a rest past its second (7).
SUSTAIN_PITCH = [5, 5, 5, 5, 5, 0, 0, 0, 7, 7, 0, 9]
SUSTAIN_QUIET = [3, 4, 7]


def test_sustain_lock_quiets_held_notes():
    """lm.sustain gives the worked example's frames the silence codes on
    every row but the pitch row and leaves the rest as they were; the
    lock's 120 (or 60) and 40 ms are 6 (3) and 2 frames at 50 Hz; an exported pitch-codec
    model names the codes its encoder gives silence, and the pitch row's
    is 0 (no pitch)."""
    assert lm.sustain_frames(50.0) == (6, 2) and lm.sustain_frames(50.0, 60.0) == (3, 2)
    assert lm.sustain_frames(5.0) == (1, 1) and lm.sustain_frames(50.0, 90.0) == (5, 2)  # 4.5: up, as C
    frames = len(SUSTAIN_PITCH)
    codes = torch.stack([torch.arange(frames) + 10, torch.arange(frames) + 30, torch.tensor(SUSTAIN_PITCH)])
    out = lm.sustain(codes, [1, 2, 0], 3, 2)
    quiet = [t for t in range(frames) if not torch.equal(out[:, t], codes[:, t])]
    assert quiet == SUSTAIN_QUIET, quiet
    assert out[:2, quiet].tolist() == [[1] * 3, [2] * 3] and torch.equal(out[2], codes[2])
    c = encodec_ref.Config(dict(harmonic_bins=4, pitch_codebook=True, codebook_size=64, sampling_rate=16000,
                                upsampling_ratios=[8, 5, 4, 2], target_bandwidths=[2.0]))
    cmodel = encodec_ref.EncodecRef(c).eval()
    with torch.no_grad():  # codebooks spread out, so silence picks codes of its own
        for layer in cmodel.quantizer.layers:
            book = layer["codebook"].embed
            book.copy_(torch.randn(book.shape, generator=torch.Generator().manual_seed(book.numel())))
    silence = encodec_ref.silence_codes(cmodel)
    with torch.no_grad():
        heard = cmodel.encode(torch.zeros(1, 2 * c.sampling_rate), f0=torch.zeros(1))
    assert len(silence) == heard.shape[0] and silence[-1] == 0 and any(silence[:-1])
    assert heard[:, heard.shape[1] // 2].tolist() == silence
    track = lm.composite_config(lm.new_model(lm.load_config(CFG)[0], 64), lm.load_config(CFG)[0],
                                cmodel)["track_context"]
    assert track["silence_codes"] == silence and lm.sustain_lock(dict(track, frame_rate=50)) == (silence, 6, 2)
    return f"quiet frames {quiet}; silence codes {silence}"


def test_trains_on_a_stem_folder():
    stems = os.path.join(TMP, "stems")
    for n, seed in (("one", 61), ("two", 62)):
        s = corpus.song(seed, bars=2, roles=["drums", "bass", "chords"])
        os.makedirs(os.path.join(stems, n))
        corpus.write_wav(os.path.join(stems, n, "drums.wav"), s.stems["drums"], 16000)
        corpus.write_wav(os.path.join(stems, n, "bass.wav"), s.stems["bass"], 16000)
        corpus.write_wav(os.path.join(stems, n, "keys.wav"), s.stems["chords"], 16000)  # -> "other"
        with open(os.path.join(stems, n, "caption.txt"), "w") as f:
            f.write(f"my song {n}, {s.spec['bpm']} bpm\n")
    m, t = codec.load_config(os.path.join(tap.ROOT, "train", "configs", "codec_tiny.json"))
    t["stems"] = stems
    codec.train(m, t, os.path.join(TMP, "stems-codec"), steps=2, quiet=True)
    cfg, t = lm.load_config(CFG)
    t["stems"] = stems
    logs = lm.train(cfg, t, os.path.join(TMP, "stems-codec", "checkpoint.pt"), os.path.join(TMP, "stems-lm"),
                    steps=2, quiet=True)
    assert all(np.isfinite(e["loss"]) for e in logs)
    data = torch.load(os.path.join(TMP, "stems-lm", "dataset.pt"))
    bpms = {corpus.song(61).spec["bpm"], corpus.song(62).spec["bpm"]}
    assert {d["bpm"] for d in data} == bpms, ({d["bpm"] for d in data}, bpms)
    assert all(set(d["codes"]) == {"drums", "bass"} for d in data)
    assert data[0]["captions"]["bass"].startswith("bass, my song one")
    with open(os.path.join(TMP, "stems-lm", "captions.txt")) as f:
        assert "my song two" in f.read()  # the user's captions are in the vocabulary's text
    return f"{len(data)} windows of {t['frames']} frames from 2 songs"


def test_code_confusion_is_the_mean_sampled_distribution():
    """code_confusion.py: row c of a role's table is the mean of the
    distributions the sampler draws from (guidance, top-k) over the tokens
    whose true code is c; every row sums to 1; a code never seen maps to
    itself."""
    import code_confusion

    model, _ = lm.load_checkpoint_model(os.path.join(TMP, "b", "checkpoint.pt"))
    data, tok = run_b_data()
    items = [d for d in data if {"drums", "bass"} <= set(d["codes"])][:3]
    rows = model.dc.num_codebooks
    table, n = code_confusion.confusion(model, items, tok, rows, batch=2, top_k=5)
    assert n == len(items) == 3 and table.shape[:2] == (2, rows)
    assert torch.allclose(table.sum(-1), torch.ones(table.shape[:-1]), atol=1e-5)
    probs, target, row = code_confusion.sampled_distribution(
        model, code_confusion.role_batch(items, "bass", model, tok), 3.0, 1.0, 5)
    assert ((probs > 0).sum(-1) <= 5).all()  # top-k
    sel = row == 0
    c = int(target[:, sel].reshape(-1)[0])
    where = target[:, sel].reshape(-1) == c
    want = probs[:, sel].reshape(-1, probs.shape[-1])[where].double().mean(0)
    # the table averages over all items, in batches of 2; recompute over all 3 at once
    assert torch.allclose(table[1, 0, c].double(), want, atol=1e-5), (table[1, 0, c][:8], want[:8])
    seen = torch.cat([it["codes"]["bass"][0].long() for it in items])
    unseen = [k for k in range(table.shape[-1]) if k not in set(seen.tolist())]
    assert unseen and table[1, 0, unseen[0], unseen[0]] == 1.0
    return f"{n} songs, code {c}: mean of {int(where.sum())} sampled distributions; unseen codes kept"


def test_eval_runs_and_grid_measure_is_calibrated():
    import eval as ev

    s = corpus.song(71, bars=2, style="techno", roles=["drums"])
    x, bpm = s.stems["drums"], s.spec["bpm"]
    on = ev.grid_share(x, 16000, bpm)
    half = int(round(7.5 / bpm * 16000))  # half a 16th late
    off = ev.grid_share(np.concatenate([np.zeros(half, np.float32), x]), 16000, bpm)
    assert on >= 0.9 and off <= 0.2, (on, off)
    rows, summary = ev.evaluate(os.path.join(TMP, "export"), n=1, seconds=0.5)
    assert len(rows) == 1 and 0 <= summary["bass_in_key"] <= 1 and "median_tempo_err" in summary
    assert "| **all** (target) |" in ev.table(rows, summary)
    again, _ = ev.evaluate(os.path.join(TMP, "export"), n=1, seconds=0.5, sampling_seed=5)
    assert again[0]["prompt"] == rows[0]["prompt"] and (rows[0]["seed"], again[0]["seed"]) == (0, 5)
    return f"grid share {on:.2f} on the grid, {off:.2f} half a 16th late"


def test_eval_corpus_reference():
    """eval.py --corpus: the measures read the rendered corpus songs of the
    prompts right (their tempo and key are known), so the generator's
    figures are judged against a measure that works."""
    import eval as ev

    ref = ev.corpus_reference(os.path.join(TMP, "export"), n=2, seconds=4.0)
    rendered, trip = ref["rendered"], ref["through the codec"]
    assert rendered["median_tempo_err"] < 0.02 and rendered["bass_in_key"] >= 0.85, rendered
    assert 0 <= trip["bass_in_key"] <= 1 and 0 <= trip["bass_on_grid"] <= 1, trip
    return f"rendered: tempo err {rendered['median_tempo_err']}, in key {rendered['bass_in_key']}"


def test_eval_with_the_engine():
    """train/eval.py --engine: takes made by the engine's bench/track_takes
    on the exported folder, with and without a locked track."""
    import eval as ev

    exe = os.path.join(os.environ.get("RESONANT_BUILD_DIR", os.path.join(tap.ROOT, "build")), "bench",
                       "track_takes")
    if not os.access(exe, os.X_OK):
        return "SKIP engine tool not built at " + exe
    folder = os.path.join(TMP, "export")
    with open(os.path.join(folder, "config.json")) as f:
        conf = json.load(f)
    kk, card = conf["decoder"]["num_codebooks"], conf["decoder"]["vocab_size"]
    hop = int(np.prod(conf["audio_encoder"]["upsampling_ratios"]))
    m = ev.EngineModel(folder, exe)
    drums, audio = m.track("drums, techno, 120 bpm", "drums", 120, 0.5, 1)
    codes = np.fromfile(drums + ".codes", "<i4").reshape(kk, -1)
    assert codes.shape[1] == 25 and codes.min() >= 0 and codes.max() < card, codes.shape
    assert len(audio) == 25 * hop and np.isfinite(audio).all()
    _, bass = m.track("bass, techno, 120 bpm", "bass", 120, 0.5, 1, [("drums", drums)])
    assert len(bass) == 25 * hop
    try:
        m.track("kazoo", "kazoo", 120, 0.5, 1)
        raise AssertionError("an unknown role was accepted")
    except RuntimeError as e:
        assert "no such role" in str(e), e
    rows, summary = ev.evaluate(folder, n=1, seconds=0.5, engine=exe)
    assert len(rows) == 1 and 0 <= summary["bass_in_key"] <= 1
    locked = ev.EngineModel(folder, exe, dict(note_on_lock=True), key_lock=True)  # the tool takes both locks
    _, audio = locked.track("bass, techno, 120 bpm, A minor", "bass", 120, 0.5, 1)
    assert len(audio) == 25 * hop
    return "25 frames per take, decoded to 25 hops"


if __name__ == "__main__":
    tap.run([(n[5:], f) for n, f in list(globals().items()) if n.startswith("test_")])
