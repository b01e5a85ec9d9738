#!/usr/bin/env bash
# device-run.sh: the whole GPU verification in one call on a machine with an
# NVIDIA GPU and no Go (the `device` machine): run from the repository root
# as `bash devrun/run.sh` after `make device-bundle` built devrun/ here.
# Results go to $OUT (at most 8 files come back): facts.txt, tests.txt,
# parity.txt, parity.tgz (the fixtures for testdata/parity), bench.json,
# peer.json, train.txt, semi.txt (100-label runs, last: cut short if time is
# short).
set -u
OUT=${OUT:-/tmp/vatgpu-out}
mkdir -p "$OUT"
cd "$(dirname "$0")"
# NVIDIA libraries from the pip wheels PyTorch installed (search, don't assume).
libs=$(python3 - <<'PY' 2>/dev/null
import glob, os, site, sys
dirs = set()
for p in site.getsitepackages() + [site.getusersitepackages()] + sys.path:
    for d in glob.glob(os.path.join(p, "nvidia", "*", "lib")):
        dirs.add(d)
print(":".join(sorted(dirs)))
PY
)
export VATGPU_CUDA_PATH=${VATGPU_CUDA_PATH:-$libs}
{
  date -u; uname -a; ldd --version | head -1
  nvidia-smi
  echo "VATGPU_CUDA_PATH=$VATGPU_CUDA_PATH"
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())'
  ./vatgpu devices
} > "$OUT/facts.txt" 2>&1
timeout 240 ./gpu.test -test.v -test.run 'TestConformance|TestGPU|TestBindings' > "$OUT/tests.txt" 2>&1
echo "gpu.test exit $?" >> "$OUT/tests.txt"
timeout 120 ./vatgpu parity --device 0 --record parity > "$OUT/parity.txt" 2>&1
echo "parity exit $?" >> "$OUT/parity.txt"
tar czf "$OUT/parity.tgz" parity 2>/dev/null
timeout 120 ./vatgpu bench --device all --json --data data > "$OUT/bench.json" 2>>"$OUT/facts.txt"
timeout 120 python3 vat_peer.py --device cuda --json --data data > "$OUT/peer.json" 2>>"$OUT/facts.txt"
( time timeout 240 ./vatgpu train --device 0 --vat --epochs 12 --data data --quiet ) > "$OUT/train.txt" 2>&1
echo "train exit $?" >> "$OUT/train.txt"
# Semi-supervised, 100 labels, the README's recipe, three seeds of at most
# 60 s each: each epoch's line shows how far it got.
for s in 1 2 3; do
  ( time timeout 60 ./vatgpu train --device 0 --preset paper --xi 10 --norm l2 --eps 3 --entmin \
      --translate 2 --ema 0.999 --epochs 30 --seed $s --data data --quiet ) 2>&1 | grep -v '^semi-supervised'
  echo "seed $s exit ${PIPESTATUS[0]}"
done > "$OUT/semi.txt" 2>&1
ls -la "$OUT"
