package layers

import "math"

// Forward64 is the float64 reference of the seed model's forward pass
// without dropout: the logits (n×Classes) of n images x (n×ImageLen) under
// params (the flat buffer of Params, in float64). It is plain loops, for
// tests: gradient checks by central differences and VAT's reference.
func Forward64(params, x []float64, n int) []float64 {
	if len(params) != NumParams() || len(x) < n*ImageLen {
		panic("layers: Forward64: short params or input")
	}
	view := map[string][]float64{}
	for _, p := range Params() {
		view[p.Name] = params[p.Off : p.Off+p.Len]
	}
	relu := func(v []float64) []float64 {
		for i := range v {
			v[i] = math.Max(v[i], 0)
		}
		return v
	}
	c1 := ConvShape{N: n, C: 1, H: ImageSide, W: ImageSide, K: Filters, R: 3, S: 3}
	c2 := ConvShape{N: n, C: Filters, H: conv1Side, W: conv1Side, K: Filters, R: 3, S: 3}
	y := relu(Conv64(x, view["conv1.w"], view["conv1.b"], c1))
	y = relu(Conv64(y, view["conv2.w"], view["conv2.b"], c2))
	y = Pool64(y, PoolShape{N: n, C: Filters, H: conv2Side, W: conv2Side})
	y = relu(Dense64(y, view["dense1.w"], view["dense1.b"], n, Flat, Hidden))
	return Dense64(y, view["dense2.w"], view["dense2.b"], n, Hidden, Classes)
}

// Conv64 is the float64 reference of ConvForward: y = conv(x, w) + bias.
func Conv64(x, w, b []float64, s ConvShape) []float64 {
	oh, ow := s.OH(), s.OW()
	y := make([]float64, s.OutLen())
	for n := 0; n < s.N; n++ {
		for k := 0; k < s.K; k++ {
			out := y[(n*s.K+k)*oh*ow : (n*s.K+k+1)*oh*ow]
			for i := range out {
				out[i] = b[k]
			}
			for c := 0; c < s.C; c++ {
				for r := 0; r < s.R; r++ {
					for q := 0; q < s.S; q++ {
						wv := w[((k*s.C+c)*s.R+r)*s.S+q]
						for i := 0; i < oh; i++ {
							in := x[((n*s.C+c)*s.H+i+r)*s.W+q:][:ow]
							o := out[i*ow : (i+1)*ow]
							for j := range o {
								o[j] += in[j] * wv
							}
						}
					}
				}
			}
		}
	}
	return y
}

// Dense64 is the float64 reference of DenseForward: y = x·w + bias.
func Dense64(x, w, b []float64, n, in, out int) []float64 {
	y := make([]float64, n*out)
	for i := 0; i < n; i++ {
		row := y[i*out : (i+1)*out]
		copy(row, b)
		for k := 0; k < in; k++ {
			xv := x[i*in+k]
			for o, wv := range w[k*out : (k+1)*out] {
				row[o] += xv * wv
			}
		}
	}
	return y
}

// Pool64 is the float64 reference of MaxPoolForward.
func Pool64(x []float64, s PoolShape) []float64 {
	oh, ow := s.H/2, s.W/2
	y := make([]float64, s.OutLen())
	for p := 0; p < s.N*s.C; p++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				a := x[p*s.H*s.W+2*i*s.W+2*j:]
				c := x[p*s.H*s.W+(2*i+1)*s.W+2*j:]
				y[p*oh*ow+i*ow+j] = math.Max(math.Max(a[0], a[1]), math.Max(c[0], c[1]))
			}
		}
	}
	return y
}

// LogSoftmax64 returns log softmax(z) in float64.
func LogSoftmax64(z []float64) []float64 {
	m := z[0]
	for _, v := range z {
		m = math.Max(m, v)
	}
	var s float64
	for _, v := range z {
		s += math.Exp(v - m)
	}
	o := make([]float64, len(z))
	ls := math.Log(s)
	for i, v := range z {
		o[i] = v - m - ls
	}
	return o
}
