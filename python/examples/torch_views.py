"""A PyTorch ``Dataset`` of shapeclf's depth views, and a small multi-view CNN trained on it.

    python torch_views.py MESH_ROOT [EPOCHS]

MESH_ROOT holds ``<class>/train/<mesh>`` and ``<class>/test/<mesh>`` (``shapeclf synth meshes``
makes one). Each item is ``render_views`` of one mesh: ``float32 [views, channels, res, res]``,
the pixels ``shapeclf features`` writes, rendered on the fly (the GIL is released meanwhile, so
DataLoader workers in threads or processes both work).
"""

import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

import shapeclf

EXTENSIONS = {".obj", ".off", ".stl", ".ply", ".glb", ".gltf"}


class MeshViews(Dataset):
    """The meshes of one split of a dataset folder, as (views, class index)."""

    def __init__(self, root, split, res=32, align=None, channels=None):
        root = Path(root)
        # As the command line finds classes: folders, hidden ones (.ipynb_checkpoints) skipped,
        # so class indices match a model `shapeclf train` made.
        self.classes = sorted(
            p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
        )
        self.items = [
            (f, k)
            for k, c in enumerate(self.classes)
            for f in sorted((root / c / split).glob("*"))
            if f.suffix.lower() in EXTENSIONS
        ]
        self.settings = dict(res=res, align=align, channels=channels)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        path, label = self.items[i]
        views = shapeclf.render_views(path, dtype="float32", **self.settings)
        return torch.from_numpy(views), label


class MultiViewCNN(nn.Module):
    """MVCNN: one small CNN over every view, max-pooled across views, then a linear layer."""

    def __init__(self, channels, classes, width=32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classify = nn.Linear(2 * width, classes)

    def forward(self, x):  # x: [batch, views, channels, res, res]
        b, v = x.shape[:2]
        f = self.features(x.flatten(0, 1)).view(b, v, -1)
        return self.classify(f.max(dim=1).values)


def main(root, epochs=10, seed=0):
    torch.manual_seed(seed)
    train, test = MeshViews(root, "train"), MeshViews(root, "test")
    channels = train[0][0].shape[1]
    net = MultiViewCNN(channels, len(train.classes))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    loader = DataLoader(train, batch_size=8, shuffle=True)
    for epoch in range(epochs):
        net.train()
        total = 0.0
        for x, y in loader:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            total += loss.item() * len(y)
        print(f"epoch {epoch + 1}: loss {total / len(train):.3f}")
    net.eval()
    with torch.no_grad():
        right = sum(int(net(x).argmax(1).eq(y).sum()) for x, y in DataLoader(test, batch_size=16))
    print(f"test accuracy {right / len(test):.3f} on {len(test)} meshes")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) == 3 else 10)
