#!/usr/bin/python3
"""Train a small EnCodec-architecture codec on the procedural corpus.

The network is train/encodec_ref.py's EncodecRef itself (the module tree of
the Hugging Face checkpoints), so a trained model exports with no renaming
and the reference that checks the C engine is the model that was trained.
What this file adds is training:

  - residual vector quantisation trained the EnCodec way: nearest codeword,
    straight-through gradient, a commitment loss for the encoder, and the
    codebooks updated by exponential moving averages (the `cluster_size` and
    `embed_avg` buffers the HF checkpoints carry), k-means initialisation on
    the first batch, and dead codes (EMA count below a threshold) replaced
    by residuals from the batch. The threshold is far below EnCodec's 2: at
    small batches a count of 2 per step resets every code (issue 7);
  - losses: L1 on multi-resolution log-mel and linear mel spectra (the
    log's floor, `mel_eps`, decides whether the bass is learned at all: see
    MelLoss), L1 on the waveform, and MSE on the waveform low-passed at
    `lowpass_hz`; optionally (adv_weight, feat_weight) EnCodec's adversarial
    and feature-matching losses from a small multi-scale STFT discriminator
    (train/adversarial.py), trained alongside, for the attacks the spectral
    losses smear;
  - data: stems of corpus songs (train/corpus.py) from a pool of songs that
    is re-rendered every `refresh_steps`, random crops; everything is a
    function of (seed, step), so a resumed run sees the same batches as an
    uninterrupted one;
  - resumable checkpoints (checkpoint.pt, written atomically), a JSON-lines
    log (log.jsonl), and an export to model.safetensors + config.json.

    nice -n 19 train/codec.py --config train/configs/codec_default.json --out runs/codec
    nice -n 19 train/codec.py --config ... --out runs/codec --steps 100   # stop early / resume
    train/codec.py --config train/configs/codec_v13_generator_codes.json --out runs/dec \
        --init-from runs/codec/checkpoint.pt --code-noise runs/confusion.pt  # code_noise below
    train/export.py codec runs/codec/checkpoint.pt models/default/codec
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402
import encodec_ref  # noqa: E402
import export  # noqa: E402
from adversarial import MultiScaleSTFTDiscriminator, discriminator_loss, generator_losses  # noqa: E402

TRAIN_DEFAULTS = dict(seed=0, batch=8, segment_s=1.0, lr=3e-4, steps=1000, pool_songs=16,
                      refresh_steps=250, bars=4, checkpoint_every=100, log_every=10,
                      commit_weight=1.0, wave_weight=1.0, ema_decay=0.99, dead_threshold=0.05,
                      kmeans_iters=10, mel_sizes=[256, 512, 1024], n_mels=64, mel_eps=0.1, threads=0,
                      roles=None, lowpass_weight=100.0, lowpass_hz=500.0, onset_weight=0.0,
                      lowspec_weight=0.0, lowspec_fft=4096, steady_weight=0.0, f0_weight=0.0,
                      split_weight=0.0, wave_unpitched_only=False,
                      steady_pitched_only=False, onset_pitched_only=False, head_only=False,
                      adv_weight=0.0, feat_weight=0.0, disc_ffts=[512, 256, 128], disc_channels=16,
                      disc_lr=1e-4, adv_start=0, adv_unpitched_only=False, code_noise=None,
                      code_noise_share=0.0, hiband_weight=0.0, hiband_hz=3000.0, hiband_eps=1e-5)
# adv_weight, feat_weight: the decoder's adversarial (hinge) and feature
# matching losses from a multi-scale STFT discriminator (disc_ffts,
# disc_channels; trained at disc_lr on every step, alone for the first
# adv_start steps so its first gradients are not noise); 0 and 0: none.
# adv_unpitched_only: judge only crops without known notes (the drums),
# whose attacks are what the spectral losses smear.
# code_noise: a generator's code confusion (train/code_confusion.py); with
# decoder_only, code_noise_share of the crops are decoded from codes drawn
# from it instead of the encoder's (generator_codes), so the decoder learns
# to render what a generator writes: the encoder's codes decode cleanly,
# the generator's made attacks inside held notes (docs/quality.md, "The
# generator's codes").
# hiband_weight: the drums' attacks in the high band (hiband_loss over
# hiband_hz, floor hiband_eps), on crops without known notes only; the
# codec's quieter hats and snares came out as a steady hiss, not as hits
# (docs/quality.md, "The drums' high band").


def load_config(path):
    """(model, train) of a config file. A config with "base" (a config file
    in the same folder) takes that config's model, updated with its own
    "model" entries if it has any; "train" is always the file's own, over
    TRAIN_DEFAULTS. The stages and experiments of one architecture name the
    default instead of repeating its 25 lines."""
    with open(path) as f:
        cfg = json.load(f)
    model = load_config(os.path.join(os.path.dirname(path), cfg["base"]))[0] if "base" in cfg else {}
    model = dict(model, **cfg.get("model", {}))
    if not model:
        raise SystemExit(f"{path}: no model (give \"model\" or \"base\")")
    train = dict(TRAIN_DEFAULTS)
    train.update(cfg.get("train", {}))
    return model, train


# --------------------------------------------------------------- data

class SongPool:
    """The songs training draws from at a given step: pool `step //
    refresh_steps` is the songs with seeds seed*1_000_003 + epoch*pool + i.
    Rendering is cached for the current pool only. With t["stems"] set (a
    folder, see corpus.load_stem_folder) the user's songs are used instead."""

    def __init__(self, t, sr, roles=None):
        self.t, self.sr, self.roles = t, sr, roles
        self.epoch, self.songs = None, []

    def at(self, step):
        if self.t.get("stems"):  # a user's folder of real stems: always all of it
            if not self.songs:
                self.songs = corpus.load_stem_folder(self.t["stems"], self.sr)
                if not self.songs:
                    raise SystemExit(f"{self.t['stems']}: no song folders with WAV stems")
            return self.songs
        epoch = step // self.t["refresh_steps"]
        if epoch != self.epoch:
            base = self.t["seed"] * 1_000_003 + epoch * self.t["pool_songs"]
            kw = {"bars": self.t["bars"]}
            if self.roles:
                kw["roles"] = self.roles
            self.songs = [corpus.song(base + i, self.sr, **kw) for i in range(self.t["pool_songs"])]
            for s in self.songs:  # the bass's known pitch, for a harmonic path's f0 loss
                s.f0 = {"bass": corpus.bass_f0(s.spec, self.sr)} if "bass" in s.stems else {}
            self.epoch = epoch
        return self.songs


def batch_at(pool, t, step, hop, with_f0=False, notes=False):
    """[B, 1, L] random stem crops for `step` (deterministic in seed, step);
    with_f0 also returns frame_f0(...) of each crop [B, L / hop] (with
    notes, frame_note(...): what a pitch codebook codes)."""
    rng = np.random.default_rng([t["seed"], step, 7])
    songs = pool.at(step)
    length = int(round(t["segment_s"] * pool.sr / hop)) * hop
    out = np.zeros((t["batch"], 1, length), np.float32)
    f0 = np.zeros((t["batch"], length // hop), np.float32)
    for b in range(t["batch"]):
        s = songs[rng.integers(len(songs))]
        roles = list(s.stems)
        role = roles[rng.integers(len(roles))]
        x = s.stems[role]
        start = int(rng.integers(0, max(1, len(x) - length)))
        seg = x[start:start + length]
        out[b, 0, :len(seg)] = seg * rng.uniform(0.5, 1.5)  # level augmentation
        known = getattr(s, "f0", {}).get(role)
        if known is not None:
            f0[b] = (frame_note if notes else frame_f0)(known[start:start + length], hop, length // hop)
    return (torch.from_numpy(out), torch.from_numpy(f0)) if with_f0 else torch.from_numpy(out)


def frame_f0(f0, hop, frames):
    """Per-sample f0 (0 = no note) -> the f0 each frame's last sample has,
    where one note covers the whole frame, else 0 (not taught). The harmonic
    path reaches a frame's controls on its last sample (encodec_ref)."""
    f = np.zeros(frames * hop, np.float32)
    f[:len(f0)] = f0[:frames * hop]
    f = f.reshape(frames, hop)
    return np.where((f == f[:, -1:]).all(1), f[:, -1], 0.0).astype(np.float32)


def frame_note(f0, hop, frames):
    """Per-sample f0 (0 = no note) -> the note sounding at each frame's last
    sample: the pitch code's teacher (a pitch codebook's frame reaches its
    controls there)."""
    f = np.zeros(frames * hop, np.float32)
    f[:len(f0)] = f0[:frames * hop]
    return f.reshape(frames, hop)[:, -1].copy()


# -------------------------------------------------------------- losses

def mel_filterbank(sr, n_fft, n_mels):
    """[n_mels, n_fft/2+1] triangular filters on the HTK mel scale."""
    def mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m):
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = hz(np.linspace(mel(20.0), mel(sr / 2), n_mels + 2))
    fb = np.zeros((n_mels, len(freqs)), np.float32)
    for m in range(n_mels):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        up = (freqs - lo) / (mid - lo)
        down = (hi - freqs) / (hi - mid)
        fb[m] = np.maximum(0.0, np.minimum(up, down))
    # filters narrower than a bin get the nearest bin, so none is empty
    for m in range(n_mels):
        if fb[m].sum() == 0:
            fb[m, np.argmin(np.abs(freqs - edges[m + 1]))] = 1.0
    return torch.from_numpy(fb)


class MelLoss:
    """L1 of log and linear mel spectra at several FFT sizes. `eps` is the
    log's floor for a 1024-point FFT, scaled with the FFT size (a steady
    tone's magnitude grows with it). A floor far below the music (1e-5, the
    first runs) spends the gradient on matching near-silent bins: 1/(m+eps)
    is huge there, and the codec did not learn the bass at all (a 40 Hz sine
    came out 37 dB down after 1450 steps). 0.1 (about -30 dB under a typical
    bin) let the same net learn it (2026-11-26, docs/quality.md)."""

    def __init__(self, sr, sizes, n_mels, eps=0.1):
        self.sizes, self.eps = sizes, eps
        self.fbs = {n: mel_filterbank(sr, n, min(n_mels, n // 4)) for n in sizes}
        self.windows = {n: torch.hann_window(n) for n in sizes}

    def mel(self, x, n):
        spec = torch.stft(x, n, n // 4, window=self.windows[n], return_complex=True).abs()
        return self.fbs[n] @ spec

    def __call__(self, y, x):  # y, x: [B, L]
        loss = 0.0
        for n in self.sizes:
            my, mx = self.mel(y, n), self.mel(x, n)
            eps = self.eps * n / 1024
            loss = loss + F.l1_loss(torch.log(my + eps), torch.log(mx + eps)) + F.l1_loss(my, mx)
        return loss / len(self.sizes)


def onset_envelope(x, size=512, hop=64):
    """measure.onset_envelope in torch, differentiable: the half-wave
    rectified flux of log1p(100 |STFT|) (Hann, `size` points, `hop`), per
    frame. x [B, L] -> [B, frames - 1]."""
    spec = torch.stft(x, size, hop, window=torch.hann_window(size, periodic=False), center=False,
                      return_complex=True)
    logm = torch.log1p(100 * spec.abs())
    return F.relu(logm[..., 1:] - logm[..., :-1]).sum(1)


def onset_loss(y, x):
    """L1 between the onset envelopes of y and x, over x's mean envelope:
    a smeared attack (energy before or after the hit, a raised floor between
    hits) moves this where a 1024-point magnitude hardly moves."""
    ey, ex = onset_envelope(y), onset_envelope(x)
    return (ey - ex).abs().mean() / (ex.mean() + 1e-3)


def hiband_envelope(x, sr, hz, eps, size=128, hop=32):
    """ln of the power over `hz` in two bands (hz..5 kHz, 5 kHz..Nyquist at
    16 kHz), frame by frame (`size` points, `hop`: 2 ms at 16 kHz), plus
    `eps` (a floor about 50 dB under full scale). x [B, L] -> [B, 2, frames]."""
    spec = torch.stft(x, size, hop, window=torch.hann_window(size), return_complex=True).abs() ** 2
    freqs = torch.arange(spec.shape[1]) * sr / size
    split = max(hz, 5000.0)
    bands = [(freqs >= hz) & (freqs < split), freqs >= split]
    return torch.stack([torch.log(spec[:, b].mean(1) + eps) for b in bands if b.any()], 1)


def hiband_loss(y, x, sr, hz, eps):
    """L1 between the high-band log-power envelopes of y and x. The mel loss's
    floor (mel_eps, there so the bass is learned) sits above a quiet hat's
    high band, and the waveform loss is ruled by the kick: neither sees a
    quiet hit turned into hiss, which the synchronizer's high-frequency
    onset detector then misses."""
    return F.l1_loss(hiband_envelope(y, sr, hz, eps), hiband_envelope(x, sr, hz, eps))


def lowspec_loss(y, x, hz, sr, n_fft):
    """L1 of log magnitudes of a long STFT (`n_fft` points: 4096 at 16 kHz
    resolves 4 Hz) in the bins under `hz`: the bass's pitch without its
    phase. The waveform losses pin the phase of every frame, so the codes
    must carry it (train/probe_codes.py); this term lets them drop it."""
    window = torch.hann_window(n_fft)
    keep = int(hz * n_fft / sr) + 1
    sy = torch.stft(y, n_fft, n_fft // 8, window=window, return_complex=True).abs()[:, :keep]
    sx = torch.stft(x, n_fft, n_fft // 8, window=window, return_complex=True).abs()[:, :keep]
    eps = 0.03 * n_fft / 1024
    return F.l1_loss(torch.log(sy + eps), torch.log(sx + eps))


def f0_loss(h, target, f0_min, f0_max):
    """Mean absolute error in semitones of the harmonic head's f0 on the
    frames with a known note (target > 0); 0 when there are none."""
    voiced = target > 0
    if not voiced.any():
        return torch.zeros(())
    f0 = encodec_ref.harmonic_controls(h, f0_min, f0_max)[0]
    return 12 * (torch.log2(f0[voiced]) - torch.log2(target[voiced])).abs().mean()


def steadiness(z):
    """The encoder latent's total variation over time relative to its size
    (z [B, D, T]): low when a held sound is one latent, frame after frame,
    so its codes repeat and a generator can continue them."""
    return (z[..., 1:] - z[..., :-1]).abs().mean() / (z.abs().mean().detach() + 1e-3)


def lowpass(x, hz, sr):
    """x [B, L] with every FFT bin at or above hz zeroed."""
    spec = torch.fft.rfft(x)
    keep = torch.fft.rfftfreq(x.shape[-1], 1.0 / sr) < hz
    return torch.fft.irfft(spec * keep, n=x.shape[-1])


# ------------------------------------------------------- quantisation

@torch.no_grad()
def kmeans_init(cb, r, iters, gen):
    k = cb.embed.shape[0]
    idx = torch.randint(0, r.shape[0], (k,), generator=gen)
    centers = r[idx].clone()
    for _ in range(iters):
        assign = torch.cdist(r, centers).argmin(1)
        counts = torch.bincount(assign, minlength=k).float()
        sums = torch.zeros_like(centers).index_add_(0, assign, r)
        filled = counts > 0
        centers[filled] = sums[filled] / counts[filled, None]
    # The EMA counts start at the real usage in this batch: a code k-means
    # left empty is then dead at the first update and re-seeded from the
    # data, instead of waiting ~300 steps for a count of 1 to decay below
    # the threshold (meanwhile the drifting encoder collapsed codebook 0
    # onto a single code in the first default run).
    assign = torch.cdist(r, centers).argmin(1)
    cb.embed.copy_(centers)
    cb.cluster_size.copy_(torch.bincount(assign, minlength=k).float())
    cb.embed_avg.copy_(centers * cb.cluster_size[:, None])
    cb.inited.fill_(1.0)


@torch.no_grad()
def ema_update(cb, r, idx, decay, dead_threshold, gen):
    k = cb.embed.shape[0]
    counts = torch.bincount(idx, minlength=k).float()
    sums = torch.zeros_like(cb.embed).index_add_(0, idx, r)
    cb.cluster_size.mul_(decay).add_(counts, alpha=1 - decay)
    cb.embed_avg.mul_(decay).add_(sums, alpha=1 - decay)
    n = cb.cluster_size.sum()
    smoothed = (cb.cluster_size + 1e-5) / (n + k * 1e-5) * n  # Laplace smoothing
    cb.embed.copy_(cb.embed_avg / smoothed[:, None])
    dead = cb.cluster_size < dead_threshold
    if dead.any():
        pick = torch.randint(0, r.shape[0], (int(dead.sum()),), generator=gen)
        cb.embed[dead] = r[pick]
        cb.embed_avg[dead] = r[pick]
        cb.cluster_size[dead] = 1.0
    return int(dead.sum())


def quantize(model, z, t, gen, train):
    """z [B, D, T] -> (straight-through quantised z, codes [B, Q, T],
    commitment loss, dead codes replaced)."""
    b, d, frames = z.shape
    flat = z.permute(0, 2, 1).reshape(-1, d)
    r = flat
    qsum = torch.zeros_like(flat)
    commit, dead, codes = 0.0, 0, []
    for layer in model.quantizer.layers:
        cb = layer["codebook"]
        if train and cb.inited.item() < 0.5:
            kmeans_init(cb, r.detach(), t["kmeans_iters"], gen)
        idx = cb.encode(r.detach())
        q = cb.embed[idx].clone()
        commit = commit + F.mse_loss(r, q)
        if train:
            dead += ema_update(cb, r.detach(), idx, t["ema_decay"], t["dead_threshold"], gen)
        r = r - q
        qsum = qsum + q
        codes.append(idx.view(b, frames))
    zq = flat + (qsum - flat).detach()
    return zq.view(b, frames, d).permute(0, 2, 1), torch.stack(codes, 1), commit, dead


def generator_codes(model, codes, noise, pitched, share, gen):
    """(codes [B, Q, T], their quantised latent [B, D, T]) with the codes of
    `share` of the crops redrawn from a generator's confusion `noise`
    (code_confusion.py: [roles, Q, card, card], roles drums then bass): the
    bass's table for crops with known notes, the drums' for the others."""
    table = noise["confusion"]
    codes = codes.clone()
    for b in torch.nonzero(torch.rand(codes.shape[0], generator=gen) < share)[:, 0].tolist():
        role = noise["roles"].index("bass" if pitched[b] else "drums")
        for r in range(table.shape[1]):
            codes[b, r] = torch.multinomial(table[role, r][codes[b, r]], 1, generator=gen)[:, 0]
    z = sum(layer["codebook"].embed[codes[:, q]] for q, layer in enumerate(model.quantizer.layers))
    return codes, z.permute(0, 2, 1)


def new_model(model_cfg):
    cfg = encodec_ref.Config(model_cfg)
    model = encodec_ref.EncodecRef(cfg)
    for layer in model.quantizer.layers:
        layer["codebook"].inited.fill_(0.0)  # k-means on the first batch
    if cfg.harmonic_bins:  # start quiet (exp-sigmoid amplitudes ~0.015) but not so quiet its gradient vanishes
        last = model.harmonic_head[-1] if cfg.harmonic_hidden else model.harmonic_head
        with torch.no_grad():
            last.weight.mul_(0.1)
            last.bias.zero_()
            last.bias[1:] = -2.0
    return model


# -------------------------------------------------------------- training

def save_checkpoint(path, state):
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint_model(path):
    ck = torch.load(path, map_location="cpu")
    model = new_model(ck["model_config"])
    model.load_state_dict(ck["model"])
    return model.eval()


def f0_logit(f0, f0_min, f0_max):
    """The head output that makes harmonic_controls give f0 (Hz)."""
    x = (torch.log(f0 / f0_min) / math.log(f0_max / f0_min)).clamp(1e-6, 1 - 1e-6)
    return torch.log(x / (1 - x))


def render(model, zq, f0_target):
    """(audio [B, 1, L], f0 loss, the harmonic path's part of the audio or
    None) of a quantised latent. The harmonic path's f0 learns from the known
    notes only: through the oscillator its gradient is that of a sine's
    phase, which points anywhere. The oscillator plays the known f0 where
    there is one (teacher forcing, as DDSP is given f0): with a half-learnt
    f0 its harmonics would sit off the notes and the amplitudes would learn
    to be silent."""
    y = model.decoder(zq)
    c = model.cfg
    if not c.harmonic_bins:
        return y, torch.zeros(()), None
    h = model.harmonic(zq)
    if c.pitch_codebook:  # the oscillator plays the pitch codes, as decoding does
        f0 = encodec_ref.pitch_track(encodec_ref.pitch_codes(f0_target, c), c)
        harm = encodec_ref.harmonic_synth(h, c.hop_length, c.sampling_rate, c.harmonic_f0_min,
                                          c.harmonic_f0_max, f0=f0)[:, None]
        return y + harm, torch.zeros(()), harm
    known = f0_logit(f0_target.clamp(min=c.harmonic_f0_min), c.harmonic_f0_min, c.harmonic_f0_max)
    pitch = torch.where(f0_target > 0, known, h[:, 0].detach())
    synth = torch.cat([pitch[:, None], h[:, 1:]], 1)
    harm = encodec_ref.harmonic_synth(synth, c.hop_length, c.sampling_rate, c.harmonic_f0_min,
                                      c.harmonic_f0_max)[:, None]
    return y + harm, f0_loss(h, f0_target, c.harmonic_f0_min, c.harmonic_f0_max), harm


def split_loss(y, harm, x, f0_target, mel, t, sr):
    """On crops with known notes (the bass), the harmonic path alone must
    make the sound and the convolutional path must stay silent. Without this
    the convolutional path, which already made the bass from codes carrying
    its phase, keeps it, and the oscillator, added at a random relative
    phase, only interferes: its amplitudes learn silence (measured: harmonic
    rms 0.000 at step 400 even with the known f0)."""
    voiced = (f0_target > 0).any(1)
    if harm is None or not voiced.any():
        return torch.zeros(())
    h, xv, conv = harm[voiced, 0], x[voiced, 0], (y - harm)[voiced, 0]
    alone = mel(h, xv) + lowspec_loss(h, xv, t["lowpass_hz"], sr, t["lowspec_fft"])
    return alone + (conv ** 2).mean() / ((xv ** 2).mean() + 1e-8)


def initial_state(path):
    """The model state a run starts from: a codec checkpoint, or an exported
    model folder (a codec's or a track-aware model's audio_encoder.*)."""
    if not os.path.isdir(path):
        return torch.load(path, map_location="cpu")["model"]
    state = {}
    for name, v in export.read_safetensors(os.path.join(path, "model.safetensors")).items():
        if name.startswith("audio_encoder."):
            state[name[len("audio_encoder."):]] = v
        elif not any(name.startswith(p) for p in ("decoder.", "text_encoder.", "enc_to_dec_proj.", "track_context.")):
            state[name] = v
    return state


def decoder_params(model, head_only=False):
    """What decoder-only training learns: the decoder and the harmonic
    path's head (both render the codes; neither changes them); with
    head_only the head alone, so the convolutional path (the drums) renders
    every code as before."""
    params = [] if head_only else list(model.decoder.parameters())
    if model.cfg.harmonic_bins:
        params += list(model.harmonic_head.parameters())
    if not params:
        raise SystemExit("head_only: this codec has no harmonic head")
    return params


def new_discriminator(t, ck=None):
    """(discriminator, its optimiser) of a run with adversarial losses,
    resumed from checkpoint `ck` if it has them; (None, None) without."""
    if not (t["adv_weight"] or t["feat_weight"]):
        return None, None
    disc = MultiScaleSTFTDiscriminator(t["disc_ffts"], t["disc_channels"])
    opt_d = torch.optim.Adam(disc.parameters(), lr=t["disc_lr"], betas=(0.5, 0.9))
    if ck is not None and "disc" in ck:
        disc.load_state_dict(ck["disc"])
        opt_d.load_state_dict(ck["disc_opt"])
    return disc, opt_d


def adversarial_step(disc, opt_d, t, step, y, x, pitched):
    """One discriminator update on (x, y) (the crops it judges), then the
    decoder's (adversarial, feature matching) losses from it: zeros before
    adv_start or without a discriminator. Returns (disc loss, adv, feat)."""
    zero = torch.zeros(())
    if disc is None:
        return zero, zero, zero
    if t.get("adv_unpitched_only"):
        y, x = y[~pitched], x[~pitched]
    if not y.shape[0]:
        return zero, zero, zero
    loss_d = discriminator_loss(disc, x[:, 0], y[:, 0])
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    if step < t["adv_start"]:
        return loss_d.detach(), zero, zero
    adv, feat = generator_losses(disc, x[:, 0], y[:, 0])
    return loss_d.detach(), adv, feat


def train(model_cfg, t, out_dir, steps=None, quiet=False, init_from=None):
    """Train until step `steps` (default t['steps']), resuming from
    out_dir/checkpoint.pt if it exists (else starting from the model of the
    checkpoint `init_from`, if given, with a new optimiser). With
    t['decoder_only'] the encoder and codebooks are frozen: the codes of any
    audio stay what they were, so a generator trained on them stays valid,
    and only the decoder (and harmonic head) learn to render them better. Returns the list of
    logged dicts."""
    os.makedirs(out_dir, exist_ok=True)
    if t["threads"]:
        torch.set_num_threads(t["threads"])
    torch.manual_seed(t["seed"])
    model = new_model(model_cfg)
    decoder_only = t.get("decoder_only", False)
    params = decoder_params(model, t.get("head_only", False)) if decoder_only else model.parameters()
    opt = torch.optim.Adam(params, lr=t["lr"], betas=(0.5, 0.9))
    ck_path = os.path.join(out_dir, "checkpoint.pt")
    step, elapsed = 0, 0.0
    if init_from and not os.path.exists(ck_path):
        # a model may gain the harmonic path over the one it starts from
        missing, unexpected = model.load_state_dict(initial_state(init_from), strict=False)
        if unexpected or any(not k.startswith("harmonic_head.") for k in missing):
            raise SystemExit(f"{init_from}: not this architecture (missing {missing}, unexpected {unexpected})")
    if os.path.exists(ck_path):
        ck = torch.load(ck_path, map_location="cpu")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, elapsed = ck["step"], ck.get("elapsed", 0.0)
    for g in opt.param_groups:  # the config's rate, also when continuing a run at another one
        g["lr"] = t["lr"]
    disc, opt_d = new_discriminator(t, ck if os.path.exists(ck_path) else None)
    noise = None
    if t.get("code_noise"):
        if not decoder_only:
            raise SystemExit("code_noise needs decoder_only (the codes a generator was trained on must stay)")
        noise = torch.load(t["code_noise"], map_location="cpu")
    sr, hop = model.cfg.sampling_rate, model.cfg.hop_length
    pool = SongPool(t, sr, t["roles"])
    mel = MelLoss(sr, t["mel_sizes"], t["n_mels"], t["mel_eps"])
    steps = t["steps"] if steps is None else steps
    log_path = os.path.join(out_dir, "log.jsonl")
    logs, window = [], []
    model.train()
    while step < steps:
        t0 = time.time()
        x, f0_target = batch_at(pool, t, step, hop, with_f0=True, notes=model.cfg.pitch_codebook)
        gen = torch.Generator().manual_seed(t["seed"] * 7919 + step)
        if decoder_only:
            with torch.no_grad():
                z = model.encoder(x)
                zq, codes, commit, dead = quantize(model, z, t, gen, train=False)
                if noise is not None:
                    codes, zq = generator_codes(model, codes, noise, (f0_target > 0).any(1),
                                                t["code_noise_share"], gen)
        else:
            z = model.encoder(x)
            zq, codes, commit, dead = quantize(model, z, t, gen, train=True)
        y, loss_f0, harm = render(model, zq, f0_target)
        loss_split = split_loss(y, harm, x, f0_target, mel, t, sr) if t["split_weight"] else torch.zeros(())
        loss_mel = mel(y[:, 0], x[:, 0])
        pitched = (f0_target > 0).any(1)  # crops with known notes (the bass)
        # waveform terms pin the phase; with wave_unpitched_only they judge
        # only crops without known notes (drums), whose phase the codes keep
        wy, wx = y, x
        if t.get("wave_unpitched_only"):
            wy, wx = y[~pitched], x[~pitched]
        loss_wave = F.l1_loss(wy, wx) if wy.shape[0] else torch.zeros(())
        # the bass's waveform below lowpass_hz: a mel spectrum at these FFT
        # sizes hardly resolves a 40 Hz fundamental, its waveform does
        loss_low = (F.mse_loss(lowpass(wy[:, 0], t["lowpass_hz"], sr), lowpass(wx[:, 0], t["lowpass_hz"], sr))
                    if t["lowpass_weight"] and wy.shape[0] else torch.zeros(()))
        # onset_pitched_only: the bass's onset envelope only. A held note whose
        # oscillator amplitudes jitter frame to frame makes flux bumps that an
        # onset detector counts as notes (docs/quality.md, "Held notes and a
        # bass that does not flutter"); on the drums the same term smoothed
        # the quiet hits away
        oy, ox = y, x
        if t.get("onset_pitched_only"):
            oy, ox = y[pitched], x[pitched]
        loss_onset = (onset_loss(oy[:, 0], ox[:, 0]) if t["onset_weight"] and oy.shape[0]
                      else torch.zeros(()))
        hy, hx = y[~pitched], x[~pitched]
        loss_hiband = (hiband_loss(hy[:, 0], hx[:, 0], sr, t["hiband_hz"], t["hiband_eps"])
                       if t["hiband_weight"] and hy.shape[0] else torch.zeros(()))
        loss_lowspec = (lowspec_loss(y[:, 0], x[:, 0], t["lowpass_hz"], sr, t["lowspec_fft"])
                        if t["lowspec_weight"] else torch.zeros(()))
        # steady_pitched_only: held notes should hold their codes, but a
        # steadied latent smears the drums' attacks (measured: onsets 0.74 ->
        # 0.46 with it on every crop, codec_v8_pitch)
        zs = z[pitched] if t.get("steady_pitched_only") else z
        loss_steady = (steadiness(zs) if t["steady_weight"] and not decoder_only and zs.shape[0]
                       else torch.zeros(()))
        loss_disc, loss_adv, loss_feat = adversarial_step(disc, opt_d, t, step, y, x, pitched)
        loss = (t["adv_weight"] * loss_adv + t["feat_weight"] * loss_feat
                + loss_mel + t["wave_weight"] * loss_wave + t["lowpass_weight"] * loss_low
                + t["onset_weight"] * loss_onset + t["lowspec_weight"] * loss_lowspec
                + t["hiband_weight"] * loss_hiband
                + t["steady_weight"] * loss_steady + t["f0_weight"] * loss_f0 + t["split_weight"] * loss_split
                + (0.0 if decoder_only else t["commit_weight"] * commit))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        step += 1
        dt = time.time() - t0
        elapsed += dt
        window.append((loss.item(), loss_mel.item(), loss_wave.item(), float(commit), dead, dt, loss_low.item(),
                       loss_onset.item(), loss_lowspec.item(), loss_steady.item(), loss_f0.item(),
                       loss_split.item(), float(loss_disc), float(loss_adv), float(loss_feat),
                       loss_hiband.item()))
        if step % t["log_every"] == 0 or step == steps:
            w = np.array(window)
            entry = dict(step=step, loss=w[:, 0].mean(), mel=w[:, 1].mean(), wave=w[:, 2].mean(), low=w[:, 6].mean(),
                         onset=w[:, 7].mean(), lowspec=w[:, 8].mean(), steady=w[:, 9].mean(), f0=w[:, 10].mean(),
                         split=w[:, 11].mean(), hiband=w[:, 15].mean(), disc=w[:, 12].mean(), adv=w[:, 13].mean(), feat=w[:, 14].mean(),
                         commit=w[:, 3].mean(), dead_codes=int(w[:, 4].sum()),
                         audio_s_per_s=t["batch"] * x.shape[-1] / sr * len(w) / w[:, 5].sum(),
                         elapsed_s=round(elapsed, 1))
            entry = {k: (round(v, 5) if isinstance(v, float) else v) for k, v in entry.items()}
            logs.append(entry)
            with open(log_path, "a") as f:
                f.write(json.dumps(entry) + "\n")
            if not quiet:
                print(json.dumps(entry), flush=True)
            window = []
        if step % t["checkpoint_every"] == 0 or step == steps:
            state = dict(model=model.state_dict(), opt=opt.state_dict(), step=step,
                         elapsed=elapsed, model_config=model_cfg, train_config=t)
            if disc is not None:
                state.update(disc=disc.state_dict(), disc_opt=opt_d.state_dict())
            save_checkpoint(ck_path, state)
    return logs


@torch.no_grad()
def encode_audio(model, x):
    """[L] float audio -> codes [Q, T] with the eval-mode model."""
    return model.encode(torch.as_tensor(x, dtype=torch.float32)[None])


def main():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, help="train up to this step (default: the config's)")
    ap.add_argument("--export", metavar="DIR", help="export the final model here")
    ap.add_argument("--dtype", choices=export.DTYPES, default="f32")
    ap.add_argument("--stems", metavar="DIR", help="train on a folder of real stems instead of the corpus")
    ap.add_argument("--init-from", metavar="CHECKPOINT",
                    help="start a new run from this codec checkpoint's model (e.g. decoder_only fine-tuning)")
    ap.add_argument("--decoder-only", action="store_true",
                    help="train the decoder alone (the config's decoder_only): the codes do not change")
    ap.add_argument("--code-noise", metavar="CONFUSION",
                    help="a generator's code confusion (train/code_confusion.py): the config's code_noise")
    a = ap.parse_args()
    model_cfg, t = load_config(a.config)
    if a.stems:
        t["stems"] = a.stems
    if a.code_noise:
        t["code_noise"] = a.code_noise
    if a.decoder_only:
        t["decoder_only"] = True
    train(model_cfg, t, a.out, a.steps, init_from=a.init_from)
    if a.export:
        model = load_checkpoint_model(os.path.join(a.out, "checkpoint.pt"))
        export.export_codec(model, a.export, a.dtype)


if __name__ == "__main__":
    main()
