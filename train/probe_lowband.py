#!/usr/bin/python3
"""The diagnostic behind the codec's loss fix (docs/training.md, "The log
floor and the bass"): can a codec learn the bass's waveform on one fixed
batch of bass crops, with a low-passed waveform MSE alone or beside the
log-mel loss at a given floor? Prints the low-band SNR every 20 steps.

    train/probe_lowband.py CODEC_CHECKPOINT --steps 120                  # MSE alone
    train/probe_lowband.py CODEC_CHECKPOINT --steps 80 --mel-eps 1e-5    # + log-mel, old floor
    train/probe_lowband.py CODEC_CHECKPOINT --steps 80 --mel-eps 0.1     # + log-mel, new floor

The figures in docs/training.md came from the second checkpoint's codec
(codec_first.json, 1450 steps), quantised, low-pass at 500 Hz, weight 100.
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import codec  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--mel-eps", type=float, help="add the log-mel loss with this floor")
    ap.add_argument("--weight", type=float, default=100.0, help="of the low-passed MSE beside the mel loss")
    ap.add_argument("--hz", type=float, default=500.0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    _, t = codec.load_config(os.path.join(HERE, "configs", "codec_v3_stage1.json"))
    m = codec.load_checkpoint_model(a.checkpoint).train()
    sr = m.cfg.sampling_rate
    x = codec.batch_at(codec.SongPool(t, sr, ["bass"]), t, 3, m.cfg.hop_length)
    low = codec.lowpass(x[:, 0], a.hz, sr)
    mel = codec.MelLoss(sr, t["mel_sizes"], t["n_mels"], a.mel_eps) if a.mel_eps is not None else None
    opt = torch.optim.Adam(m.parameters(), lr=1e-3, betas=(0.5, 0.9))
    for step in range(a.steps + 1):
        gen = torch.Generator().manual_seed(step)
        zq, _, _, _ = codec.quantize(m, m.encoder(x), t, gen, train=True)
        y = m.decoder(zq)[:, 0]
        y_low = codec.lowpass(y, a.hz, sr)
        if step % 20 == 0:
            err = float(((low - y_low.detach()) ** 2).sum())
            print(f"step {step} low-band SNR {10 * np.log10(float((low ** 2).sum()) / err):.1f} dB", flush=True)
        loss = F.mse_loss(y_low, low) if mel is None else a.weight * F.mse_loss(y_low, low) + mel(y, x[:, 0])
        opt.zero_grad()
        loss.backward()
        opt.step()


if __name__ == "__main__":
    main()
