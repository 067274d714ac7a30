"""PyTorch reference of EnCodec as the Hugging Face checkpoints define it.

Written for ResonantGen from the published architecture (Défossez et al.,
"High Fidelity Neural Audio Compression", 2022) and the facts gathered in
the project's reference notes: SEANet encoder/decoder with weight-normalised
convolutions, "same"-style padding with EnCodec's extra right padding, a
2-layer LSTM with a skip connection, and residual vector quantisation.

The module tree reproduces the Hugging Face parameter names
(`encoder.layers.N.conv.weight_g`, `...block.1.conv...`, `...shortcut.conv...`,
`...lstm.weight_ih_l0`, `quantizer.layers.Q.codebook.embed`), so a state dict
from `facebook/encodec_24khz` or `facebook/encodec_32khz` loads with
`load_state_dict`, and so does the random one the fixture script makes.

This is the oracle for the C implementation in runtime/model/encodec.c; keep
it simple rather than fast.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

# EncodecConfig defaults (the 24 kHz model); config.json overrides them.
DEFAULTS = {
    "target_bandwidths": [1.5, 3.0, 6.0, 12.0, 24.0],
    "sampling_rate": 24000,
    "audio_channels": 1,
    "normalize": False,
    "chunk_length_s": None,
    "overlap": None,
    "hidden_size": 128,
    "num_filters": 32,
    "num_residual_layers": 1,
    "upsampling_ratios": [8, 5, 4, 2],
    "norm_type": "weight_norm",
    "kernel_size": 7,
    "last_kernel_size": 7,
    "residual_kernel_size": 3,
    "dilation_growth_rate": 2,
    "use_causal_conv": True,
    "pad_mode": "reflect",
    "compress": 2,
    "num_lstm_layers": 2,
    "trim_right_ratio": 1.0,
    "codebook_size": 1024,
    "codebook_dim": None,
    "use_conv_shortcut": True,
    # ResonantGen extension (docs/models.md "Harmonic bass path"): 0 = none
    "harmonic_bins": 0,
    "harmonic_f0_min": 25.0,
    "harmonic_f0_max": 800.0,
    # 0: the head is one 1x1 conv; H > 0: conv 1x1 to H, ELU, conv 1x1 (a
    # latent whose codes carry the waveform's phase, as a frozen encoder's,
    # needs a nonlinearity to give the harmonics' amplitudes)
    "harmonic_hidden": 0,
    # ResonantGen extension (docs/models.md "Pitch codebook"): the harmonic
    # path's f0 is a code of its own, a semitone, not read from the latent
    "pitch_codebook": False,
    "pitch_midi_min": 24,
    "pitch_notes": 48,
}


class Config:
    """Hyper-parameters, from a config.json dict (or a MusicGen one's
    "audio_encoder" section)."""

    def __init__(self, values=None):
        values = dict(values or {})
        if "audio_encoder" in values:
            values = values["audio_encoder"]
        merged = dict(DEFAULTS)
        merged.update({k: v for k, v in values.items() if v is not None or k not in DEFAULTS})
        for key, value in merged.items():
            setattr(self, key, value)
        if self.codebook_dim is None:
            self.codebook_dim = self.hidden_size
        if self.norm_type != "weight_norm":
            raise ValueError("only weight_norm EnCodec models (24/32 kHz) are supported")
        if not 0 <= self.harmonic_hidden <= 4096 or (self.harmonic_hidden and not self.harmonic_bins):
            raise ValueError("harmonic_hidden must be 0..4096, and > 0 only with harmonic_bins > 0")
        if self.pitch_codebook and not self.harmonic_bins:
            raise ValueError("pitch_codebook needs the harmonic path (harmonic_bins > 0)")
        if self.pitch_codebook and not 1 <= self.pitch_notes < self.codebook_size:
            raise ValueError("pitch_notes must be 1..codebook_size-1 (code 0 is 'no pitch')")

    @property
    def hop_length(self):
        return math.prod(self.upsampling_ratios)

    @property
    def frame_rate(self):
        return math.ceil(self.sampling_rate / self.hop_length)

    @property
    def num_quantizers(self):
        # bits per second of all codebooks / bits per second of one, as HF does
        return int(1000 * self.target_bandwidths[-1] // (self.frame_rate * 10))

    @property
    def num_codebooks(self):
        """Rows of a code matrix: the RVQ codebooks, then the pitch code."""
        return self.num_quantizers + (1 if self.pitch_codebook else 0)

    def quantizers_for_bandwidth(self, bandwidth):
        """Codebooks used at `bandwidth` kbps (all of them for None)."""
        if bandwidth is None:
            return self.num_quantizers
        per_codebook = math.log2(self.codebook_size) * self.frame_rate
        return max(1, int(math.floor(bandwidth * 1000 / per_codebook)))


def pad1d(x, left, right, mode):
    """F.pad, except that reflect padding of a signal shorter than the pad
    first zero-extends it (what EnCodec does so tiny inputs still work)."""
    if mode != "reflect":
        return F.pad(x, (left, right), mode, 0.0)
    length = x.shape[-1]
    extra = max(0, max(left, right) - length + 1)
    if extra:
        x = F.pad(x, (0, extra))
    padded = F.pad(x, (left, right), "reflect")
    return padded[..., : padded.shape[-1] - extra]


class Conv(nn.Module):
    """Conv1d whose output has ceil(L / stride) frames: the padding that a
    stride leaves over ("extra") goes on the right, the rest is split (or all
    on the left when causal)."""

    def __init__(self, cfg, cin, cout, kernel, stride=1, dilation=1):
        super().__init__()
        self.causal = cfg.use_causal_conv
        self.pad_mode = cfg.pad_mode
        self.conv = nn.utils.weight_norm(nn.Conv1d(cin, cout, kernel, stride, dilation=dilation))

    def paddings(self, length):
        conv = self.conv
        k_eff = (conv.kernel_size[0] - 1) * conv.dilation[0] + 1
        stride = conv.stride[0]
        total = k_eff - stride
        frames = (length - k_eff + total) / stride + 1
        ideal = (math.ceil(frames) - 1) * stride + (k_eff - total)
        extra = ideal - length
        if self.causal:
            return total, extra
        right = total // 2
        return total - right, right + extra

    def forward(self, x):
        left, right = self.paddings(x.shape[-1])
        return self.conv(pad1d(x, left, right, self.pad_mode))


class ConvTranspose(nn.Module):
    """ConvTranspose1d trimmed back to L * stride samples."""

    def __init__(self, cfg, cin, cout, kernel, stride):
        super().__init__()
        self.causal = cfg.use_causal_conv
        self.trim_right_ratio = cfg.trim_right_ratio
        self.conv = nn.utils.weight_norm(nn.ConvTranspose1d(cin, cout, kernel, stride))

    def forward(self, x):
        total = self.conv.kernel_size[0] - self.conv.stride[0]
        if self.causal:
            right = math.ceil(total * self.trim_right_ratio)
        else:
            right = total // 2
        left = total - right
        y = self.conv(x)
        return y[..., left : y.shape[-1] - right]


class ResidualUnit(nn.Module):
    """ELU, conv k=residual_kernel (dim -> dim/compress), ELU, conv k=1 back to
    dim; plus a k=1 conv shortcut (24 kHz) or the identity (32 kHz)."""

    def __init__(self, cfg, dim, dilations):
        super().__init__()
        hidden = dim // cfg.compress
        kernels = (cfg.residual_kernel_size, 1)
        layers = []
        for i, (kernel, dilation) in enumerate(zip(kernels, dilations)):
            cin = dim if i == 0 else hidden
            cout = dim if i == len(kernels) - 1 else hidden
            layers += [nn.ELU(), Conv(cfg, cin, cout, kernel, dilation=dilation)]
        self.block = nn.ModuleList(layers)
        self.shortcut = Conv(cfg, dim, dim, 1) if cfg.use_conv_shortcut else nn.Identity()

    def forward(self, x):
        y = x
        for layer in self.block:
            y = layer(y)
        return self.shortcut(x) + y


class SkipLSTM(nn.Module):
    def __init__(self, cfg, dim):
        super().__init__()
        self.lstm = nn.LSTM(dim, dim, cfg.num_lstm_layers)

    def forward(self, x):  # x: [B, C, T]
        seq = x.permute(2, 0, 1)
        return (self.lstm(seq)[0] + seq).permute(1, 2, 0)


class Sequential(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def build_encoder(cfg):
    nf = cfg.num_filters
    layers = [Conv(cfg, cfg.audio_channels, nf, cfg.kernel_size)]
    scale = 1
    for ratio in reversed(cfg.upsampling_ratios):
        dim = scale * nf
        for j in range(cfg.num_residual_layers):
            layers.append(ResidualUnit(cfg, dim, (cfg.dilation_growth_rate**j, 1)))
        layers += [nn.ELU(), Conv(cfg, dim, dim * 2, ratio * 2, stride=ratio)]
        scale *= 2
    layers += [SkipLSTM(cfg, scale * nf), nn.ELU(),
               Conv(cfg, scale * nf, cfg.hidden_size, cfg.last_kernel_size)]
    return Sequential(layers)


def build_decoder(cfg):
    nf = cfg.num_filters
    scale = 2 ** len(cfg.upsampling_ratios)
    layers = [Conv(cfg, cfg.hidden_size, scale * nf, cfg.kernel_size), SkipLSTM(cfg, scale * nf)]
    for ratio in cfg.upsampling_ratios:
        dim = scale * nf
        layers += [nn.ELU(), ConvTranspose(cfg, dim, dim // 2, ratio * 2, ratio)]
        for j in range(cfg.num_residual_layers):
            layers.append(ResidualUnit(cfg, dim // 2, (cfg.dilation_growth_rate**j, 1)))
        scale //= 2
    layers += [nn.ELU(), Conv(cfg, nf, cfg.audio_channels, cfg.last_kernel_size)]
    return Sequential(layers)


class Codebook(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        # Only `embed` is used; the others are the training-time EMA state
        # that the checkpoints carry.
        self.register_buffer("inited", torch.Tensor([True]))
        self.register_buffer("cluster_size", torch.zeros(cfg.codebook_size))
        self.register_buffer("embed", torch.zeros(cfg.codebook_size, cfg.codebook_dim))
        self.register_buffer("embed_avg", torch.zeros(cfg.codebook_size, cfg.codebook_dim))

    def encode(self, r):  # r: [N, D] -> [N] nearest row of embed
        dist = (r.pow(2).sum(1, keepdim=True) - 2 * r @ self.embed.t()
                + self.embed.pow(2).sum(1)[None, :])
        return dist.argmin(dim=1)


class Quantizer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layers = nn.ModuleList(
            [nn.ModuleDict({"codebook": Codebook(cfg)}) for _ in range(cfg.num_quantizers)])

    def encode(self, z, n_q):  # z: [D, T] -> codes [n_q, T]
        residual = z.t()
        codes = []
        for layer in self.layers[:n_q]:
            idx = layer["codebook"].encode(residual)
            residual = residual - layer["codebook"].embed[idx]
            codes.append(idx)
        return torch.stack(codes)

    def decode(self, codes):  # [n_q, T] -> [D, T]
        z = 0
        for q, idx in enumerate(codes):
            z = z + self.layers[q]["codebook"].embed[idx]
        return z.t()


def harmonic_controls(h, f0_min, f0_max):
    """Head output h [.., 1+K, T] -> (f0 [.., T] in Hz, amplitudes [.., K, T]).
    f0 is a sigmoid on a log scale between f0_min and f0_max; amplitudes use
    DDSP's exponentiated sigmoid 2*sigmoid(x)^ln(10), which reaches true
    silence (-80 dB at x = -8) without a floor."""
    f0 = f0_min * (f0_max / f0_min) ** torch.sigmoid(h[..., 0, :])
    amps = 2.0 * torch.sigmoid(h[..., 1:, :]) ** math.log(10.0)
    return f0, amps


def harmonic_synth(h, hop, sr, f0_min, f0_max, first_frame=0, f0=None):
    """A bank of K harmonics with running phase, driven per frame by the head
    output h [B, 1+K, T]; returns [B, (T - first_frame) * hop].

    Frame t's samples glide linearly from frame t-1's controls (frame 0: its
    own) to frame t's, reaching them on the frame's last sample, so a frame's
    audio depends only on frames <= t and a range decode starting at any
    frame is exact. The phase in cycles at sample j of frame t is
        phi = Phi[t] + ((j+1) f_prev + (f_t - f_prev) (j+1)(j+2) / (2 hop)) / sr
    with Phi[0] = 0 and Phi[t+1] = phi at j = hop-1, wrapped to [0, 1).
    Harmonic k sounds only where k * f < sr / 2.

    With `f0` [B, T] given (a pitch codebook's track, pitch_track()), f0
    comes from it and h's channel 0 is ignored: frame t sounds at f0[t] if
    f0[t] > 0, else it is silent at -f0[t] (held from the last note, so a
    release does not glide); a frame after a silent one starts at its own
    f0 (a note does not glide up from the last one under its attack). The C
    backends (rg_op_harmonic) implement exactly this."""
    if f0 is None:
        f0, amps = harmonic_controls(h, f0_min, f0_max)
        f0_prev = torch.cat([f0[:, :1], f0[:, :-1]], 1)
    else:
        voiced = f0 > 0
        _, amps = harmonic_controls(h, f0_min, f0_max)
        amps = amps * voiced[:, None].to(amps.dtype)
        f0 = f0.abs().to(h.dtype)
        was_voiced = torch.cat([voiced[:, :1], voiced[:, :-1]], 1)
        f0_prev = torch.where(was_voiced, torch.cat([f0[:, :1], f0[:, :-1]], 1), f0)
    a_prev = torch.cat([amps[..., :1], amps[..., :-1]], 2)
    d = f0 - f0_prev
    # frame-start phases: a prefix sum, in double so long takes stay exact
    step = (hop * f0_prev.double() + d.double() * (hop + 1) / 2) / sr
    start = torch.cumsum(step, 1) - step
    start = (start - torch.floor(start)).float()
    j = torch.arange(1, hop + 1, dtype=h.dtype)  # j+1
    w = j / hop  # [hop]
    f = f0_prev[..., None] + d[..., None] * w  # [B, T, hop]
    phi = start[..., None] + (j * f0_prev[..., None] + d[..., None] * j * (j + 1) / (2 * hop)) / sr
    phi = phi - torch.floor(phi.detach())
    a = a_prev[..., None] + (amps - a_prev)[..., None] * w  # [B, K, T, hop]
    k = torch.arange(1, amps.shape[1] + 1, dtype=h.dtype)[None, :, None, None]
    kphi = k * phi[:, None]
    kphi = kphi - torch.floor(kphi.detach())
    audible = (k * f[:, None] < sr / 2).to(h.dtype)
    y = (a * audible * torch.sin(2 * math.pi * kphi)).sum(1)  # [B, T, hop]
    return y[:, first_frame:].reshape(y.shape[0], -1)


def midi_hz(midi):
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def pitch_codes(f0, cfg):
    """Per-frame f0 in Hz [..., T] (<= 0: no pitch) -> pitch codes: 0 for no
    pitch, else 1 + the nearest semitone above pitch_midi_min, clamped to the
    codebook's notes (an octave off is still a note)."""
    f0 = torch.as_tensor(f0, dtype=torch.float64)
    midi = torch.round(69.0 + 12.0 * torch.log2(f0.clamp(min=1e-3) / 440.0))
    code = (midi - cfg.pitch_midi_min).clamp(0, cfg.pitch_notes - 1) + 1
    return torch.where(f0 > 0, code, torch.zeros_like(code)).long()


def pitch_track(codes, cfg):
    """Pitch codes [B, T] -> the signed f0 track harmonic_synth plays: +Hz
    for a note, -Hz of the last note (of the lowest note before any) for no
    pitch. Codes past pitch_notes count as no pitch."""
    codes = torch.as_tensor(codes).long()
    voiced = (codes >= 1) & (codes <= cfg.pitch_notes)
    hz = midi_hz(cfg.pitch_midi_min + codes.double() - 1.0)
    out = torch.empty(codes.shape, dtype=torch.float64)
    held = torch.full(codes.shape[:-1], midi_hz(cfg.pitch_midi_min), dtype=torch.float64)
    for t in range(codes.shape[-1]):  # a scan: frames are few
        held = torch.where(voiced[..., t], hz[..., t], held)
        out[..., t] = torch.where(voiced[..., t], held, -held)
    return out.float()


def yin_f0(audio, sr, hop, frames, f0_min=30.0, f0_max=500.0, threshold=0.15):
    """f0 in Hz of each frame's last sample (0 where no clear period), by
    YIN's cumulative mean normalised difference over a window centred there.
    The pitch codes of audio whose notes are not known (a user's stems)."""
    import numpy as np

    x = np.asarray(audio, np.float64).reshape(-1)
    tau_max = int(sr / f0_min)
    tau_min = max(2, int(sr / f0_max))
    w = 2 * tau_max
    padded = np.pad(x, (w, w + frames * hop))
    out = np.zeros(frames, np.float32)
    for t in range(frames):
        c = w + (t + 1) * hop - 1
        seg = padded[c - w // 2: c + w // 2 + tau_max]
        if np.mean(seg[:w] ** 2) < 1e-6:
            continue
        a = seg[:w]
        d = np.array([np.sum((a - seg[tau:tau + w]) ** 2) for tau in range(tau_max + 1)])
        cm = d[1:] * np.arange(1, tau_max + 1) / np.maximum(np.cumsum(d[1:]), 1e-12)
        cm = np.concatenate([[1.0], cm])
        below = np.nonzero(cm[tau_min:] < threshold)[0]
        if not len(below):
            continue
        tau = tau_min + below[0]
        while tau + 1 <= tau_max and cm[tau + 1] < cm[tau]:
            tau += 1
        if 1 <= tau < tau_max:  # parabolic refinement
            a0, b0, c0 = cm[tau - 1], cm[tau], cm[tau + 1]
            den = a0 - 2 * b0 + c0
            tau = tau + (0.5 * (a0 - c0) / den if den > 0 else 0.0)
        out[t] = sr / tau
    return out


def held_codes(codes, silence):
    """The codes the harmonic head reads under the generator's sustain lock
    (lm.sustain): where a frame's other rows are the silence codes while
    the pitch row holds the previous frame's note, they are the previous
    frame's (so, back to the note's last sounding frame): the oscillator
    keeps the harmonics the note's attack gave it while the acoustic path
    is silent. None when no frame is so (codes [rows, T], pitch row last)."""
    rvq = codes.shape[0] - 1
    quiet = torch.as_tensor(silence[:rvq], dtype=codes.dtype)
    out, changed = codes.clone(), False
    for t in range(1, codes.shape[1]):
        if int(codes[-1, t]) != 0 and codes[-1, t] == codes[-1, t - 1] and torch.equal(codes[:rvq, t], quiet):
            out[:rvq, t] = out[:rvq, t - 1]
            changed = True
    return out if changed else None


def silence_codes(model):
    """[rows] ints: the code of each code row for silence, as the encoder
    gives it away from the edges (the middle frame of a second of zeros;
    a pitch row's is 0, no pitch). The generator's sustain lock writes
    them into a held note's acoustic rows (track_context.silence_codes)."""
    c = model.cfg
    with torch.no_grad():
        codes = model.encode(torch.zeros(c.audio_channels, c.sampling_rate),
                             f0=torch.zeros(1) if c.pitch_codebook else None)
    return [int(v) for v in codes[:, codes.shape[1] // 2]]


class EncodecRef(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        # the model's silence codes (track_context.silence_codes), when its
        # config names them: decode() then holds the harmonic head under the
        # generator's sustain lock (held_codes)
        self.silence = None
        self.encoder = build_encoder(cfg)
        self.decoder = build_decoder(cfg)
        self.quantizer = Quantizer(cfg)
        if cfg.harmonic_bins:
            if cfg.audio_channels != 1:
                raise ValueError("harmonic_bins needs a mono codec")
            out = 1 + cfg.harmonic_bins
            if cfg.harmonic_hidden:
                self.harmonic_head = nn.Sequential(nn.Conv1d(cfg.hidden_size, cfg.harmonic_hidden, 1), nn.ELU(),
                                                   nn.Conv1d(cfg.harmonic_hidden, out, 1))
            else:
                self.harmonic_head = nn.Conv1d(cfg.hidden_size, out, 1)

    def harmonic(self, z):  # [B, D, T] -> [B, 1+K, T] head output
        return self.harmonic_head(z)

    def render(self, z, pitch=None, z_harmonic=None):
        """Quantised latent [B, D, T] (and pitch codes [B, T] for a pitch
        codebook) -> audio [B, C, T * hop]; the harmonic head reads
        z_harmonic instead of z when it is given."""
        y = self.decoder(z)
        if self.cfg.harmonic_bins:
            c = self.cfg
            f0 = pitch_track(pitch, c) if c.pitch_codebook else None
            head = self.harmonic(z if z_harmonic is None else z_harmonic)
            y = y + harmonic_synth(head, c.hop_length, c.sampling_rate,
                                   c.harmonic_f0_min, c.harmonic_f0_max, f0=f0)[:, None]
        return y

    def latent(self, audio):  # [C, L] -> [D, T]
        return self.encoder(audio[None])[0]

    def encode(self, audio, bandwidth=None, f0=None):
        """[C, L] -> codes [n_q, T] (int64); with a pitch codebook one more
        row, the pitch codes of `f0` (per-frame Hz, known notes) or, without
        it, of the audio's YIN pitch."""
        codes = self.quantizer.encode(self.latent(audio), self.cfg.quantizers_for_bandwidth(bandwidth))
        if not self.cfg.pitch_codebook:
            return codes
        c = self.cfg
        if f0 is None:
            f0 = yin_f0(audio.detach().numpy()[0], c.sampling_rate, c.hop_length, codes.shape[1])
        f0 = torch.as_tensor(f0, dtype=torch.float32)[:codes.shape[1]]
        f0 = F.pad(f0, (0, codes.shape[1] - f0.shape[0]))
        return torch.cat([codes, pitch_codes(f0, c)[None]], 0)

    def decode(self, codes):  # [n_q(+1), T] -> [C, T * hop]
        if self.cfg.pitch_codebook:
            z = self.quantizer.decode(codes[:-1])[None]
            held = held_codes(codes, self.silence) if self.silence is not None else None
            zh = self.quantizer.decode(held[:-1])[None] if held is not None else None
            return self.render(z, codes[-1:], zh)[0]
        return self.render(self.quantizer.decode(codes)[None])[0]


def load_state_dict(model, state):
    """Accept both weight-norm spellings and a MusicGen `audio_encoder.` prefix."""
    fixed = {}
    for name, tensor in state.items():
        if name.startswith("audio_encoder."):
            name = name[len("audio_encoder."):]
        elif any(name.startswith(p) for p in ("decoder.model.", "decoder.lm_heads.",
                                               "text_encoder.", "enc_to_dec_proj.")):
            continue
        name = name.replace("parametrizations.weight.original0", "weight_g")
        name = name.replace("parametrizations.weight.original1", "weight_v")
        fixed[name] = tensor.float()
    model.load_state_dict(fixed)


def read_safetensors(path):
    """name -> float32 tensor, for F32/F16/BF16 files (enough for EnCodec)."""
    import json
    import struct

    import numpy as np

    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    base = 8 + header_len
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[base + begin : base + end]
        if info["dtype"] == "BF16":
            bits = np.frombuffer(raw, np.uint16).astype(np.uint32) << 16
            array = bits.view(np.float32)
        else:
            dtype = {"F32": np.float32, "F16": np.float16, "F64": np.float64,
                     "I32": np.int32, "I64": np.int64}[info["dtype"]]
            array = np.frombuffer(raw, dtype)
        tensors[name] = torch.from_numpy(array.astype(np.float32).reshape(info["shape"]))
    return tensors


def load(model_dir):
    """An EncodecRef from a folder with config.json and model.safetensors."""
    import json
    import os

    with open(os.path.join(model_dir, "config.json")) as f:
        conf = json.load(f)
    model = EncodecRef(Config(conf)).eval()
    load_state_dict(model, read_safetensors(os.path.join(model_dir, "model.safetensors")))
    model.silence = conf.get("track_context", {}).get("silence_codes")
    return model


def bench(model_dir, seconds, repeats):
    """Real-time factors (audio seconds per compute second) of encode and
    decode, best of `repeats`, printed as one JSON line."""
    import json
    import time

    model = load(model_dir)
    gen = torch.Generator().manual_seed(0)
    audio = 0.1 * torch.randn(model.cfg.audio_channels,
                              int(seconds * model.cfg.sampling_rate), generator=gen)
    best = {"encode": float("inf"), "decode": float("inf")}
    with torch.no_grad():
        codes = model.encode(audio)
        for _ in range(repeats):
            start = time.perf_counter()
            codes = model.encode(audio)
            best["encode"] = min(best["encode"], time.perf_counter() - start)
            start = time.perf_counter()
            model.decode(codes)
            best["decode"] = min(best["decode"], time.perf_counter() - start)
    print(json.dumps({"impl": "pytorch " + torch.__version__, "threads": torch.get_num_threads(),
                      "seconds": seconds, "encode_rtf": seconds / best["encode"],
                      "decode_rtf": seconds / best["decode"]}))


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="EnCodec reference: timing")
    parser.add_argument("--bench", metavar="MODEL_DIR", required=True)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    bench(args.bench, args.seconds, args.repeats)
