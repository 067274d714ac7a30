#!/usr/bin/python3
"""Smoke tests of the codec trainer (train/codec.py) on the tiny config, and
of its export in the Hugging Face EnCodec layout (train/export.py)."""
import json
import math
import os
import tempfile

import numpy as np
import torch

import tap
import codec
import corpus
import encodec_ref
import export

CFG = os.path.join(tap.ROOT, "train", "configs", "codec_tiny.json")
TMP = tempfile.mkdtemp(prefix="rg-codec-")
torch.set_num_threads(1)


def cfg():
    return codec.load_config(CFG)


def test_default_config_shape():
    m, _ = codec.load_config(os.path.join(tap.ROOT, "train", "configs", "codec_default.json"))
    c = encodec_ref.Config(m)
    assert (c.sampling_rate, c.hop_length, c.frame_rate, c.num_quantizers) == (16000, 320, 50, 4)
    n = sum(p.numel() for p in codec.new_model(m).parameters())
    assert n < 5_000_000, n
    return f"{n / 1e6:.2f}M parameters, 50 Hz, 4x{c.codebook_size}"


def test_config_base_gives_the_base_model():
    """A config naming "base" has the base's model, its own model entries
    over it, and its own train block only."""
    import glob

    configs = os.path.join(tap.ROOT, "train", "configs")
    default, _ = codec.load_config(os.path.join(configs, "codec_default.json"))
    based = [p for p in glob.glob(os.path.join(configs, "codec_*.json"))
             if "base" in json.load(open(p)) and "model" not in json.load(open(p))]
    assert len(based) >= 5 and all(codec.load_config(p)[0] == default for p in based), based
    path = os.path.join(TMP, "based.json")
    with open(path, "w") as f:
        json.dump({"base": os.path.join(configs, "codec_default.json"), "model": {"codebook_size": 64},
                   "train": {"steps": 3}}, f)
    model, train = codec.load_config(path)
    assert model == dict(default, codebook_size=64) and train["steps"] == 3
    assert train["lr"] == codec.TRAIN_DEFAULTS["lr"]  # not the base's train block
    return f"{len(based)} shipped configs on codec_default.json's model"


def test_train_steps_finite_and_logged():
    m, t = cfg()
    logs = codec.train(m, t, os.path.join(TMP, "a"), steps=4, quiet=True)
    assert [e["step"] for e in logs] == [1, 2, 3, 4]
    assert all(np.isfinite(e["loss"]) for e in logs)
    with open(os.path.join(TMP, "a", "log.jsonl")) as f:
        assert len(f.readlines()) == 4
    assert os.path.exists(os.path.join(TMP, "a", "checkpoint.pt"))


def test_resume_matches_uninterrupted_run():
    m, t = cfg()
    resumed = codec.train(m, t, os.path.join(TMP, "a"), steps=8, quiet=True)  # continues from 4
    straight = codec.train(m, t, os.path.join(TMP, "b"), steps=8, quiet=True)
    assert [e["step"] for e in resumed] == [5, 6, 7, 8]
    a = [e["loss"] for e in resumed]
    b = [e["loss"] for e in straight[4:]]
    assert np.allclose(a, b, rtol=1e-4), (a, b)


def test_decoder_only_keeps_the_codes():
    """Fine-tuning the decoder alone (--init-from, decoder_only) moves only
    decoder.* and gives the same codes for the same audio, so a generator
    trained on the codes stays valid."""
    m, t = cfg()
    start = os.path.join(TMP, "b", "checkpoint.pt")  # 8 steps, from the test above
    codec.train(m, dict(t, decoder_only=True), os.path.join(TMP, "dec"), steps=3, quiet=True, init_from=start)
    a = codec.load_checkpoint_model(start)
    b = codec.load_checkpoint_model(os.path.join(TMP, "dec", "checkpoint.pt"))
    sa, sb = a.state_dict(), b.state_dict()
    moved = {k.split(".")[0] for k in sa if not torch.equal(sa[k], sb[k])}
    assert moved == {"decoder"}, moved
    x = torch.from_numpy(corpus.song(3, bars=1, roles=["bass"]).stems["bass"][:8000])[None]
    with torch.no_grad():
        assert torch.equal(a.encode(x), b.encode(x))
    return f"{sum(not torch.equal(sa[k], sb[k]) for k in sa)} decoder tensors moved, codes equal"


def test_generator_codes_follow_the_confusion():
    """code_noise: the chosen share of crops get codes drawn from their
    role's confusion (here the bass's shifts every code by one, the drums'
    is the identity), the latent is the codebooks' sum of the new codes,
    and a run that would move the codes (not decoder_only) is refused."""
    m, t = cfg()
    model = codec.load_checkpoint_model(os.path.join(TMP, "b", "checkpoint.pt"))
    q, card = len(model.quantizer.layers), model.cfg.codebook_size
    shift = torch.roll(torch.eye(card), 1, dims=1)  # row c is one-hot at c + 1
    noise = dict(roles=["drums", "bass"], confusion=torch.stack([torch.eye(card).expand(q, card, card),
                                                                 shift.expand(q, card, card)]))
    gen = torch.Generator().manual_seed(0)
    codes = torch.randint(0, card, (4, q, 10), generator=gen)
    pitched = torch.tensor([True, False, True, False])
    same, _ = codec.generator_codes(model, codes, noise, pitched, 0.0, gen)
    assert torch.equal(same, codes)
    drawn, z = codec.generator_codes(model, codes, noise, pitched, 1.0, gen)
    assert torch.equal(drawn[pitched], (codes[pitched] + 1) % card) and torch.equal(drawn[~pitched], codes[~pitched])
    for b in range(4):
        assert torch.allclose(z[b], model.quantizer.decode(drawn[b]), atol=1e-6)
    path = os.path.join(TMP, "noise.pt")
    torch.save(noise, path)
    try:
        codec.train(m, dict(t, code_noise=path, code_noise_share=0.5), os.path.join(TMP, "noisy"), steps=1,
                    quiet=True, init_from=os.path.join(TMP, "b", "checkpoint.pt"))
    except SystemExit as e:
        assert "decoder_only" in str(e)
    else:
        raise AssertionError("code_noise without decoder_only was not refused")
    logs = codec.train(m, dict(t, code_noise=path, code_noise_share=0.5, decoder_only=True),
                       os.path.join(TMP, "noisy"), steps=2, quiet=True, init_from=os.path.join(TMP, "b", "checkpoint.pt"))
    assert len(logs) == 2 and all(np.isfinite(e["loss"]) for e in logs)
    return "bass codes shifted, drums kept, latent = codebook sum; refused without decoder_only"


def test_discriminator_learns_and_only_the_decoder_gets_its_gradient():
    """The multi-scale STFT discriminator: at init its hinge loss is about 2
    (logits near 0); trained alone for 60 steps to tell drums from the same
    drums low-passed at 2 kHz (a dull attack) its loss falls (not to 0: the
    logit map's bins under 2 kHz see the same audio) and every scale's mean
    logit on the drums is over 1 above that on the dull ones; the decoder's adversarial and feature losses then send a gradient to
    the generated audio and none to the discriminator's weights."""
    import adversarial
    torch.manual_seed(0)
    disc = adversarial.MultiScaleSTFTDiscriminator((256, 128), channels=8)
    x = torch.from_numpy(corpus.song(5, bars=1, roles=["drums"]).stems["drums"][:4 * 4000].copy()).reshape(4, 4000)
    dull = codec.lowpass(x, 2000.0, 16000)
    first = adversarial.discriminator_loss(disc, x, dull).item()
    opt = torch.optim.Adam(disc.parameters(), lr=3e-3, betas=(0.5, 0.9))
    for _ in range(60):
        loss = adversarial.discriminator_loss(disc, x, dull)
        opt.zero_grad()
        loss.backward()
        opt.step()
    last = loss.item()
    with torch.no_grad():
        apart = [(a[0].mean() - b[0].mean()).item() for a, b in zip(disc(x), disc(dull))]
    assert abs(first - 2.0) < 0.1 and last < 1.8 and min(apart) > 1.0, (first, last, apart)
    fake = dull.clone().requires_grad_(True)
    opt.zero_grad()
    adv, feat = adversarial.generator_losses(disc, x, fake)
    (adv + feat).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in disc.parameters())
    assert all(p.requires_grad for p in disc.parameters())
    return (f"discriminator hinge {first:.2f} -> {last:.2f}, logits apart {min(apart):.1f}; "
            f"adv {adv.item():.2f}, feat {feat.item():.2f}")


def test_adversarial_run_resumes_its_discriminator():
    """A decoder-only run with adversarial losses keeps its discriminator
    and that optimiser in the checkpoint: 2 + 2 resumed steps give the
    uninterrupted 4 steps' losses, the discriminator's among them."""
    m, t = cfg()
    t = dict(t, decoder_only=True, adv_weight=1.0, feat_weight=2.0, adv_start=1, disc_ffts=[256, 128],
             disc_channels=4, checkpoint_every=2)
    start = os.path.join(TMP, "b", "checkpoint.pt")
    codec.train(m, t, os.path.join(TMP, "adv_a"), steps=2, quiet=True, init_from=start)
    resumed = codec.train(m, t, os.path.join(TMP, "adv_a"), steps=4, quiet=True, init_from=start)
    straight = codec.train(m, t, os.path.join(TMP, "adv_b"), steps=4, quiet=True, init_from=start)
    ck = torch.load(os.path.join(TMP, "adv_a", "checkpoint.pt"))
    assert "disc" in ck and "disc_opt" in ck
    for key in ("loss", "disc", "adv", "feat"):
        a, b = [e[key] for e in resumed], [e[key] for e in straight[2:]]
        assert np.allclose(a, b, rtol=1e-4), (key, a, b)
    assert straight[0]["adv"] == 0.0 and straight[-1]["adv"] > 0.0  # adv_start: the first step is the disc's
    return f"disc loss {[e['disc'] for e in straight]}"


def test_pitch_phase_grows_a_two_layer_head_on_frozen_codes():
    """The pitch phase (codec_tiny_pitch.json, the shape of the shipped
    recipe's codec_v9b_pitch_mlp.json) starts from a codec without the
    harmonic path: only the decoder and the new two-layer harmonic head
    learn, the codes of the codebooks stay those of the codec it started
    from, and the export carries harmonic_hidden and the head's tensors."""
    m, t = codec.load_config(os.path.join(tap.ROOT, "train", "configs", "codec_tiny_pitch.json"))
    start = os.path.join(TMP, "b", "checkpoint.pt")  # codec_tiny, 8 steps, from the test above
    codec.train(m, dict(t, steps=2), os.path.join(TMP, "grow"), quiet=True, init_from=start)
    a = codec.load_checkpoint_model(start)
    b = codec.load_checkpoint_model(os.path.join(TMP, "grow", "checkpoint.pt"))
    sa, sb = a.state_dict(), b.state_dict()
    moved = {k.split(".")[0] for k in sb if k not in sa or not torch.equal(sa[k], sb[k])}
    assert moved == {"decoder", "harmonic_head"}, moved
    assert isinstance(b.harmonic_head, torch.nn.Sequential) and b.cfg.harmonic_hidden == 4
    x = torch.from_numpy(corpus.song(3, bars=1, roles=["bass"]).stems["bass"][:8000])[None]
    with torch.no_grad():
        codes_a, codes_b = a.encode(x), b.encode(x)
    assert torch.equal(codes_a, codes_b[:-1]) and codes_b[-1].any(), "codes changed or no pitch row"
    path = os.path.join(TMP, "grow_export")
    export.export_codec(b, path)
    with open(os.path.join(path, "config.json")) as f:
        assert json.load(f)["harmonic_hidden"] == 4
    names = export.read_safetensors(os.path.join(path, "model.safetensors"))
    assert {"harmonic_head.0.weight", "harmonic_head.2.bias"} <= set(names), sorted(names)[-6:]
    back = encodec_ref.load(path)
    with torch.no_grad():
        assert torch.allclose(back.decode(codes_b), b.decode(codes_b), atol=1e-6)
    return f"moved: {sorted(moved)}; codebook rows equal; pitch row voiced on {int((codes_b[-1] > 0).sum())} of {codes_b.shape[1]} frames"


def test_head_only_moves_only_the_harmonic_head():
    """decoder_only with head_only (codec_v10d_bass_onsets_head.json's
    shape): from the grown pitch codec of the test above, only
    harmonic_head.* learns; the convolutional decoder, which renders the
    drums, stays bit for bit."""
    m, t = codec.load_config(os.path.join(tap.ROOT, "train", "configs", "codec_tiny_pitch.json"))
    start = os.path.join(TMP, "grow", "checkpoint.pt")
    codec.train(m, dict(t, steps=2, head_only=True, onset_weight=1.0, onset_pitched_only=True),
                os.path.join(TMP, "head"), quiet=True, init_from=start)
    sa = codec.load_checkpoint_model(start).state_dict()
    sb = codec.load_checkpoint_model(os.path.join(TMP, "head", "checkpoint.pt")).state_dict()
    moved = {k.split(".")[0] for k in sb if not torch.equal(sa[k], sb[k])}
    assert moved == {"harmonic_head"}, moved
    return f"moved: {sorted(moved)}"


def test_loss_decreases_on_a_fixed_batch():
    m, t = cfg()
    torch.manual_seed(0)
    model = codec.new_model(m)
    pool = codec.SongPool(t, 16000)
    x = codec.batch_at(pool, t, 0, model.cfg.hop_length)
    mel = codec.MelLoss(16000, t["mel_sizes"], t["n_mels"])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(30):
        zq, _, commit, _ = codec.quantize(model, model.encoder(x), t, gen, train=True)
        y = model.decoder(zq)
        loss = mel(y[:, 0], x[:, 0]) + torch.nn.functional.l1_loss(y, x) + commit
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = np.mean(losses[:3]), np.mean(losses[-3:])
    assert last < 0.8 * first, losses
    return f"loss {first:.2f} -> {last:.2f}"


def test_mel_floor_keeps_the_gradient_on_the_music():
    # a loud bass note then digital silence, decoded a little too quiet with
    # a faint hiss: with the first runs' log floor (1e-5) the mel loss's
    # gradient went almost all to the hiss in the silence (1/(m+eps) is huge
    # there) and the codec never learned the bass; the default floor must
    # give the note many times that share
    n = 16000
    t = np.arange(n // 2) / 16000
    note = 0.3 * np.sign(np.sin(2 * np.pi * 55 * t))
    x = torch.from_numpy(np.concatenate([note, np.zeros(n // 2)]).astype(np.float32))[None]
    hiss = 1e-4 * torch.randn(1, n, generator=torch.Generator().manual_seed(0))
    shares = {}
    for eps in (1e-5, codec.TRAIN_DEFAULTS["mel_eps"]):
        y = (0.5 * x + hiss).requires_grad_()
        codec.MelLoss(16000, [256, 512, 1024, 2048], 64, eps)(y, x).backward()
        g = y.grad[0] ** 2
        shares[eps] = float(g[: n // 2].sum() / g.sum())
    old, new = shares[1e-5], shares[codec.TRAIN_DEFAULTS["mel_eps"]]
    assert new > 20 * old, shares
    return f"gradient share on the note: floor 1e-5 {old:.1e}, default {new:.1e}"


def test_lowpass_keeps_only_the_low_band():
    sr, n = 16000, 16000
    t = torch.arange(n) / sr
    low, high = torch.sin(2 * math.pi * 50 * t), torch.sin(2 * math.pi * 2000 * t)
    y = codec.lowpass((low + high)[None], 500.0, sr)[0]
    err = float((y - low).abs().max())
    assert err < 1e-3, err
    return f"50 Hz + 2 kHz low-passed at 500 Hz: 50 Hz kept to {err:.1e}"


def test_onset_loss_is_the_measured_envelope():
    import measure

    x = corpus.song(5, bars=1, roles=["drums"]).stems["drums"]
    env = codec.onset_envelope(torch.from_numpy(x)[None])[0].numpy()
    ref, _ = measure.onset_envelope(x, corpus.SAMPLE_RATE)
    err = float(np.abs(env - ref[1:len(env) + 1]).max() / ref.max())
    assert err < 1e-4, err  # the same flux as eval_codec's onsets read
    xt = torch.from_numpy(x)[None]
    # a copy with each attack smeared over 10 ms (a moving average)
    smeared = torch.nn.functional.avg_pool1d(xt[None], 161, 1, 80, count_include_pad=False)[0]
    same, quieter, smear = (codec.onset_loss(y, xt).item() for y in (xt, 0.9 * xt, smeared))
    assert same == 0.0 and quieter < 0.1 < smear, (same, quieter, smear)
    return f"envelope error {err:.1e}; loss: 0.9x {quieter:.3f}, smeared {smear:.3f}"


def test_hiband_loss_hears_a_hit_turned_to_hiss():
    """The drums' high-band loss: the same hits 1 dB quieter cost little; the
    same high-band energy spread evenly over the bar (hiss, what the codec
    made of the quieter hats) costs many times more, as does a hit smeared
    over 10 ms."""
    sr = corpus.SAMPLE_RATE
    x = torch.from_numpy(corpus.song(5, bars=1, roles=["drums"]).stems["drums"])[None]
    spec = torch.fft.rfft(x)
    high = torch.fft.rfftfreq(x.shape[-1], 1 / sr) >= 3000.0
    low = torch.fft.irfft(spec * ~high, x.shape[-1])
    energy = (torch.fft.irfft(spec * high, x.shape[-1]) ** 2).mean()
    noise = torch.fft.rfft(torch.randn(x.shape, generator=torch.Generator().manual_seed(0)))
    hiss = torch.fft.irfft(noise * high, x.shape[-1])
    hiss = low + hiss * (energy / (hiss ** 2).mean()).sqrt()
    smeared = torch.nn.functional.avg_pool1d(x[None], 161, 1, 80, count_include_pad=False)[0]
    same, quieter, hissed, smear = (codec.hiband_loss(y, x, sr, 3000.0, 1e-5).item()
                                    for y in (x, 0.89 * x, hiss, smeared))
    assert same == 0.0 and quieter < 0.3 and hissed > 4 * quieter and smear > 4 * quieter, \
        (same, quieter, hissed, smear)
    return f"1 dB quieter {quieter:.3f}, hiss of the same energy {hissed:.3f}, smeared over 10 ms {smear:.3f}"


def test_lowspec_loss_hears_pitch_not_phase():
    """The long low-band spectrum loss: a note half a period later (its
    phase) costs less than the same note a semitone up (its pitch). Only
    ~4x less: with the floor at -70 dB the bins between harmonics, where the
    harmonics' side lobes interfere, still depend on the phase."""
    sr = 16000
    t = torch.arange(sr) / sr
    saw = lambda hz, shift=0.0: (2 * ((hz * t + shift) % 1.0) - 1)[None]  # noqa: E731
    x = saw(55.0)
    phase = codec.lowspec_loss(saw(55.0, 0.5), x, 500.0, sr, 4096).item()
    pitch = codec.lowspec_loss(saw(55.0 * 2 ** (1 / 12)), x, 500.0, sr, 4096).item()
    assert codec.lowspec_loss(x, x, 500.0, sr, 4096).item() == 0.0
    assert pitch > 3 * phase, (phase, pitch)
    return f"55 Hz saw: half a period late {phase:.4f}, a semitone up {pitch:.3f}"


def test_steadiness_is_zero_for_a_held_latent():
    held = torch.ones(1, 4, 20)
    cycling = torch.ones(1, 4, 20)
    cycling[..., ::2] = -1.0
    h, c = codec.steadiness(held).item(), codec.steadiness(cycling).item()
    assert h == 0.0 and c > 1.0, (h, c)
    return f"held {h}, cycling every frame {c:.2f}"


def test_export_round_trips_through_reference():
    model = codec.load_checkpoint_model(os.path.join(TMP, "b", "checkpoint.pt"))
    x = torch.from_numpy(corpus.song(3, bars=1, roles=["bass"]).stems["bass"][:6400])[None]
    with torch.no_grad():
        codes = model.encode(x)
        y = model.decode(codes)
    notes = []
    for dtype in ("f32", "f16"):
        out = os.path.join(TMP, "export-" + dtype)
        export.export_codec(model, out, dtype)
        with open(os.path.join(out, "config.json")) as f:
            conf = json.load(f)
        assert conf["model_type"] == "encodec" and conf["sampling_rate"] == 16000
        ref = encodec_ref.load(out)  # the reference's own loader (numpy safetensors reader)
        with torch.no_grad():
            codes2 = ref.encode(x)
            y2 = ref.decode(codes)
        err = float((y2 - y).norm() / (y.norm() + 1e-12))
        same = float((codes2 == codes).float().mean())
        if dtype == "f32":
            assert same == 1.0 and err < 1e-5, (same, err)
        else:
            assert same > 0.9 and err < 2e-2, (same, err)
        notes.append(f"{dtype}: codes {same:.3f} equal, decode rel err {err:.1e}")
    return "; ".join(notes)


def _harmonic_cfg():
    m, t = cfg()
    return dict(m, harmonic_bins=6, harmonic_f0_min=25.0, harmonic_f0_max=800.0), dict(t, f0_weight=0.3, roles=["bass"])


def test_harmonic_synth_is_a_running_phase_oscillator():
    """The closed form of encodec_ref.harmonic_synth against the definition
    sample by sample (glide from the previous frame, phase accumulated one
    sample at a time, harmonics cut at Nyquist), and a range rendered from a
    later frame is that part of the whole."""
    torch.manual_seed(0)
    k, frames, hop, sr, lo, hi = 5, 7, 16, 1000, 25.0, 300.0
    h = torch.randn(1, 1 + k, frames) * 2
    y = encodec_ref.harmonic_synth(h, hop, sr, lo, hi)[0].double().numpy()
    f0, amps = (v[0].double().numpy() for v in encodec_ref.harmonic_controls(h, lo, hi))
    ref, phi, cut = [], 0.0, 0
    for t in range(frames):
        p = max(t - 1, 0)
        for j in range(hop):
            w = (j + 1) / hop
            f = f0[p] + (f0[t] - f0[p]) * w
            phi += f / sr
            on = [i for i in range(1, k + 1) if i * f < sr / 2]
            cut += k - len(on)
            ref.append(sum((amps[i - 1, p] + (amps[i - 1, t] - amps[i - 1, p]) * w) * math.sin(2 * math.pi * i * phi)
                           for i in on))
    err = float(np.abs(np.array(ref) - y).max())
    assert err < 1e-4 and cut > 0, (err, cut)
    part = encodec_ref.harmonic_synth(h, hop, sr, lo, hi, first_frame=3)[0].double().numpy()
    assert np.array_equal(part, y[3 * hop:])
    return f"max error {err:.1e} over {frames * hop} samples, {cut} harmonic-samples above Nyquist cut"


def test_harmonic_held_note_is_held_controls():
    """Constant controls make one steady tone at the asked f0, in phase from
    one period to the next across frame boundaries: the point of the path is
    that a held note needs no changing code."""
    sr, hop, frames, f0 = 16000, 320, 25, 64.0  # a period of 250 samples, not a frame's 320
    x = math.log(f0 / 25.0) / math.log(800.0 / 25.0)
    h = torch.full((1, 1 + 8, frames), -2.0)
    h[:, 0] = math.log(x / (1 - x))
    h[:, 1] = 2.0  # the fundamental loudest
    y = encodec_ref.harmonic_synth(h, hop, sr, 25.0, 800.0)[0].double().numpy()
    drift = float(np.abs(y[250:] - y[:-250]).max() / np.abs(y).max())
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    peak = np.argmax(spec) * sr / len(y)
    assert drift < 1e-4 and abs(peak - f0) < 1.0, (drift, peak)
    return f"period-to-period difference {drift:.1e}, peak at {peak:.2f} Hz"


def test_known_f0_drives_the_oscillator_in_training():
    """Where a note is known the oscillator plays it whatever the head says
    (f0_logit inverts harmonic_controls); elsewhere the head's own f0."""
    f0 = torch.tensor([[30.0, 55.0, 440.0]])
    back = encodec_ref.harmonic_controls(codec.f0_logit(f0, 25.0, 800.0)[:, None].repeat(1, 2, 1), 25.0, 800.0)[0]
    assert torch.allclose(back, f0, rtol=1e-4), back
    m, _ = _harmonic_cfg()
    torch.manual_seed(0)
    model = codec.new_model(m)
    with torch.no_grad():
        model.harmonic_head.bias[1:] = 2.0
        zq = torch.randn(1, m["hidden_size"], 10)
        known = torch.full((1, 10), 110.0)
        y_known = codec.render(model, zq, known)[2]
        y_free = codec.render(model, zq, torch.zeros(1, 10))[2]
    spec = np.abs(np.fft.rfft(y_known[0, 0, 320:].numpy()))
    peak = np.argmax(spec) * 16000 / (len(spec) * 2 - 2)
    harmonic = peak / 110.0
    assert abs(harmonic - round(harmonic)) < 0.05 and not torch.allclose(y_known, y_free), peak
    return f"known 110 Hz: loudest partial at {peak:.0f} Hz"


def test_split_loss_wants_the_bass_from_the_oscillator():
    """On a crop with known notes: the oscillator making it alone costs
    least, the convolutional path making it costs more; drums (no known
    notes) cost nothing."""
    _, t = _harmonic_cfg()
    mel = codec.MelLoss(16000, t["mel_sizes"], t["n_mels"], t["mel_eps"])
    t = dict(t, lowspec_fft=1024)
    x = torch.from_numpy(corpus.song(4, bars=1, roles=["bass"]).stems["bass"][:3200].copy())[None, None]
    f0 = torch.full((1, 10), 55.0)
    silent = torch.zeros_like(x)
    by_osc = codec.split_loss(x, x, x, f0, mel, t, 16000).item()
    by_conv = codec.split_loss(x, silent, x, f0, mel, t, 16000).item()
    drums = codec.split_loss(x, silent, x, torch.zeros(1, 10), mel, t, 16000).item()
    assert by_osc < 0.1 and by_conv > 1.0 and drums == 0.0, (by_osc, by_conv, drums)
    return f"oscillator {by_osc:.3f}, convolution {by_conv:.2f}, drums {drums}"


def test_frame_f0_teaches_only_whole_notes():
    hop = 4
    f0 = np.array([0, 0, 0, 0, 0, 0, 55, 55, 55, 55, 55, 55, 55, 55, 98, 98], np.float32)
    assert codec.frame_f0(f0, hop, 5).tolist() == [0.0, 0.0, 55.0, 0.0, 0.0]


def test_bass_f0_is_where_the_bass_sounds():
    s = corpus.song(5, bars=2, roles=["drums", "bass"])
    f0, x = corpus.bass_f0(s.spec), s.stems["bass"]
    assert len(f0) == len(x) and np.abs(x[f0 == 0]).max() == 0.0
    notes = sorted(set(np.round(12 * np.log2(f0[f0 > 0] / 440.0) + 69, 6)))
    assert all(abs(n - round(n)) < 1e-4 for n in notes), notes  # semitones
    pcs = {int(round(n)) % 12 for n in notes}
    assert pcs <= set(corpus.scale_pitch_classes(s.spec["root"], s.spec["mode"])), pcs
    return f"{len(notes)} distinct notes, sounding {float((f0 > 0).mean()):.2f} of the time"


def test_harmonic_codec_trains_and_learns_f0():
    """A tiny codec with the harmonic path: the f0 loss is logged and falls
    on a fixed batch (its only teacher: the known bass notes)."""
    m, t = _harmonic_cfg()
    t = dict(t, batch=4, segment_s=0.4, lr=0.01)
    torch.manual_seed(0)
    model = codec.new_model(m)
    pool = codec.SongPool(t, 16000, ["bass"])
    x, f0 = codec.batch_at(pool, t, 0, 320, with_f0=True)
    assert (f0 > 0).float().mean() > 0.3
    opt = torch.optim.Adam(model.parameters(), lr=t["lr"])
    losses = []
    for _ in range(30):
        zq, _, _, _ = codec.quantize(model, model.encoder(x), t, torch.Generator().manual_seed(0), train=True)
        y, loss_f0, _ = codec.render(model, zq, f0)
        assert y.shape == x.shape
        opt.zero_grad()
        loss_f0.backward()
        opt.step()
        losses.append(loss_f0.item())
    assert losses[-1] < 0.5 * losses[0], losses
    logs = codec.train(m, dict(t, steps=2), os.path.join(TMP, "harm"), quiet=True)
    assert all(np.isfinite(e["f0"]) and e["f0"] > 0 for e in logs), logs
    return f"f0 error {losses[0]:.1f} -> {losses[-1]:.1f} semitones in 30 steps"


def _pitch_cfg():
    m, t = _harmonic_cfg()
    return (dict(m, codebook_size=64, pitch_codebook=True, pitch_midi_min=24, pitch_notes=48),
            dict(t, f0_weight=0.0, split_weight=1.0, wave_unpitched_only=True))


def test_pitch_codes_are_semitones():
    """A known f0 codes to its semitone (1 + MIDI - pitch_midi_min), no pitch
    to 0, out-of-range notes to the nearest end; pitch_track plays each code
    back at its equal-tempered f0 and holds the last note, negated, where
    there is none (before any: the lowest note)."""
    c = encodec_ref.Config(_pitch_cfg()[0])
    f0 = torch.tensor([0.0, 110.0, 111.5, 0.0, 55.0, 20.0, 2000.0])
    codes = encodec_ref.pitch_codes(f0, c)
    assert codes.tolist() == [0, 22, 22, 0, 10, 1, 48], codes
    track = encodec_ref.pitch_track(torch.cat([codes, torch.tensor([200])])[None], c)[0]
    low = encodec_ref.midi_hz(24)
    want = [-low, 110.0, 110.0, -110.0, 55.0, low, encodec_ref.midi_hz(71), -encodec_ref.midi_hz(71)]
    assert torch.allclose(track, torch.tensor(want, dtype=torch.float32)), track
    assert c.num_codebooks == c.num_quantizers + 1
    return f"{codes.tolist()}; code 200 (past the notes) is no pitch"


def test_pitch_track_drives_the_oscillator_by_its_rules():
    """harmonic_synth with an f0 track against the definition sample by
    sample: no pitch is silence at the held f0, a note after silence starts
    at its own f0 (no glide under the attack), a note after a note glides
    over one frame; the head's f0 channel is ignored."""
    torch.manual_seed(1)
    k, hop, sr = 3, 8, 1000
    f0 = torch.tensor([[-30.0, 55.0, 55.0, 80.0, -80.0, -80.0, 40.0, 40.0]])
    frames = f0.shape[1]
    h = torch.randn(1, 1 + k, frames)
    y = encodec_ref.harmonic_synth(h, hop, sr, 25.0, 800.0, f0=f0)[0].double().numpy()
    h2 = h.clone()
    h2[:, 0] = 5.0
    assert torch.equal(encodec_ref.harmonic_synth(h2, hop, sr, 25.0, 800.0, f0=f0)[0], torch.from_numpy(y).float())
    amps = encodec_ref.harmonic_controls(h, 25.0, 800.0)[1][0].double().numpy() * (f0[0].numpy() > 0)
    fa = np.abs(f0[0].double().numpy())
    ref, phi = [], 0.0
    for t in range(frames):
        p = max(t - 1, 0)
        fp = fa[p] if f0[0, p] > 0 else fa[t]
        for j in range(hop):
            w = (j + 1) / hop
            f = fp + (fa[t] - fp) * w
            phi += f / sr
            ref.append(sum((amps[i - 1, p] + (amps[i - 1, t] - amps[i - 1, p]) * w) * math.sin(2 * math.pi * i * phi)
                           for i in range(1, k + 1) if i * f < sr / 2))
    err = float(np.abs(np.array(ref) - y).max())
    assert err < 1e-4, err
    assert np.abs(y[:hop]).max() == 0.0 and np.abs(y[5 * hop:6 * hop]).max() == 0.0  # no pitch: silent
    return f"max error {err:.1e} over {frames * hop} samples"


def test_yin_reads_held_notes():
    """The pitch a user's stem gets coded with: held sawtooth notes from
    41 to 220 Hz within 10 cents on their steady frames; silence and white
    noise are no pitch."""
    sr, hop = 16000, 320
    t = np.arange(sr // 2) / sr
    worst = 0.0
    for hz in (41.2, 65.4, 110.0, 220.0):
        x = 0.3 * (2 * ((t * hz) % 1.0) - 1)
        f = encodec_ref.yin_f0(x, sr, hop, 25)[3:20]
        worst = max(worst, float(np.abs(1200 * np.log2(f / hz)).max()))
    assert worst < 10, worst
    assert not encodec_ref.yin_f0(np.zeros(sr // 2), sr, hop, 25).any()
    noise = np.random.default_rng(0).standard_normal(sr // 2) * 0.3
    assert (encodec_ref.yin_f0(noise, sr, hop, 25) > 0).mean() < 0.2
    return f"worst {worst:.2f} cents"


def test_pitch_codec_codes_and_plays_the_note():
    """A codec with a pitch codebook: encode's last row is the known notes'
    codes (YIN's when none are given); decoding plays the row's note (the
    loudest partial a harmonic of it) and is silent in the oscillator where
    the row says no pitch."""
    m, _ = _pitch_cfg()
    torch.manual_seed(0)
    model = codec.new_model(m).eval()
    with torch.no_grad():
        model.harmonic_head.bias[1:] = 2.0
    sr, n = 16000, 16000
    x = 0.3 * (2 * ((np.arange(n) / sr * 110.0) % 1.0) - 1)
    audio = torch.from_numpy(x.astype(np.float32))[None]
    known = np.full(50, 110.0, np.float32)
    known[:5] = 0.0
    with torch.no_grad():
        codes = model.encode(audio, f0=known)
        tracked = model.encode(audio)
        assert codes.shape[0] == model.cfg.num_codebooks and codes[-1, :5].tolist() == [0] * 5
        assert (codes[-1, 5:] == 22).all() and (tracked[-1, 3:45] == 22).all(), tracked[-1]
        assert torch.equal(codes[:-1], tracked[:-1])
        z = model.quantizer.decode(codes[:-1])[None]
        harm = model.render(z, codes[-1:]) - model.decoder(z)
    spec = np.abs(np.fft.rfft(harm[0, 0, 320 * 10:].numpy()))
    peak = np.argmax(spec) * sr / (2 * (len(spec) - 1))
    assert abs(peak / 110.0 - round(peak / 110.0)) < 0.05, peak
    assert float(harm[0, 0, :320 * 4].abs().max()) == 0.0
    return f"loudest partial {peak:.0f} Hz; silent where no pitch"


def test_pitch_codec_trains_with_wave_losses_on_drums_only():
    """Training a pitch codec: the oscillator plays the known notes' codes
    (no f0 loss to learn), wave_unpitched_only keeps the waveform terms off
    crops with known notes (a bass-only batch has none), and
    steady_pitched_only and onset_pitched_only their terms off the others
    (drums)."""
    m, t = _pitch_cfg()
    pitched_only = dict(onset_weight=1.0, onset_pitched_only=True, hiband_weight=1.0)
    logs = codec.train(m, dict(t, steps=2, batch=2, segment_s=0.4, **pitched_only), os.path.join(TMP, "pitch"),
                       quiet=True)
    assert all(np.isfinite(e["loss"]) and e["f0"] == 0.0 and e["split"] > 0 for e in logs), logs
    assert all(e["wave"] == 0.0 and e["low"] == 0.0 and e["onset"] > 0 and e["hiband"] == 0.0 for e in logs), logs
    logs = codec.train(m, dict(t, steps=2, batch=2, segment_s=0.4, roles=["drums"], steady_weight=1.0,
                               steady_pitched_only=True, **pitched_only), os.path.join(TMP, "pitch_d"), quiet=True)
    assert all(e["wave"] > 0 and e["split"] == 0 and e["steady"] == 0 and e["onset"] == 0 and e["hiband"] > 0
               for e in logs), logs
    path = os.path.join(TMP, "pitch_export")
    model = codec.load_checkpoint_model(os.path.join(TMP, "pitch", "checkpoint.pt"))
    export.export_codec(model, path)
    back = encodec_ref.load(path)
    assert back.cfg.pitch_codebook and back.cfg.num_codebooks == model.cfg.num_codebooks
    return "bass crops: no waveform or high-band loss; drum crops: no split loss; exported with its pitch keys"


def test_frame_note_is_the_note_at_the_frames_end():
    hop = 4
    f0 = np.array([0, 0, 0, 0, 0, 0, 55, 55, 55, 55, 55, 0, 98, 98, 98, 98], np.float32)
    assert codec.frame_note(f0, hop, 5).tolist() == [0.0, 55.0, 0.0, 98.0, 0.0]


def test_unused_codes_are_reseeded_at_once():
    # latents from 2 clusters, 16 codes: k-means leaves most codes empty; the
    # first EMA update must re-seed them from the data (the collapse fix)
    m, t = cfg()
    model = codec.new_model(m)
    cb = model.quantizer.layers[0]["codebook"]
    gen = torch.Generator().manual_seed(0)
    r = torch.cat([torch.zeros(50, 8), torch.ones(50, 8)])  # two points: ties leave codes empty
    codec.kmeans_init(cb, r, 5, gen)
    empty = int((cb.cluster_size == 0).sum())
    assert empty >= 10, cb.cluster_size
    idx = cb.encode(r)
    replaced = codec.ema_update(cb, r, idx, 0.99, t["dead_threshold"], gen)
    assert replaced >= empty - 1, (replaced, empty)
    # every code is now (close to) a data point
    d = torch.cdist(cb.embed, r).min(1).values
    assert float(d.max()) < 0.1, d
    return f"{empty} empty codes after k-means, {replaced} re-seeded at the first update"


def test_eval_measures_are_calibrated():
    import eval_codec

    class Identity:  # a perfect codec must score perfectly
        cfg = encodec_ref.Config({"sampling_rate": 16000})

        def encode(self, x):
            return x

        def decode(self, c):
            return c

    class Late(Identity):  # 30 ms late: onsets must not count as preserved
        def decode(self, c):
            return torch.cat([torch.zeros(1, 480), c], 1)[:, :c.shape[1]]

    class Sharp(Identity):  # 70 cents sharp: pitch must not count as preserved
        def decode(self, c):
            x = c[0].numpy()
            n = np.arange(len(x))
            return torch.from_numpy(np.interp(n * 2 ** (0.7 / 12), n, x, right=0.0).astype(np.float32))[None]

    good = eval_codec.evaluate(Identity(), songs=1, seconds=2.0)
    late = eval_codec.evaluate(Late(), songs=1, seconds=2.0)
    sharp = eval_codec.evaluate(Sharp(), songs=1, seconds=2.0)
    assert good["onset_recall_20ms"] == 1.0 and good["bass_pitch_within_50c"] == 1.0, good
    assert good["onset_recall_20ms_flux"] == 1.0 and good["onset_f1_20ms"] == 1.0, good
    assert good["bass_snr_db"] > 60, good
    assert late["onset_recall_20ms"] < 0.5 and late["onset_recall_20ms_flux"] < 0.5, late
    assert sharp["bass_pitch_within_50c"] < 0.5, sharp
    floor = "log_mel_l1_floor_1e-2"
    assert good[floor] == {"drums": 0.0, "bass": 0.0} and sharp[floor]["bass"] > 0.05, (good, sharp)
    return (f"identity {good['onset_recall_20ms']}/{good['bass_pitch_within_50c']}, "
            f"30 ms late {late['onset_recall_20ms']}, 70 c sharp {sharp['bass_pitch_within_50c']}")


if __name__ == "__main__":
    tap.run([(n[5:], f) for n, f in list(globals().items()) if n.startswith("test_")])
