package parity

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"testing"

	"github.com/vatgpu/vatgpu/layers"
)

// TestRecordVerify records the CPU's own outputs as fixtures and verifies
// them: the machinery the GPU fixtures go through. The fixtures must also
// fit the parts the GPU check packs them into (scripts/device-run.sh):
// what does not fit would not come back from the GPU machine.
func TestRecordVerify(t *testing.T) {
	dir := t.TempDir()
	if err := Record(dir, layers.NewCPU(0), map[string]string{"device": "cpu", "source_hash": "test"}); err != nil {
		t.Fatal(err)
	}
	Verify(t, dir, "test")
	checkFixturesFitParts(t, dir)
}

// checkFixturesFitParts packs the fixtures of dir as the GPU check does
// (largest first, each into the first of PARITY_PARTS parts with room for
// it, at most PART_BYTES of fixtures a part, both read from the script).
func checkFixturesFitParts(t *testing.T, dir string) {
	script, err := os.ReadFile("../scripts/device-run.sh")
	if err != nil {
		t.Fatal(err)
	}
	parts := regexp.MustCompile(`(?m)^PARITY_PARTS=([0-9]+)`).FindSubmatch(script)
	partBytes := regexp.MustCompile(`(?m)^PART_BYTES=\$\(\(([0-9]+) \* 1048576\)\)`).FindSubmatch(script)
	if parts == nil || partBytes == nil {
		t.Fatal("scripts/device-run.sh sets no PARITY_PARTS or PART_BYTES=$((N * 1048576))")
	}
	n, _ := strconv.Atoi(string(parts[1]))
	limit, _ := strconv.ParseInt(string(partBytes[1]), 10, 64)
	limit <<= 20
	files, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	var sizes []int64
	var total int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, st.Size())
		total += st.Size()
	}
	sort.Slice(sizes, func(i, j int) bool { return sizes[i] > sizes[j] })
	bins := make([]int64, n)
next:
	for _, s := range sizes {
		for i := range bins {
			if bins[i]+s <= limit {
				bins[i] += s
				continue next
			}
		}
		t.Fatalf("the %d fixtures (%d bytes) do not fit %d parts of %d bytes (%v filled): the GPU check would leave some out; give it more parts or smaller fixtures", len(sizes), total, n, limit, bins)
	}
	t.Logf("%d fixtures, %.1f MiB, in %d parts of at most %d MiB: %v bytes", len(sizes), float64(total)/(1<<20), n, limit>>20, bins)
}
