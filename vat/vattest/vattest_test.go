package vattest

import (
	"testing"

	"github.com/vatgpu/vatgpu/layers"
	"github.com/vatgpu/vatgpu/layers/layerstest"
)

// TestCPUThreads runs the training cases on a one-thread CPU backend
// against the default one: results must not depend on the thread count.
func TestCPUThreads(t *testing.T) {
	layerstest.Run(t, layers.NewCPU(1), true, Cases())
}

func TestToleranceTable(t *testing.T) {
	names := map[string]bool{}
	for _, c := range Cases() {
		if c.Tol.Why == "" {
			t.Errorf("case %s has no tolerance with a reason", c.Name)
		}
		names[c.Name] = true
	}
	for _, c := range layerstest.Cases() {
		if names[c.Name] {
			t.Errorf("case %s is in both suites", c.Name)
		}
	}
	for name := range Tolerances {
		if !names[name] {
			t.Errorf("tolerance for %s, which is no case", name)
		}
	}
}
