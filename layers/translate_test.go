package layers

import "testing"

// TestTranslate: a one-pixel image lands where its offset says (or
// vanishes off the frame), shift 0 copies, and the offsets of many images
// cover [-shift, shift]² evenly.
func TestTranslate(t *testing.T) {
	const n, h, w = 400, 7, 9
	c := NewCPU(1)
	c.SetStep(77)
	r := Rand{Seed: 5, Tensor: TensorTranslate}
	src := make([]float32, n*h*w)
	py, px := make([]int, n), make([]int, n)
	for i := range n {
		py[i], px[i] = i%h, (i/h)%w
		src[i*h*w+py[i]*w+px[i]] = float32(i + 1)
	}
	words := make([]uint32, n)
	r.Uint32s(words, 77)
	for _, shift := range []int{0, 1, 2} {
		dst := c.Alloc(n * h * w)
		c.Translate(dst, put(c, src), n, h, w, shift, r)
		got := Floats(dst)
		seen := map[[2]int]int{}
		for i := range n {
			dx, dy := TranslateOffset(words[i], shift)
			if dx < -shift || dx > shift || dy < -shift || dy > shift {
				t.Fatalf("shift %d: offset (%d, %d) out of range", shift, dx, dy)
			}
			seen[[2]int{dx, dy}]++
			y, x := py[i]+dy, px[i]+dx
			inside := y >= 0 && y < h && x >= 0 && x < w
			for j, v := range got[i*h*w : (i+1)*h*w] {
				want := float32(0)
				if inside && j == y*w+x {
					want = float32(i + 1)
				}
				if v != want {
					t.Fatalf("shift %d image %d (offset %d, %d): pixel %d = %v, want %v", shift, i, dx, dy, j, v, want)
				}
			}
		}
		k := 2*shift + 1
		if len(seen) != k*k {
			t.Errorf("shift %d: %d distinct offsets in %d images, want %d", shift, len(seen), n, k*k)
		}
		for o, cnt := range seen {
			if e := n / (k * k); cnt < e/3 {
				t.Errorf("shift %d: offset %v drawn %d times of %d, expected about %d", shift, o, cnt, n, e)
			}
		}
	}
}

func put(c *CPU, v []float32) Buf {
	b := c.Alloc(len(v))
	c.Upload(b, v)
	return b
}
