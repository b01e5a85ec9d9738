package layerstest

import (
	"testing"

	"github.com/vatgpu/vatgpu/layers"
)

// TestCPUThreads runs the suite on a one-thread CPU backend against the
// default one: results must not depend on the thread count.
func TestCPUThreads(t *testing.T) {
	Run(t, layers.NewCPU(1), true)
}

func TestToleranceTable(t *testing.T) {
	for _, c := range Cases() {
		tol, ok := Tolerances[c.Name]
		if !ok || tol.Why == "" {
			t.Errorf("case %s has no tolerance with a reason", c.Name)
		}
	}
}

// TestRecordVerify records the CPU's own outputs as fixtures and verifies
// them: the machinery the GPU fixtures go through.
func TestRecordVerify(t *testing.T) {
	dir := t.TempDir()
	if err := Record(dir, layers.NewCPU(0), map[string]string{"device": "cpu", "source_hash": "test"}); err != nil {
		t.Fatal(err)
	}
	Verify(t, dir, "test")
}
