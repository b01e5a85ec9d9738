package gpu

import (
	"os"
	"testing"
)

func TestSourceHashMatchesDisk(t *testing.T) {
	if got, want := SourceHash(), HashSources(os.DirFS(".")); got != want {
		t.Errorf("embedded sources hash %s, files on disk %s", got, want)
	}
}
