#!/usr/bin/env python3
"""PyTorch CPU side of the CNN throughput comparison: the peer's MVCNN (imported from
../shared/peer/peer_cnn.py, or an architecture given by --channels) trained on random views
exactly as `examples/cnn_speed.rs` trains shapeclf's: 64 shapes of V views at R x R, batch 16,
Adam, one epoch per sample; then inference over the same shapes. Prints shapes/s (median of
--reps epochs). `scripts/cnn_bench.sh` runs it beside shapeclf."""
import argparse, os, sys, time
import numpy as np
import torch
import torch.nn as nn

ap = argparse.ArgumentParser()
ap.add_argument("--peer", default=os.path.join(os.path.dirname(__file__), "../../shared/peer"))
ap.add_argument("--views", type=int, default=12)
ap.add_argument("--res", type=int, default=32)
ap.add_argument("--shapes", type=int, default=64)
ap.add_argument("--batch", type=int, default=16)
ap.add_argument("--classes", type=int, default=10)
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--no-channels-last", action="store_true")
args = ap.parse_args()
sys.path.insert(0, args.peer)
import peer_cnn

torch.set_num_threads(args.threads)
torch.manual_seed(0)
model = peer_cnn.build_model(args.classes, channels_last=not args.no_channels_last)
opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
lossf = nn.CrossEntropyLoss()
X = torch.rand(args.shapes, args.views, args.res, args.res)
y = torch.arange(args.shapes) % args.classes
times = []
for rep in range(args.reps + 1):
    model.train()
    t0 = time.perf_counter()
    perm = torch.randperm(args.shapes)
    for i in range(0, args.shapes, args.batch):
        idx = perm[i:i + args.batch]
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(X[idx]), y[idx])
        loss.backward()
        opt.step()
    if rep > 0:  # first epoch warms up
        times.append(time.perf_counter() - t0)
med = float(np.median(times))
# Inference: evaluation mode, no autograd, the same batches.
model.eval()
itimes = []
with torch.inference_mode():
    for rep in range(args.reps + 1):
        t0 = time.perf_counter()
        for i in range(0, args.shapes, args.batch):
            model(X[i:i + args.batch])
        if rep > 0:
            itimes.append(time.perf_counter() - t0)
imed = float(np.median(itimes))
print("torch %s, %d threads, channels_last=%s: epoch of %d shapes (%d views %dx%d, batch %d) "
      "median %.3f s = %.1f shapes/s; inference %.1f shapes/s"
      % (torch.__version__, args.threads, not args.no_channels_last, args.shapes, args.views,
         args.res, args.res, args.batch, med, args.shapes / med, args.shapes / imed))
