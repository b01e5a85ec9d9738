#!/usr/bin/env bash
# compare.sh BIN PYTHON [DEVICE]: vatgpu's bench and the PyTorch peer, one
# after the other on this machine, then the ratio of their VAT images/s.
# DEVICE is cpu (default) or a GPU index (the peer then runs on cuda).
set -euo pipefail
bin=${1:?usage: compare.sh BIN PYTHON [DEVICE]}
py=${2:?usage: compare.sh BIN PYTHON [DEVICE]}
dev=${3:-cpu}
peerdev=cpu
[ "$dev" != cpu ] && peerdev=cuda
here=$(dirname "$0")
ours=$("$bin" bench --device "$dev" --json)
peer=$("$py" "$here/vat_peer.py" --device "$peerdev" --json)
echo "vatgpu: $ours"
echo "pytorch: $peer"
"$py" - "$ours" "$peer" <<'PY'
import json, sys
o, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"{'':8} {'plain img/s':>12} {'VAT img/s':>10} {'VAT/plain':>10}  device")
for name, r in (("vatgpu", o), ("pytorch", p)):
    print(f"{name:8} {r['plain_images_per_sec']:12.0f} {r['vat_images_per_sec']:10.0f} {r['vat_over_plain']:10.2f}  {r['device']}")
print(f"vatgpu / pytorch, VAT steps: {o['vat_images_per_sec'] / p['vat_images_per_sec']:.2f}x; plain steps: {o['plain_images_per_sec'] / p['plain_images_per_sec']:.2f}x")
PY
