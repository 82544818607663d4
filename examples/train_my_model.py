"""A researcher's own training script (plain PyTorch): train one of my_models on Fashion-MNIST and save the weights
with ``torch.save(model.state_dict(), path)``; svprune's workflow then starts its pruning walks from them
(``model.checkpoint``). Run from the repository root:

    PYTHONPATH=examples python examples/train_my_model.py --out results/own-model/small_resnet.pt
"""

import argparse
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

import my_models


def fashion_mnist(root="/usr/share/datasets/fashion-mnist"):
    """Fashion-MNIST's training images (N, 1, 28, 28) in [0, 1] and labels, from its MNIST-format files."""
    import gzip

    def read(name):
        path = os.path.join(root, name)
        raw = gzip.open(path + ".gz").read() if os.path.exists(path + ".gz") else open(path, "rb").read()
        dims = raw[3]
        shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
        return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)

    x = read("train-images-idx3-ubyte").astype(np.float32)[:, None] / 255.0
    return torch.from_numpy(x), torch.from_numpy(read("train-labels-idx1-ubyte").astype(np.int64))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="small_resnet")
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--root", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.manual_seed(0)
    x, y = fashion_mnist(args.root)
    model = getattr(my_models, args.model)(num_classes=10, width=args.width)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            idx = order[i: i + 128]
            optimizer.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            acc = float((model(x[:5000]).argmax(1) == y[:5000]).float().mean())
        print(f"epoch {epoch + 1}: training accuracy (first 5,000 images) {acc:.4f}, {time.time() - start:.0f} s")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save(model.state_dict(), args.out)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
