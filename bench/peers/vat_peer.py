#!/usr/bin/env python3
"""vat_peer: vatgpu's model and VAT training step in PyTorch, for side-by-side timing.

The model, loss and optimizer follow vatgpu exactly (layers/model.go, vat/vat.go,
vat/train.go, the Backend docs in layers/backend.go):

    conv 3x3x32 (valid) - ReLU - conv 3x3x32 - ReLU - maxpool 2 - [dropout 0.25]
    - flatten (4608) - dense 128 - ReLU - [dropout 0.5] - dense 10 (logits)

    ce       = mean_batch cross-entropy(logits, y)
    p        = softmax(clean logits), held constant
    d        ~ N(0, I)
    repeat ip times:  d <- grad_d sum_batch KL(p || softmax(model(x + xi*normalise(d))))
                      (through the normalisation, as the Keras seed does)
    r_adv    = eps*normalise(d),  normalise(d) = d / (||d||_2 per sample + 1e-7)
    loss_vat = mean_batch KL(p || softmax(model(x + r_adv)))
    loss     = ce + weight*loss_vat;  one backward;  Adadelta(lr 1, rho 0.95, eps 1e-8)

Glorot-uniform weights (conv fans C*3*3 and K*3*3), zero biases. With dropout, each
forward pass draws its own masks (training mode), as in vatgpu.

Runs on PyTorch 1.13 (Debian's python3-torch, CPU) and on 2.x with CUDA; nothing newer
than 1.13 is used unless asked for (--compile).

Modes:
    (default)        time a plain step (ce only) and a VAT step; median of --steps
    --train-epochs E train E epochs (on the first --limit images) and report test accuracy
    --check          quick self-test of the VAT direction and the optimizer; exit 1 on failure
"""

import argparse
import gzip
import json
import math
import os
import platform
import statistics
import struct
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

IMAGE_SIDE = 28
IMAGE_LEN = IMAGE_SIDE * IMAGE_SIDE
CLASSES = 10
FILTERS = 32
HIDDEN = 128
FLAT = FILTERS * 12 * 12  # 4608
DROP1, DROP2 = 0.25, 0.5
NORM_EPS = 1e-7  # Keras's epsilon in d / (||d|| + eps)
EPOCH_IMAGES = 60000


class Net(nn.Module):
    """Net is the seed's CNN; forward returns logits (N x 10) for N x 1 x 28 x 28 images."""

    def __init__(self, dropout):
        super().__init__()
        self.dropout = dropout
        self.conv1 = nn.Conv2d(1, FILTERS, 3)
        self.conv2 = nn.Conv2d(FILTERS, FILTERS, 3)
        self.dense1 = nn.Linear(FLAT, HIDDEN)
        self.dense2 = nn.Linear(HIDDEN, CLASSES)
        for m in (self.conv1, self.conv2, self.dense1, self.dense2):
            # xavier_uniform_ uses fan_in = C*R*S, fan_out = K*R*S for convolutions and
            # in, out for dense layers: the Glorot limit sqrt(6/(fan_in+fan_out)) of Keras.
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x):
        h = F.relu(self.conv1(x))                   # N x 32 x 26 x 26
        h = F.relu(self.conv2(h))                   # N x 32 x 24 x 24
        h = F.max_pool2d(h, 2)                      # N x 32 x 12 x 12
        if self.dropout:
            h = F.dropout(h, DROP1, self.training)
        h = torch.flatten(h, 1)                     # N x 4608, channel-major as in vatgpu
        h = F.relu(self.dense1(h))                  # N x 128
        if self.dropout:
            h = F.dropout(h, DROP2, self.training)
        return self.dense2(h)                       # N x 10


def normalise(d):
    """normalise returns d / (||d||_2 + 1e-7), the norm taken per sample."""
    n = d.flatten(1).norm(dim=1).view(-1, *([1] * (d.dim() - 1)))
    return d / (n + NORM_EPS)


def kl_rows(logp, logits_q):
    """kl_rows returns KL(p || softmax(logits_q)) per row, p = exp(logp) held constant."""
    return (logp.exp() * (logp - F.log_softmax(logits_q, dim=1))).sum(dim=1)


def vat_direction(model, x, logp, xi, ip):
    """vat_direction returns d after ip power iterations from d ~ N(0, I).

    Each iteration takes the gradient of sum_batch KL(p || p(x + xi*normalise(d))) with
    respect to d itself, through the normalisation (the seed's NormL2). autograd.grad
    computes only the input gradients, not those of the parameters, as vatgpu does.
    """
    d = torch.randn_like(x)
    for _ in range(ip):
        d.requires_grad_(True)
        kl = kl_rows(logp, model(x + xi * normalise(d))).sum()
        (d,) = torch.autograd.grad(kl, d)
    return d


def vat_loss(model, x, logits_clean, xi, eps, ip):
    """vat_loss returns mean_batch KL(p || p(x + r_adv)) with p from logits_clean (detached)."""
    logp = F.log_softmax(logits_clean.detach(), dim=1)
    d = vat_direction(model, x, logp, xi, ip)
    r_adv = eps * normalise(d)
    return kl_rows(logp, model(x + r_adv)).mean()


def make_optimizer(model):
    # torch's Adadelta is Keras 1.2.2's (and vatgpu's) formula:
    # a = rho*a + (1-rho)*g^2; u = g*sqrt(da+eps)/sqrt(a+eps); p -= lr*u; da = rho*da + (1-rho)*u^2.
    return torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-8)


def train_step(model, opt, x, y, vat, args):
    """train_step runs one step (training mode) and returns the loss parts as tensors (no sync)."""
    opt.zero_grad(set_to_none=True)
    logits = model(x)
    ce = F.cross_entropy(logits, y)
    loss = ce
    lv = None
    if vat:
        lv = vat_loss(model, x, logits, args.xi, args.eps, args.ip)
        loss = ce + args.vat_weight * lv
    loss.backward()
    opt.step()
    return ce, lv, logits


# ---------------------------------------------------------------- data


def _open(path):
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def _find(folder, name):
    for n in (name + ".gz", name):
        p = os.path.join(folder, n)
        if os.path.exists(p):
            return p
    raise SystemExit("vat_peer: no %s(.gz) in %s" % (name, folder))


def read_idx(path, limit):
    """read_idx returns the first limit items (all if limit <= 0) of an IDX file as uint8."""
    with _open(path) as f:
        magic = struct.unpack(">I", f.read(4))[0]
        if magic >> 8 != 0x08:  # unsigned byte data
            raise SystemExit("vat_peer: %s: not an IDX file of bytes (magic %#x)" % (path, magic))
        dims = struct.unpack(">" + "I" * (magic & 0xFF), f.read(4 * (magic & 0xFF)))
        data = np.frombuffer(f.read(), dtype=np.uint8)
    if data.size != int(np.prod(dims)):
        raise SystemExit("vat_peer: %s: %d bytes of data, header says %s" % (path, data.size, dims))
    data = data.reshape(dims)
    return data[:limit] if limit > 0 else data


def load_set(folder, prefix, limit):
    """load_set returns (images N x 1 x 28 x 28 float32 in [0,1], labels int64) as tensors."""
    x = read_idx(_find(folder, prefix + "-images-idx3-ubyte"), limit)
    y = read_idx(_find(folder, prefix + "-labels-idx1-ubyte"), limit)
    if len(x) != len(y):
        raise SystemExit("vat_peer: %s: %d images but %d labels" % (prefix, len(x), len(y)))
    x = torch.from_numpy(x.astype(np.float32) / 255.0).view(-1, 1, IMAGE_SIDE, IMAGE_SIDE)
    return x, torch.from_numpy(y.astype(np.int64))


def default_data():
    """default_data returns the GoMNIST module's data folder, as vatgpu train uses, or None."""
    cache = os.environ.get("GOMODCACHE")
    if not cache:
        try:
            cache = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True,
                                   check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None
    p = os.path.join(cache, "github.com/petar/!go!m!n!i!s!t@v0.0.0-20150320212226-2fbe10d0fa63/data")
    return p if os.path.isdir(p) else None


# ---------------------------------------------------------------- device


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def setup(args):
    """setup applies the device settings and returns (torch.device, info dict)."""
    torch.set_num_threads(args.threads)
    info = {"framework": "pytorch", "torch_version": torch.__version__, "threads": torch.get_num_threads()}
    if args.device == "cpu":
        info["device"] = "cpu: " + cpu_name()
        return torch.device("cpu"), info
    if not torch.cuda.is_available():
        raise SystemExit("vat_peer: --device cuda, but torch %s sees no CUDA device" % torch.__version__)
    dev = torch.device("cuda", args.gpu)
    torch.cuda.set_device(dev)
    # vatgpu's default is strict FP32 (no TF32) and cudnnFind algorithm selection;
    # --tf32 and --deterministic mirror its options.
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cudnn.benchmark = not args.deterministic
    torch.backends.cudnn.deterministic = args.deterministic
    info["device"] = "gpu %d: %s" % (dev.index, torch.cuda.get_device_name(dev))
    info["cuda_version"] = torch.version.cuda
    info["cudnn_version"] = torch.backends.cudnn.version()
    info["tf32"] = args.tf32
    info["deterministic"] = args.deterministic
    return dev, info


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def build_model(args, dev):
    torch.manual_seed(args.seed)
    model = Net(args.dropout).to(dev)
    model.train()
    fwd = model
    if args.compile:
        if not hasattr(torch, "compile"):
            raise SystemExit("vat_peer: --compile needs PyTorch 2, this is %s" % torch.__version__)
        fwd = torch.compile(model)
    return model, fwd


# ---------------------------------------------------------------- modes


def bench(args, dev, info):
    """bench times plain and VAT steps and returns the report."""
    model, fwd = build_model(args, dev)
    opt = make_optimizer(model)
    # A few batches resident on the device, cycled, as vatgpu keeps its data there.
    nb = 4
    if args.data:
        x, y = load_set(args.data, "train", nb * args.batch)
        if len(x) < nb * args.batch:
            raise SystemExit("vat_peer: %s holds fewer than %d images" % (args.data, nb * args.batch))
    else:
        g = torch.Generator().manual_seed(args.seed)
        x = torch.rand(nb * args.batch, 1, IMAGE_SIDE, IMAGE_SIDE, generator=g)
        y = torch.randint(0, CLASSES, (nb * args.batch,), generator=g)
    xs = [t.to(dev) for t in x.split(args.batch)]
    ys = [t.to(dev) for t in y.split(args.batch)]

    def timed(vat):
        for i in range(args.warmup):
            train_step(fwd, opt, xs[i % nb], ys[i % nb], vat, args)
        ms = []
        for i in range(args.steps):
            sync(dev)
            t0 = time.perf_counter()
            train_step(fwd, opt, xs[i % nb], ys[i % nb], vat, args)
            sync(dev)
            ms.append(1e3 * (time.perf_counter() - t0))
        return ms

    ms_plain = timed(False)
    ms_vat = timed(True)
    mp, mv = statistics.median(ms_plain), statistics.median(ms_vat)
    r = dict(info)
    r.update({
        "batch": args.batch, "steps": args.steps, "warmup": args.warmup, "dropout": args.dropout,
        "xi": args.xi, "eps": args.eps, "ip": args.ip,
        "plain_images_per_sec": args.batch / (mp / 1e3),
        "vat_images_per_sec": args.batch / (mv / 1e3),
        "vat_over_plain": mv / mp,
        "ms_per_step_plain": mp,
        "ms_per_step_vat": mv,
        "ms_per_step_plain_min": min(ms_plain),
        "ms_per_step_vat_min": min(ms_vat),
        "epoch_seconds_vat": EPOCH_IMAGES / (args.batch / (mv / 1e3)),
    })
    return r


def evaluate(model, x, y, dev):
    """evaluate returns the mean cross-entropy and accuracy on (x, y), dropout off."""
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for xb, yb in zip(x.split(500), y.split(500)):
            xb, yb = xb.to(dev), yb.to(dev)
            logits = model(xb)
            loss += F.cross_entropy(logits, yb, reduction="sum").item()
            correct += (logits.argmax(1) == yb).sum().item()
    model.train()
    return loss / len(x), correct / len(x)


def train(args, dev, info):
    """train runs --train-epochs epochs (like vatgpu train) and returns the report."""
    folder = args.data or default_data()
    if not folder:
        raise SystemExit("vat_peer: --train-epochs needs --data (no GoMNIST module data found)")
    xtr, ytr = load_set(folder, "train", args.limit)
    xte, yte = load_set(folder, "t10k", args.limit)
    model, fwd = build_model(args, dev)
    opt = make_optimizer(model)
    xtr_d, ytr_d = xtr.to(dev), ytr.to(dev)
    shuffle = torch.Generator().manual_seed(args.seed)
    n = len(xtr)
    epochs = []
    for e in range(1, args.train_epochs + 1):
        perm = torch.randperm(n, generator=shuffle).to(dev)
        ce_sum = torch.zeros((), device=dev)
        kl_sum = torch.zeros((), device=dev)
        correct = torch.zeros((), dtype=torch.int64, device=dev)
        sync(dev)
        t0 = time.perf_counter()
        for off in range(0, n, args.batch):  # the last batch may be short, as in Keras
            idx = perm[off:off + args.batch]
            xb, yb = xtr_d[idx], ytr_d[idx]
            ce, lv, logits = train_step(fwd, opt, xb, yb, args.vat, args)
            k = len(idx)
            ce_sum += ce.detach() * k
            if lv is not None:
                kl_sum += lv.detach() * k
            correct += (logits.detach().argmax(1) == yb).sum()
        sync(dev)
        secs = time.perf_counter() - t0
        ce_m, kl_m = ce_sum.item() / n, kl_sum.item() / n
        if not (math.isfinite(ce_m) and math.isfinite(kl_m)):
            raise SystemExit("vat_peer: epoch %d: non-finite loss: cross-entropy %g, vat %g" % (e, ce_m, kl_m))
        t1 = time.perf_counter()
        tl, ta = evaluate(model, xte, yte, dev)
        rec = {"epoch": e, "loss": ce_m + args.vat_weight * kl_m, "ce": ce_m, "vat": kl_m,
               "train_acc": correct.item() / n, "test_loss": tl, "test_acc": ta,
               "seconds": secs, "eval_seconds": time.perf_counter() - t1, "images_per_sec": n / secs}
        epochs.append(rec)
        if not args.json:
            print("epoch %d: loss %.4f (ce %.4f, vat %.4f), train acc %.4f, test loss %.4f, test acc %.4f, "
                  "%.1f s, %.0f images/s" % (e, rec["loss"], ce_m, kl_m, rec["train_acc"], tl, ta, secs, n / secs))
    r = dict(info)
    r.update({"batch": args.batch, "dropout": args.dropout, "vat": args.vat, "xi": args.xi, "eps": args.eps,
              "ip": args.ip, "vat_weight": args.vat_weight, "seed": args.seed,
              "train_images": n, "test_images": len(xte), "data": folder,
              "test_loss": epochs[-1]["test_loss"], "test_acc": epochs[-1]["test_acc"], "epochs": epochs})
    return r


def check(args, dev):
    """check verifies the VAT direction and the optimizer on a small batch; returns failures."""
    fails = []
    torch.manual_seed(args.seed)
    model = Net(args.dropout).to(dev)
    model.train()
    n = 8
    x = torch.rand(n, 1, IMAGE_SIDE, IMAGE_SIDE, device=dev)
    y = torch.randint(0, CLASSES, (n,), device=dev)

    # Glorot limits.
    for name, p in model.named_parameters():
        if name.endswith(".bias"):
            if p.abs().max().item() != 0:
                fails.append("%s: bias not zero" % name)
            continue
        fan_in = p[0].numel()
        fan_out = p.shape[0] * p[0, 0].numel()
        lim = math.sqrt(6 / (fan_in + fan_out))
        if p.abs().max().item() > lim:
            fails.append("%s: |w| above the Glorot limit %g" % (name, lim))

    # The power iteration's direction: nonzero, finite, and (having gone through the
    # normalisation) orthogonal to d, since f(d/||d||) does not change along d.
    logits = model(x)
    logp = F.log_softmax(logits.detach(), dim=1)
    torch.manual_seed(args.seed + 1)
    d0 = torch.randn_like(x)
    torch.manual_seed(args.seed + 1)
    g = vat_direction(model, x, logp, args.xi, 1)
    gn = g.flatten(1).norm(dim=1)
    if not torch.isfinite(g).all():
        fails.append("vat direction not finite")
    if (gn == 0).any():
        fails.append("vat direction zero for %d of %d samples" % (int((gn == 0).sum()), n))
    cos = (g.flatten(1) * d0.flatten(1)).sum(1) / (gn * d0.flatten(1).norm(dim=1))
    if not (cos.abs().max().item() < 1e-3):
        fails.append("vat direction not orthogonal to d (max |cos| %g): gradient not through the "
                     "normalisation" % cos.abs().max().item())
    if any(p.grad is not None for p in model.parameters()):
        fails.append("power iteration left parameter gradients")

    # One full VAT step: finite losses, a VAT term > 0, parameters moved.
    opt = make_optimizer(model)
    before = [p.detach().clone() for p in model.parameters()]
    ce, lv, _ = train_step(model, opt, x, y, True, args)
    if not (math.isfinite(ce.item()) and math.isfinite(lv.item())):
        fails.append("losses not finite: ce %g, vat %g" % (ce.item(), lv.item()))
    if not lv.item() > 0:
        fails.append("vat loss %g, want > 0" % lv.item())
    if all(torch.equal(a, p.detach()) for a, p in zip(before, model.parameters())):
        fails.append("optimizer step changed no parameter")

    # torch's Adadelta against vatgpu's formula, two steps.
    w = torch.randn(50, device=dev)
    pw = w.clone().requires_grad_(True)
    o = torch.optim.Adadelta([pw], lr=1.0, rho=0.95, eps=1e-8)
    a, da = torch.zeros_like(w), torch.zeros_like(w)
    for k in range(2):
        gk = torch.randn(50, device=dev)
        pw.grad = gk.clone()
        o.step()
        a = 0.95 * a + 0.05 * gk * gk
        u = gk * torch.sqrt(da + 1e-8) / torch.sqrt(a + 1e-8)
        w = w - u
        da = 0.95 * da + 0.05 * u * u
    err = (w - pw.detach()).abs().max().item()
    if not err < 1e-5:
        fails.append("Adadelta differs from the Keras formula by %g" % err)

    print("check: ce %.4f, vat %.4g, |direction| %.3g..%.3g, max |cos(direction, d)| %.2g, adadelta err %.2g"
          % (ce.item(), lv.item(), gn.min().item(), gn.max().item(), cos.abs().max().item(), err))
    return fails


def print_table(r):
    rows = [("device", r["device"]), ("torch", r["torch_version"])]
    if "cudnn_version" in r:
        rows += [("cuda / cudnn", "%s / %s" % (r["cuda_version"], r["cudnn_version"])), ("tf32", r["tf32"])]
    rows += [("threads", r["threads"]), ("batch", r["batch"]), ("dropout", r["dropout"]),
             ("timed steps", "%d (after %d warm-up), median" % (r["steps"], r["warmup"]))]
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print("%-*s  %s" % (w, k, v))
    print()
    print("%-6s %12s %12s" % ("step", "ms/step", "images/s"))
    print("%-6s %12.2f %12.1f" % ("plain", r["ms_per_step_plain"], r["plain_images_per_sec"]))
    print("%-6s %12.2f %12.1f" % ("vat", r["ms_per_step_vat"], r["vat_images_per_sec"]))
    print()
    print("vat/plain %.2fx; a 60000-image VAT epoch takes %.1f s" % (r["vat_over_plain"], r["epoch_seconds_vat"]))


def parse(argv):
    ap = argparse.ArgumentParser(description="vatgpu's model and VAT step in PyTorch: benchmark, train, check.")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--gpu", type=int, default=0, help="CUDA device index")
    ap.add_argument("--batch", type=int, default=128, help="images per step")
    ap.add_argument("--steps", type=int, help="timed steps of each kind (default 20 on cpu, 200 on cuda)")
    ap.add_argument("--warmup", type=int, help="untimed steps first (default 3 on cpu, 20 on cuda)")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                    else os.cpu_count(), help="torch.set_num_threads (default: all cores)")
    ap.add_argument("--dropout", action="store_true", help="dropout 0.25 after pooling and 0.5 after dense 128")
    ap.add_argument("--vat", action="store_true", help="with --train-epochs: add the VAT term")
    ap.add_argument("--xi", type=float, default=10.0, help="power-iteration step")
    ap.add_argument("--eps", type=float, default=1.0, help="length of the adversarial perturbation")
    ap.add_argument("--ip", type=int, default=1, help="power iterations")
    ap.add_argument("--vat-weight", type=float, default=1.0, help="weight of the VAT term")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--data", help="folder of the MNIST IDX files (gz or raw); benchmark default: random images")
    ap.add_argument("--train-epochs", type=int, default=0, help="train this many epochs instead of benchmarking")
    ap.add_argument("--limit", type=int, default=0, help="with --train-epochs: first N training and test images")
    ap.add_argument("--tf32", action="store_true", help="cuda: allow TF32 in cuBLAS and cuDNN (vatgpu: off)")
    ap.add_argument("--deterministic", action="store_true", help="cuda: deterministic cuDNN, no autotuning")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (PyTorch 2 only; untested)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--check", action="store_true", help="run the self-test and exit")
    args = ap.parse_args(argv)
    cuda = args.device == "cuda"
    if args.steps is None:
        args.steps = 200 if cuda else 20
    if args.warmup is None:
        args.warmup = 20 if cuda else 3
    for name in ("batch", "steps", "threads"):
        if getattr(args, name) <= 0:
            ap.error("--%s must be positive" % name)
    if args.warmup < 0 or args.ip < 0 or args.train_epochs < 0 or args.limit < 0:
        ap.error("--warmup, --ip, --train-epochs and --limit must not be negative")
    return args


def main(argv):
    args = parse(argv)
    dev, info = setup(args)
    if args.check:
        fails = check(args, dev)
        for f in fails:
            print("FAIL: " + f)
        print("check: %s on %s" % ("FAILED" if fails else "ok", info["device"]))
        return 1 if fails else 0
    r = train(args, dev, info) if args.train_epochs > 0 else bench(args, dev, info)
    if args.json:
        print(json.dumps(r))
    elif args.train_epochs > 0:
        print("finish: use_dropout=%s, use_vat=%s: score=%g, accuracy=%g"
              % (args.dropout, args.vat, r["test_loss"], r["test_acc"]))
    else:
        print_table(r)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
