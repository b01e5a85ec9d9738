package gpu

import (
	"fmt"

	"github.com/vatgpu/vatgpu/gpu/cuda"
)

// The custom kernels of kernels.cu, by name and parameter list, and the
// typed launchers the backend calls. Each launcher is the twin of a
// layers.CPU method or of a loop inside one (see kernels.cu).

// kernelID indexes kernelSpecs and the backend's loaded functions.
type kernelID int

const (
	kSetStep kernelID = iota
	kFillBias
	kDenseBackwardBias
	kReLUForward
	kReLUBackward
	kMaxPoolForward
	kMaxPoolBackward
	kDropoutForward
	kDropoutBackward
	kRandNormal
	kPerturb
	kPerturbBackward
	kSoftmaxXent
	kKLDiv
	kSoftmax
	kEntropy
	kGather
	kGatherInt
	kTranslate
	kSumInto
	kCountCorrect
	kAdadelta
	kAdam
	kAverage
	kBatchNormForward
	kBatchNormBackward
	kAddNoise
	numKernels
)

// kernelSpec is a kernel's entry name in the PTX and its parameters, one
// letter each: p a device pointer (8 bytes), i an int (int32), u an
// unsigned (uint32), f a float (float32), q an unsigned long long
// (uint64). TestPTXEntries checks these against the PTX's .entry
// declarations, and checkKernelArgs checks every launch's arguments against them.
type kernelSpec struct {
	name   string
	params string
}

var kernelSpecs = [numKernels]kernelSpec{
	kSetStep:           {"set_step", "pq"},
	kFillBias:          {"fill_bias", "ppiii"},
	kDenseBackwardBias: {"dense_backward_bias", "ppii"},
	kReLUForward:       {"relu_forward", "ppi"},
	kReLUBackward:      {"relu_backward", "pppi"},
	kMaxPoolForward:    {"max_pool_forward", "ppiii"},
	kMaxPoolBackward:   {"max_pool_backward", "pppiii"},
	kDropoutForward:    {"dropout_forward", "ppifqup"},
	kDropoutBackward:   {"dropout_backward", "ppifqup"},
	kRandNormal:        {"rand_normal", "piqup"},
	kPerturb:           {"perturb", "pppifi"},
	kPerturbBackward:   {"perturb_backward", "pppifi"},
	kSoftmaxXent:       {"softmax_xent", "ppppiif"},
	kKLDiv:             {"kl_div", "ppppiif"},
	kSoftmax:           {"softmax", "ppii"},
	kEntropy:           {"entropy", "pppiif"},
	kGather:            {"gather", "pppiii"},
	kGatherInt:         {"gather_int", "pppii"},
	kTranslate:         {"translate", "ppiiiiqup"},
	kSumInto:           {"sum_into", "pipi"},
	kCountCorrect:      {"count_correct", "pippii"},
	kAdadelta:          {"adadelta", "ppppifff"},
	kAdam:              {"adam", "ppppiffffp"},
	kAverage:           {"average", "ppif"},
	kBatchNormForward:  {"batch_norm_forward", "ppppppppiiffi"},
	kBatchNormBackward: {"batch_norm_backward", "ppppppppiii"},
	kAddNoise:          {"add_noise", "ppifqup"},
}

// paramSize returns the size in bytes of a parameter letter.
func paramSize(c byte) int {
	switch c {
	case 'p', 'q':
		return 8
	case 'i', 'u', 'f':
		return 4
	}
	panic(fmt.Sprintf("gpu: unknown kernel parameter letter %q", c))
}

// Block sizes. reduceThreads must equal REDUCE_THREADS in kernels.cu: the
// block reductions assume it, and it fixes their order of summation.
const (
	elementThreads = 256
	rowThreads     = 128
	reduceThreads  = 256
	// maxGrid bounds the grid of the grid-stride kernels; each thread
	// then handles several elements of very long buffers.
	maxGrid = 65535
)

// gridFor returns the number of blocks of threads covering n items, at
// least 1 and at most maxGrid: for the grid-stride kernels, which loop over
// the rest.
func gridFor(n, threads int) int {
	return max(1, min((n+threads-1)/threads, maxGrid))
}

// blocksFor returns the number of blocks of threads covering n items,
// uncapped: for the kernels with one thread per row or column, which do
// not loop.
func blocksFor(n, threads int) int {
	return max(1, (n+threads-1)/threads)
}

// checkKernelArgs panics unless args match k's parameter list in number
// and Go type (DevicePtr for p, int32 for i, uint32 for u, float32 for f,
// uint64 for q): a mismatch is a bug in this package, never a condition of
// the device. Stream.Launch then passes each in a slot of its size.
func checkKernelArgs(k kernelID, args []any) {
	spec := kernelSpecs[k]
	if len(args) != len(spec.params) {
		panic(fmt.Sprintf("gpu: kernel %s takes %d arguments, got %d", spec.name, len(spec.params), len(args)))
	}
	for i, a := range args {
		var got byte
		switch a.(type) {
		case cuda.DevicePtr:
			got = 'p'
		case int32:
			got = 'i'
		case uint32:
			got = 'u'
		case float32:
			got = 'f'
		case uint64:
			got = 'q'
		default:
			panic(fmt.Sprintf("gpu: kernel %s argument %d: type %T is not a kernel parameter type", spec.name, i, a))
		}
		if got != spec.params[i] {
			panic(fmt.Sprintf("gpu: kernel %s argument %d: %T for parameter %q", spec.name, i, a, spec.params[i]))
		}
	}
}

// kernelInt converts a count or index to a kernel's int, panicking when it does
// not fit (a buffer of more than 2³¹-1 elements).
func kernelInt(op string, n int) int32 {
	if n < 0 || n > 1<<31-1 {
		panic(fmt.Sprintf("gpu: %s: %d does not fit a kernel's int", op, n))
	}
	return int32(n)
}
