package layers

import "math"

// Forward64 is the float64 reference of the seed model's forward pass
// without dropout: the logits (n×Classes) of n images x (n×ImageLen) under
// params (the flat buffer of Params, in float64). It is plain loops, for
// tests: gradient checks by central differences and VAT's reference.
func Forward64(params, x []float64, n int) []float64 {
	return NetForward64(SeedCNN, params, x, n, false, nil)
}

// NetForward64 is the float64 reference of net's forward pass without
// dropout: the logits of n images x under params (net's flat buffer, in
// float64). With batch set, batch normalisation takes the batch's
// statistics (mean, biased variance: the training forward pass), else the
// running statistics in params. noise[k], when given, is what the k-th
// noise layer adds (n × its width); without it noise layers add nothing.
func NetForward64(net *Net, params, x []float64, n int, batch bool, noise [][]float64) []float64 {
	if len(params) != net.NumParams() || len(x) < n*ImageLen {
		panic("layers: NetForward64: short params or input")
	}
	view := map[string][]float64{}
	for _, p := range net.Params() {
		view[p.Name] = params[p.Off : p.Off+p.Len]
	}
	shapes := net.Shapes()
	y := x[:n*ImageLen]
	noises := 0
	for i, l := range net.Layers {
		in := shapes[i]
		switch l.Kind {
		case Conv:
			y = Conv64(y, view[l.Name+".w"], view[l.Name+".b"], ConvShape{N: n, C: in.C, H: in.H, W: in.W, K: l.Units, R: 3, S: 3})
		case Dense:
			y = Dense64(y, view[l.Name+".w"], view[l.Name+".b"], n, in.Len(), l.Units)
		case ReLU:
			o := make([]float64, len(y))
			for i, v := range y {
				o[i] = math.Max(v, 0)
			}
			y = o
		case MaxPool:
			y = Pool64(y, PoolShape{N: n, C: in.C, H: in.H, W: in.W})
		case Noise:
			if noise != nil {
				o := make([]float64, len(y))
				for i, v := range y {
					o[i] = v + noise[noises][i]
				}
				y = o
			}
			noises++
		case BatchNorm:
			g, b := view[l.Name+".gamma"], view[l.Name+".beta"]
			if batch {
				y = BatchNorm64(y, g, b, n, in.C, float64(l.Eps))
			} else {
				y = BatchNormRunning64(y, g, b, view[l.Name+".mean"], view[l.Name+".var"], n, in.C, float64(l.Eps))
			}
		}
	}
	return y
}

// BatchNorm64 is the float64 reference of BatchNormForward with the
// batch's statistics: y = gamma·(x - mean)/sqrt(var + eps) + beta per
// feature of x[n×c], var the biased variance.
func BatchNorm64(x, gamma, beta []float64, n, c int, eps float64) []float64 {
	mean, vr := make([]float64, c), make([]float64, c)
	for i := 0; i < n; i++ {
		for j := 0; j < c; j++ {
			mean[j] += x[i*c+j] / float64(n)
		}
	}
	for i := 0; i < n; i++ {
		for j := 0; j < c; j++ {
			d := x[i*c+j] - mean[j]
			vr[j] += d * d / float64(n)
		}
	}
	return BatchNormRunning64(x, gamma, beta, mean, vr, n, c, eps)
}

// BatchNormRunning64 is the float64 reference of BatchNormForward with
// given statistics: y = gamma·(x - mean)/sqrt(var + eps) + beta.
func BatchNormRunning64(x, gamma, beta, mean, vr []float64, n, c int, eps float64) []float64 {
	y := make([]float64, n*c)
	for i := 0; i < n; i++ {
		for j := 0; j < c; j++ {
			y[i*c+j] = gamma[j]*(x[i*c+j]-mean[j])/math.Sqrt(vr[j]+eps) + beta[j]
		}
	}
	return y
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
