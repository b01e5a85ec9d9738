package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestFlagsFirst(t *testing.T) {
	var o, e bytes.Buffer
	app := commands(&o, &e)
	cases := []struct{ in, want string }{
		// Files first, flags after: the case of the issue.
		{"plot out/vat.jsonl -o curves.png", "plot -o curves.png -- out/vat.jsonl"},
		{"plot a.jsonl --out=c.svg b.jsonl", "plot --out=c.svg -- a.jsonl b.jsonl"},
		// Already in order: only "--" is added before the files.
		{"plot -o c.png a.jsonl", "plot -o c.png -- a.jsonl"},
		// Bool flags take no value; "-" is standard input, not a flag.
		{"predict - --raw --model m x.png --json", "predict --raw --model m --json -- - x.png"},
		{"predict a.png --raw=false --model m", "predict --raw=false --model m -- a.png"},
		// "--" ends the flags: what follows is a file even if it looks like a flag.
		{"predict --model m -- -odd.png --json", "predict --model m -- -odd.png --json"},
		// A value flag's value is taken even when it starts with "-".
		{"eval --limit -5", "eval --limit -5"},
		// Unknown flags stand alone and are left for urfave/cli to refuse.
		{"plot a.jsonl --nope b.jsonl", "plot --nope -- a.jsonl b.jsonl"},
		// Help drops the files, which urfave/cli would take for help topics.
		{"plot a.jsonl -h", "plot -h"},
		{"predict a.png --help --model m", "predict --help --model m"},
		// A value flag without its value stays last, so that urfave/cli says so.
		{"plot a.jsonl -o", "plot -o"},
		// Commands without files: arguments still reach the command, which refuses them.
		{"train extra --epochs 3", "train --epochs 3 -- extra"},
		{"train --vat", "train --vat"},
		// No command: unchanged.
		{"--help plot", "--help plot"},
		{"nosuch a -o b", "nosuch a -o b"},
	}
	for _, c := range cases {
		got := flagsFirst(app, append([]string{"vatgpu"}, strings.Fields(c.in)...))
		if want := append([]string{"vatgpu"}, strings.Fields(c.want)...); !slices.Equal(got, want) {
			t.Errorf("%q: got %q, want %q", c.in, got[1:], want[1:])
		}
	}
}

// TestFlagsAfterFiles runs each command that takes files with its flags
// after them.
func TestFlagsAfterFiles(t *testing.T) {
	dir := t.TempDir()
	metrics := filepath.Join(dir, "vat.jsonl")
	os.WriteFile(metrics, []byte(`{"config":{"VAT":true},"device":"cpu"}
{"epoch":1,"loss":0.5,"test_loss":0.3,"test_acc":0.9}
{"epoch":2,"loss":0.3,"test_loss":0.2,"test_acc":0.95}
`), 0o644)
	curves := filepath.Join(dir, "curves.png")
	code, stdout, stderr := vatgpu(t, "plot", metrics, "-o", curves)
	if code != 0 || stdout != "wrote "+curves+"\n" {
		t.Fatalf("plot FILE -o OUT: exit %d, %q %q", code, stdout, stderr)
	}
	if _, err := os.Stat(curves); err != nil {
		t.Error(err)
	}

	model := untrainedModel(t, dir, nil)
	pic := filepath.Join(dir, "d.png")
	f, _ := os.Create(pic)
	png.Encode(f, greyDigit(make([]float32, 784)))
	f.Close()
	code, stdout, stderr = vatgpu(t, "predict", pic, "--model", model, "--device", "cpu", "--raw", "--json")
	if code != 0 || !strings.HasPrefix(stdout, `{"file":"`+pic+`","digit":`) {
		t.Errorf("predict FILE --model M --raw --json: exit %d, %q %q", code, stdout, stderr)
	}
	code, stdout, stderr = vatgpu(t, "summary", metrics)
	if code != 0 || !strings.Contains(stdout, metrics+"  ") || !strings.Contains(stdout, "5.00%") {
		t.Errorf("summary FILE: exit %d, %q %q", code, stdout, stderr)
	}
	code, _, stderr = vatgpu(t, "summary")
	if code != 2 || !strings.Contains(stderr, "summary needs at least one metrics file") {
		t.Errorf("summary without files: exit %d, %q", code, stderr)
	}
	code, _, stderr = vatgpu(t, "summary", filepath.Join(dir, "nosuch.jsonl"))
	if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "nosuch.jsonl") {
		t.Errorf("summary of a missing file: exit %d, %q", code, stderr)
	}
	// A missing value after the files is still a usage error.
	code, _, stderr = vatgpu(t, "plot", metrics, "-o")
	if code != 2 || !strings.Contains(stderr, "flag needs an argument") {
		t.Errorf("plot FILE -o: exit %d, %q", code, stderr)
	}
	// Commands that take no files still refuse arguments, wherever they are.
	code, _, stderr = vatgpu(t, "eval", "m.safetensors", "--model", model, "--device", "cpu")
	if code != 2 || !strings.Contains(stderr, `eval takes no arguments, got "m.safetensors"`) {
		t.Errorf("eval FILE: exit %d, %q", code, stderr)
	}
}
