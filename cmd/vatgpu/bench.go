package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vatgpu/vatgpu/layers"
	"github.com/vatgpu/vatgpu/mnist"
	"github.com/vatgpu/vatgpu/vat"
)

// BenchArgs are the flags of `vatgpu bench`.
type BenchArgs struct {
	Net     string
	Device  string
	Batch   int
	Steps   int
	Warmup  int
	Data    string
	JSON    bool
	Dropout bool
}

func benchCommand(stdout, stderr io.Writer) *cli.Command {
	var a BenchArgs
	return &cli.Command{
		Name:  "bench",
		Usage: "time plain and VAT training steps of a network (median of repeated steps, warm-up excluded)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "net", Value: layers.SeedCNN.Name, Usage: "the network to time (see train --help)", Destination: &a.Net},
			&cli.StringFlag{Name: "device", Value: "auto", Usage: "cpu, a GPU index, auto, or all (CPU and GPU 0, with the speedup)", Destination: &a.Device},
			&cli.IntFlag{Name: "batch", Value: 128, Usage: "images per step", Destination: &a.Batch},
			&cli.IntFlag{Name: "steps", Usage: "timed steps of each kind (default 10 on the CPU, 200 on a GPU)", Destination: &a.Steps},
			&cli.IntFlag{Name: "warmup", Usage: "untimed steps first (default 2 on the CPU, 20 on a GPU)", Destination: &a.Warmup},
			&cli.StringFlag{Name: "data", Usage: "MNIST folder (default: random images; the time does not depend on pixel values)", Destination: &a.Data},
			&cli.BoolFlag{Name: "dropout", Usage: "with dropout", Destination: &a.Dropout},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object (an array with --device all)", Destination: &a.JSON},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("bench takes no arguments, got %q", c.Args().First())
			}
			return Bench(a, stdout, stderr)
		},
	}
}

// BenchResult is one device's measurement. The JSON names are shared with
// the PyTorch peer (bench/peers/vat_peer.py).
type BenchResult struct {
	Net               string  `json:"net"`
	Device            string  `json:"device"`
	Backend           string  `json:"backend"`
	Batch             int     `json:"batch"`
	Steps             int     `json:"steps"`
	PlainImagesPerSec float64 `json:"plain_images_per_sec"`
	VATImagesPerSec   float64 `json:"vat_images_per_sec"`
	VATOverPlain      float64 `json:"vat_over_plain"`
	MsPerStepPlain    float64 `json:"ms_per_step_plain"`
	MsPerStepVAT      float64 `json:"ms_per_step_vat"`
	EpochSecondsVAT   float64 `json:"epoch_seconds_vat"`
	FlopsPerVATStep   int64   `json:"flops_per_vat_step"`
	FlopsCounting     string  `json:"flops_counting"`
	AchievedGflops    float64 `json:"achieved_gflops"`
	NominalPeakGflops float64 `json:"nominal_peak_gflops,omitempty"`
	FractionOfPeak    float64 `json:"fraction_of_peak,omitempty"`
	Timing            string  `json:"timing"`
	// Differs says how a timed step differs from a step of training.
	Differs           string  `json:"differs_from_training"`
	GPUOverCPUSpeedup float64 `json:"gpu_over_cpu_speedup,omitempty"`
	// DeviceCallsPerVATStep counts kernel launches and cuBLAS/cuDNN calls
	// per VAT step (GPU only; a replayed graph counts the calls it holds).
	DeviceCallsPerVATStep float64 `json:"launches_per_step,omitempty"`
	// LaunchFloorMs is DeviceCallsPerVATStep × 2.5 µs, a typical kernel
	// launch cost without graphs, and FlopFloorMs the FLOPs at the nominal
	// fp32 peak: what a VAT step could not beat by either bound.
	LaunchFloorMs float64 `json:"launch_floor_ms,omitempty"`
	FlopFloorMs   float64 `json:"flop_floor_ms,omitempty"`
	GoVersion     string  `json:"go_version"`
	Threads       int     `json:"threads"`
	Date          string  `json:"date"`
	// Error says why a device of --device all could not be measured; the
	// other fields are then empty.
	Error string `json:"error,omitempty"`
}

// Bench runs `vatgpu bench`.
func Bench(a BenchArgs, stdout, stderr io.Writer) error {
	if a.Batch <= 0 {
		return usagef("--batch must be positive, got %d", a.Batch)
	}
	net, err := layers.NetNamed(a.Net)
	if err != nil {
		return usagef("--net: %v", err)
	}
	if a.Dropout && !net.HasKind(layers.Dropout) {
		return usagef("--dropout: the network %s has no dropout layers", net.Name)
	}
	if a.Steps < 0 || a.Warmup < 0 {
		return usagef("--steps and --warmup must not be negative")
	}
	devices := []string{a.Device}
	if a.Device == "all" {
		devices = []string{"cpu", "0"}
	}
	set, err := benchData(a.Data, a.Batch)
	if err != nil {
		return err
	}
	// With --device all, a device that fails while it is measured is
	// reported (an entry with its error) after what the others measured,
	// and Bench then fails; a GPU that cannot be opened is only skipped.
	var results []BenchResult
	var failed error
	for _, dev := range devices {
		b, err := openBackend(dev, false, stderr)
		if err != nil {
			if a.Device == "all" && dev != "cpu" {
				fmt.Fprintf(stderr, "bench: skipping the GPU: %v\n", err)
				continue
			}
			return err
		}
		name := b.Name()
		r, err := benchRecover(b, a, set)
		b.Close()
		if err != nil {
			if a.Device != "all" {
				return err
			}
			fmt.Fprintf(stderr, "bench: %s: %v\n", name, err)
			failed = fmt.Errorf("bench: %s: %v", name, err)
			r = BenchResult{Device: name, Backend: map[bool]string{true: "cpu", false: "gpu"}[dev == "cpu"], Net: net.Name, Batch: a.Batch, Error: err.Error()}
		}
		results = append(results, r)
	}
	if len(results) == 2 && results[0].Error == "" && results[1].Error == "" {
		results[1].GPUOverCPUSpeedup = results[1].VATImagesPerSec / results[0].VATImagesPerSec
	}
	if a.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		var err error
		if len(results) == 1 && a.Device != "all" {
			err = enc.Encode(results[0])
		} else {
			err = enc.Encode(results)
		}
		if err != nil {
			return err
		}
		return failed
	}
	for _, r := range results {
		if r.Error != "" {
			fmt.Fprintf(stdout, "device: %s: not measured: %s\n", r.Device, r.Error)
			continue
		}
		printBench(stdout, r)
	}
	if len(results) == 2 && results[1].GPUOverCPUSpeedup > 0 {
		fmt.Fprintf(stdout, "GPU over CPU, VAT steps: %.1fx\n", results[1].GPUOverCPUSpeedup)
	}
	return failed
}

// benchData returns the training images to step over: MNIST from dir, or
// eight batches of seeded random images.
func benchData(dir string, batch int) (*mnist.Set, error) {
	if dir != "" {
		train, _, err := mnist.Load(dir, 0)
		return train, err
	}
	n := 8 * batch
	r := rand.New(rand.NewPCG(1, 2))
	s := &mnist.Set{N: n, Images: make([]float32, n*layers.ImageLen), Labels: make([]int32, n)}
	for i := range s.Images {
		s.Images[i] = r.Float32()
	}
	for i := range s.Labels {
		s.Labels[i] = int32(r.IntN(layers.Classes))
	}
	return s, nil
}

// benchRecover is benchOne with a panic (a backend's programmer error)
// turned into an error, so that --device all keeps what the other device
// measured.
func benchRecover(b layers.Backend, a BenchArgs, set *mnist.Set) (r BenchResult, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return benchOne(b, a, set)
}

func benchOne(b layers.Backend, a BenchArgs, set *mnist.Set) (BenchResult, error) {
	_, onCPU := b.(*layers.CPU)
	steps, warm := a.Steps, a.Warmup
	if steps == 0 {
		steps = map[bool]int{true: 10, false: 200}[onCPU]
	}
	if warm == 0 {
		warm = map[bool]int{true: 2, false: 20}[onCPU]
	}
	var callsPerStep float64
	time1 := func(useVAT bool) (time.Duration, error) {
		cfg := vat.DefaultConfig()
		cfg.Net, cfg.Batch, cfg.VAT, cfg.Dropout = a.Net, a.Batch, useVAT, a.Dropout
		t, err := vat.NewTrainer(b, cfg, set, nil, nil)
		if err != nil {
			return 0, err
		}
		defer t.Free()
		b.UploadInt(t.Perm(), identity(set.N))
		batches := set.N / a.Batch
		if batches == 0 {
			return 0, fmt.Errorf("bench: %d images, fewer than one batch of %d", set.N, a.Batch)
		}
		var ts []time.Duration
		var calls0 uint64
		for s := 0; s < warm+steps; s++ {
			if s == warm {
				calls0 = deviceCalls(b)
			}
			d, err := timeStep(b, func() { t.TrainStep(s % batches) })
			if err != nil {
				return 0, err
			}
			if s >= warm {
				ts = append(ts, d)
			}
		}
		if useVAT {
			callsPerStep = float64(deviceCalls(b)-calls0) / float64(steps)
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		return ts[len(ts)/2], nil
	}
	plain, err := time1(false)
	if err != nil {
		return BenchResult{}, err
	}
	withVAT, err := time1(true)
	if err != nil {
		return BenchResult{}, err
	}
	net, _ := layers.NetNamed(a.Net)
	_, flops := vat.Flops(net, a.Batch, vat.DefaultConfig().IP)
	r := BenchResult{
		Net: a.Net, Device: b.Name(), Backend: map[bool]string{true: "cpu", false: "gpu"}[onCPU], Batch: a.Batch, Steps: steps,
		PlainImagesPerSec:     float64(a.Batch) / plain.Seconds(),
		VATImagesPerSec:       float64(a.Batch) / withVAT.Seconds(),
		VATOverPlain:          withVAT.Seconds() / plain.Seconds(),
		MsPerStepPlain:        plain.Seconds() * 1e3,
		MsPerStepVAT:          withVAT.Seconds() * 1e3,
		FlopsPerVATStep:       flops,
		FlopsCounting:         "2*m*n*k of every convolution and matrix product, forward and backward; element-wise ops not counted",
		AchievedGflops:        float64(flops) / withVAT.Seconds() / 1e9,
		Timing:                timingMethod(b),
		Differs:               differsFromTraining(a.Data),
		DeviceCallsPerVATStep: callsPerStep,
		GoVersion:             runtime.Version(), Threads: runtime.GOMAXPROCS(0), Date: time.Now().UTC().Format(time.RFC3339),
	}
	r.EpochSecondsVAT = 60000 / r.VATImagesPerSec
	peak := gpuPeakGflops
	if onCPU {
		peak = cpuPeakGflops()
	}
	if peak > 0 {
		r.NominalPeakGflops, r.FractionOfPeak = peak, r.AchievedGflops/peak
		r.FlopFloorMs = float64(flops) / (peak * 1e9) * 1e3
	}
	if callsPerStep > 0 {
		r.LaunchFloorMs = callsPerStep * launchCost.Seconds() * 1e3
	}
	return r, nil
}

// launchCost is a typical cost of one kernel launch issued from the host
// without CUDA graphs (a few microseconds on current drivers).
const launchCost = 2500 * time.Nanosecond

// gpuPeakGflops is the fp32 peak (no tensor cores) used for the GPU's
// floor: an H200 SXM's 67 TFLOP/s. Other GPUs differ; the field says so.
const gpuPeakGflops = 67e3

// timeStep runs step and returns how long it took: on the device's clock
// where the backend has one (GPU events), else wall time up to a sync.
func timeStep(b layers.Backend, step func()) (time.Duration, error) {
	if tb, ok := b.(interface {
		Time(func()) (time.Duration, error)
	}); ok {
		return tb.Time(step)
	}
	start := time.Now()
	step()
	err := b.Sync()
	return time.Since(start), err
}

// differsFromTraining says what a timed step does not share with a step of
// train: the weights (the initial ones, kept near there by the repeated
// batches) and the images. Element-wise ops whose speed depended on the
// data (max-pool's backward branched on it) made bench 13% slower than an
// epoch of training once; they are branch-free now (README, Performance).
func differsFromTraining(data string) string {
	images := "seeded random images"
	if data != "" {
		images = "the first MNIST training images"
	}
	return "steps over eight batches of " + images + " at the initial weights; a training epoch gathers shuffled batches, reads its statistics every 20 steps and runs at the weights as trained"
}

func timingMethod(b layers.Backend) string {
	if _, ok := b.(interface {
		Time(func()) (time.Duration, error)
	}); ok {
		return "median device time of a step between two CUDA events (graph replayed), warm-up excluded"
	}
	return "median wall time of a step followed by a sync, warm-up excluded"
}

func deviceCalls(b layers.Backend) uint64 {
	if c, ok := b.(interface{ DeviceCalls() uint64 }); ok {
		return c.DeviceCalls()
	}
	return 0
}

func identity(n int) []int32 {
	p := make([]int32, n)
	for i := range p {
		p[i] = int32(i)
	}
	return p
}

// cpuPeakGflops estimates the fp32 peak of the cores Go uses: cores × MHz ×
// 64 flops per cycle with AVX-512 (two 16-lane FMA units), 32 with AVX2;
// 0 when /proc/cpuinfo does not say.
func cpuPeakGflops() float64 {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	var mhz float64
	perCycle := 0.0
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "cpu MHz":
			if mhz == 0 {
				fmt.Sscan(strings.TrimSpace(v), &mhz)
			}
		case "flags":
			if perCycle == 0 {
				switch {
				case strings.Contains(v, " avx512f"):
					perCycle = 64
				case strings.Contains(v, " fma") && strings.Contains(v, " avx2"):
					perCycle = 32
				}
			}
		}
	}
	return float64(runtime.GOMAXPROCS(0)) * mhz * perCycle / 1e3
}

func printBench(w io.Writer, r BenchResult) {
	fmt.Fprintf(w, "device: %s, network %s (batch %d, %d timed steps, %s)\n", r.Device, r.Net, r.Batch, r.Steps, r.Timing)
	fmt.Fprintf(w, "  (%s)\n", r.Differs)
	fmt.Fprintf(w, "  %-6s %10s %12s\n", "step", "ms/step", "images/s")
	fmt.Fprintf(w, "  %-6s %10.2f %12.0f\n", "plain", r.MsPerStepPlain, r.PlainImagesPerSec)
	fmt.Fprintf(w, "  %-6s %10.2f %12.0f\n", "vat", r.MsPerStepVAT, r.VATImagesPerSec)
	fmt.Fprintf(w, "  VAT/plain time ratio %.2f; a 60,000-image VAT epoch %.1f s\n", r.VATOverPlain, r.EpochSecondsVAT)
	fmt.Fprintf(w, "  %.2f GFLOP per VAT step (%s): %.1f GFLOP/s", float64(r.FlopsPerVATStep)/1e9, r.FlopsCounting, r.AchievedGflops)
	if r.NominalPeakGflops > 0 {
		fmt.Fprintf(w, ", %.0f%% of a nominal %.0f GFLOP/s peak", 100*r.FractionOfPeak, r.NominalPeakGflops)
	}
	fmt.Fprintln(w)
	if r.FlopFloorMs > 0 || r.LaunchFloorMs > 0 {
		fmt.Fprintf(w, "  floors of a VAT step: %.3f ms of arithmetic at the nominal peak", r.FlopFloorMs)
		if r.LaunchFloorMs > 0 {
			fmt.Fprintf(w, "; %.0f device calls × 2.5 µs = %.3f ms if launched one by one", r.DeviceCallsPerVATStep, r.LaunchFloorMs)
		}
		fmt.Fprintf(w, " (measured %.3f ms)\n", r.MsPerStepVAT)
	}
}
