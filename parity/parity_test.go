package parity

import (
	"testing"

	"github.com/vatgpu/vatgpu/layers"
)

// TestRecordVerify records the CPU's own outputs as fixtures and verifies
// them: the machinery the GPU fixtures go through.
func TestRecordVerify(t *testing.T) {
	dir := t.TempDir()
	if err := Record(dir, layers.NewCPU(0), map[string]string{"device": "cpu", "source_hash": "test"}); err != nil {
		t.Fatal(err)
	}
	Verify(t, dir, "test")
}
