#!/usr/bin/env python3
"""PyTorch side of the CNN throughput comparisons: the peer's MVCNN (imported from
../shared/peer/peer_cnn.py) trained on random views exactly as `examples/cnn_speed.rs` trains
shapeclf's: --shapes shapes of V views at R x R (--in-channels channels each), batch 16, Adam,
one epoch per sample; then inference over the same shapes. Prints shapes/s (median of --reps
epochs). `scripts/cnn_bench.sh` runs it on the CPU beside shapeclf; `scripts/gpu_bench.sh` runs
it with --device cuda, where the views stay on the GPU and each epoch ends with a synchronise."""
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
ap.add_argument("--device", default="cpu", help="cpu or cuda")
ap.add_argument("--in-channels", type=int, default=1,
                help="channels per view (2: depth and shading, as under --align pca)")
ap.add_argument("--channels", default="32,64,128",
                help="the three conv blocks' widths (the peer's are 32,64,128; shapeclf's "
                     "default is 16,32,64): the peer's network with its layers resized")
args = ap.parse_args()
sys.path.insert(0, args.peer)
import peer_cnn

torch.set_num_threads(args.threads)
torch.manual_seed(0)
dev = torch.device(args.device)
cuda = dev.type == "cuda"
channels_last = not args.no_channels_last
model = peer_cnn.build_model(args.classes, channels_last=channels_last)
C = args.in_channels
widths = [int(w) for w in args.channels.split(",")]
if C != 1 or widths != [32, 64, 128]:
    # The peer's network with C input channels per view and the given widths: each block's
    # convolution and batch norm, and the view-level linear layer, rebuilt at those sizes.
    net = model.view_net
    convs = [i for i, m in enumerate(net) if isinstance(m, nn.Conv2d)]
    norms = [i for i, m in enumerate(net) if isinstance(m, nn.BatchNorm2d)]
    lin = [i for i, m in enumerate(net) if isinstance(m, nn.Linear)][0]
    assert len(convs) == len(widths) == len(norms), "one width per conv block"
    cin = C
    for ci, ni, w in zip(convs, norms, widths):
        net[ci] = nn.Conv2d(cin, w, 3, padding=1, bias=False)
        net[ni] = nn.BatchNorm2d(w)
        cin = w
    old = net[lin]
    grid_cells = old.in_features // 128
    net[lin] = nn.Linear(widths[-1] * grid_cells, old.out_features)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)


def forward(x):  # x: (B, V * C, R, R), each view's channels side by side
    B, VC, H, W = x.shape
    x = x.reshape(B * (VC // C), C, H, W)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    f = model.view_net(x).reshape(B, VC // C, -1).max(dim=1).values
    return model.cls(model.drop(f))


model = model.to(dev)
opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
lossf = nn.CrossEntropyLoss()
X = torch.rand(args.shapes, args.views * C, args.res, args.res, device=dev)
y = (torch.arange(args.shapes) % args.classes).to(dev)


def sync():
    if cuda:
        torch.cuda.synchronize()


times = []
for rep in range(args.reps + 1):
    model.train()
    sync()
    t0 = time.perf_counter()
    perm = torch.randperm(args.shapes, device=dev)
    for i in range(0, args.shapes, args.batch):
        idx = perm[i:i + args.batch]
        opt.zero_grad(set_to_none=True)
        loss = lossf(forward(X[idx]), y[idx])
        loss.backward()
        opt.step()
    sync()
    if rep > 0:  # first epoch warms up
        times.append(time.perf_counter() - t0)
med = float(np.median(times))
# Inference: evaluation mode, no autograd, the same batches.
model.eval()
itimes = []
with torch.inference_mode():
    for rep in range(args.reps + 1):
        sync()
        t0 = time.perf_counter()
        for i in range(0, args.shapes, args.batch):
            forward(X[i:i + args.batch])
        sync()
        if rep > 0:
            itimes.append(time.perf_counter() - t0)
imed = float(np.median(itimes))
where = torch.cuda.get_device_name(dev) if cuda else "%d threads" % args.threads
print("torch %s, %s, channels %s, channels_last=%s: epoch of %d shapes (%d views x %d channels %dx%d, batch %d) "
      "median %.3f s = %.1f shapes/s; inference %.1f shapes/s"
      % (torch.__version__, where, args.channels, channels_last, args.shapes, args.views, C,
         args.res, args.res, args.batch, med, args.shapes / med, args.shapes / imed))
