package layers

import (
	"math"
	"testing"
)

// Known-answer vectors published with Random123 (kat_vectors,
// philox4x32_10).
func TestPhiloxKnownAnswers(t *testing.T) {
	cases := []struct {
		ctr  [4]uint32
		key  [2]uint32
		want [4]uint32
	}{
		{[4]uint32{0, 0, 0, 0}, [2]uint32{0, 0}, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [2]uint32{0xffffffff, 0xffffffff}, [4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0}, [4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	}
	for _, c := range cases {
		if got := Philox(c.ctr, c.key); got != c.want {
			t.Errorf("Philox(%08x, %08x) = %08x, want %08x", c.ctr, c.key, got, c.want)
		}
	}
}

func TestRandStreams(t *testing.T) {
	r := Rand{Seed: 1337, Tensor: TensorDirection}
	const n = 1 << 16
	z := make([]float32, n)
	r.Normal(z, 7)
	var s, s2 float64
	for _, v := range z {
		s += float64(v)
		s2 += float64(v) * float64(v)
	}
	mean, vr := s/n, s2/n-(s/n)*(s/n)
	// Standard error of the mean is 1/sqrt(n) ≈ 0.004; of the variance ≈ 0.0055.
	if math.Abs(mean) > 0.02 || math.Abs(vr-1) > 0.03 {
		t.Errorf("normal stream: mean %v var %v", mean, vr)
	}
	// Element i is the same whatever the length drawn.
	short := make([]float32, 7)
	r.Normal(short, 7)
	for i := range short {
		if short[i] != z[i] {
			t.Fatalf("element %d depends on length: %v vs %v", i, short[i], z[i])
		}
	}
	// Another step or tensor gives other numbers.
	other := make([]float32, 7)
	r.Normal(other, 8)
	if other[0] == z[0] {
		t.Errorf("step does not change the stream")
	}
	u := make([]float32, n)
	Rand{Seed: 1, Tensor: TensorDropout}.Uniform(u, 0)
	var below float64
	for _, v := range u {
		if v < 0 || v >= 1 {
			t.Fatalf("uniform %v outside [0,1)", v)
		}
		if v < 0.25 {
			below++
		}
	}
	if f := below / n; math.Abs(f-0.25) > 0.01 {
		t.Errorf("P(u < 0.25) = %v", f)
	}
}

func TestPermutation(t *testing.T) {
	r := Rand{Seed: 1337, Tensor: TensorShuffle}
	p := r.Permutation(1000, 3)
	seen := make([]bool, 1000)
	fixed := 0
	for i, v := range p {
		if seen[v] {
			t.Fatalf("%d twice", v)
		}
		seen[v] = true
		if int(v) == i {
			fixed++
		}
	}
	if fixed > 10 {
		t.Errorf("%d fixed points: not shuffled", fixed)
	}
	q := r.Permutation(1000, 3)
	for i := range p {
		if p[i] != q[i] {
			t.Fatal("same stream gave another permutation")
		}
	}
}
