"""A researcher's own training script (plain PyTorch): train one of my_models on Fashion-MNIST, keeping the last
1,000 training images out of training as a validation split, and save the weights with
``torch.save(model.state_dict(), path)`` and the data splits as arrays (x_train, y_train, x_val, y_val, x_test,
y_test in an .npz). svprune's workflow then reads the arrays (``dataset.name: arrays``) and starts its pruning walks
from the weights (``model.checkpoint``), its payoffs computed on the images the model never trained on. Run from the
repository root:

    PYTHONPATH=examples python examples/train_my_model.py --out results/own-model/small_resnet.pt \
        --data-out results/own-model/fashion_mnist.npz
"""

import argparse
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

import my_models


def fashion_mnist(root="/usr/share/datasets/fashion-mnist", part="train"):
    """Fashion-MNIST's images (N, 1, 28, 28) in [0, 1] and labels, from its MNIST-format files."""
    import gzip

    def read(name):
        path = os.path.join(root, name)
        raw = gzip.open(path + ".gz").read() if os.path.exists(path + ".gz") else open(path, "rb").read()
        dims = raw[3]
        shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
        return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)

    prefix = "train" if part == "train" else "t10k"
    x = read(f"{prefix}-images-idx3-ubyte").astype(np.float32)[:, None] / 255.0
    return torch.from_numpy(x), torch.from_numpy(read(f"{prefix}-labels-idx1-ubyte").astype(np.int64))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="small_resnet")
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--root", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--validation", type=int, default=1000, help="last training images held out")
    parser.add_argument("--out", required=True, help="the weights (a state_dict)")
    parser.add_argument("--data-out", required=True, help="the splits as arrays (.npz)")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    x_all, y_all = fashion_mnist(args.root)
    x, y = x_all[: -args.validation], y_all[: -args.validation]
    x_test, y_test = fashion_mnist(args.root, "test")
    os.makedirs(os.path.dirname(os.path.abspath(args.data_out)), exist_ok=True)
    np.savez_compressed(args.data_out, x_train=x.numpy(), y_train=y.numpy(), x_val=x_all[-args.validation:].numpy(),
                        y_val=y_all[-args.validation:].numpy(), x_test=x_test.numpy(), y_test=y_test.numpy())
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
            held = x_all[-args.validation:], y_all[-args.validation:]
            acc = float((model(held[0]).argmax(1) == held[1]).float().mean())
        print(f"epoch {epoch + 1}: held-out accuracy {acc:.4f}, {time.time() - start:.0f} s", flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save(model.state_dict(), args.out)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
