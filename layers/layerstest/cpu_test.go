package layerstest

import (
	"testing"

	"github.com/vatgpu/vatgpu/layers"
)

// TestCPUThreads runs the op cases on a one-thread CPU backend against the
// default one: results must not depend on the thread count.
func TestCPUThreads(t *testing.T) {
	Run(t, layers.NewCPU(1), true, Cases())
}

func TestToleranceTable(t *testing.T) {
	names := map[string]bool{}
	for _, c := range Cases() {
		if c.Tol.Why == "" {
			t.Errorf("case %s has no tolerance with a reason", c.Name)
		}
		if names[c.Name] {
			t.Errorf("case %s twice", c.Name)
		}
		names[c.Name] = true
	}
	for name := range Tolerances {
		if !names[name] {
			t.Errorf("tolerance for %s, which is no case", name)
		}
	}
}
