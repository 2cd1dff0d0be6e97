package sim

import (
	"fmt"
	"math"
	"strings"
)

// A small SVG line-plot writer: fixed size, linear axes with "nice" ticks,
// one or two series. Dependency-free and deterministic (fixed number
// formatting), so plots are byte-identical across runs too.

const (
	plotW, plotH           = 720, 400
	padL, padR, padT, padB = 80, 20, 40, 50
)

type plot struct {
	b                     strings.Builder
	x0, x1, y0, y1        float64
	title, xLabel, yLabel string
}

func newPlot(title, xLabel, yLabel string, x0, x1, y0, y1 float64) *plot {
	if x1 <= x0 {
		x1 = x0 + 1
	}
	if y1 <= y0 {
		y1 = y0 + 1
	}
	return &plot{x0: x0, x1: x1, y0: y0, y1: y1, title: title, xLabel: xLabel, yLabel: yLabel}
}

func (p *plot) px(x float64) float64 {
	return padL + (x-p.x0)/(p.x1-p.x0)*float64(plotW-padL-padR)
}

func (p *plot) py(y float64) float64 {
	return float64(plotH-padB) - (y-p.y0)/(p.y1-p.y0)*float64(plotH-padT-padB)
}

func num(f float64) string {
	s := fmt.Sprintf("%.4g", f)
	return s
}

// niceStep picks a tick step of 1, 2 or 5 times a power of ten giving
// about five ticks.
func niceStep(span float64) float64 {
	raw := span / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

func (p *plot) frame() {
	fmt.Fprintf(&p.b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", plotW, plotH, plotW, plotH)
	fmt.Fprintf(&p.b, `<rect width="%d" height="%d" fill="white"/>`+"\n", plotW, plotH)
	fmt.Fprintf(&p.b, `<text x="%d" y="24" font-size="15" text-anchor="middle">%s</text>`+"\n", plotW/2, escape(p.title))
	for _, axis := range []struct {
		lo, hi float64
		x      bool
	}{{p.x0, p.x1, true}, {p.y0, p.y1, false}} {
		step := niceStep(axis.hi - axis.lo)
		for v := math.Ceil(axis.lo/step) * step; v <= axis.hi+step*1e-9; v += step {
			if axis.x {
				x := p.px(v)
				fmt.Fprintf(&p.b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/><text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n",
					x, padT, x, plotH-padB, x, plotH-padB+16, num(v))
			} else {
				y := p.py(v)
				fmt.Fprintf(&p.b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n",
					padL, y, plotW-padR, y, padL-6, y+4, num(v))
			}
		}
	}
	fmt.Fprintf(&p.b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="black"/>`+"\n", padL, padT, plotW-padL-padR, plotH-padT-padB)
	fmt.Fprintf(&p.b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", (padL+plotW-padR)/2, plotH-12, escape(p.xLabel))
	fmt.Fprintf(&p.b, `<text x="16" y="%d" text-anchor="middle" transform="rotate(-90 16 %d)">%s</text>`+"\n", (padT+plotH-padB)/2, (padT+plotH-padB)/2, escape(p.yLabel))
}

func (p *plot) line(xs, ys []float64, color string, dashed bool) {
	if len(xs) == 0 {
		return
	}
	var pts strings.Builder
	for i := range xs {
		fmt.Fprintf(&pts, "%.1f,%.1f ", p.px(xs[i]), p.py(ys[i]))
	}
	dash := ""
	if dashed {
		dash = ` stroke-dasharray="6 4"`
	}
	fmt.Fprintf(&p.b, `<polyline fill="none" stroke="%s" stroke-width="1.5"%s points="%s"/>`+"\n", color, dash, strings.TrimSpace(pts.String()))
}

func (p *plot) note(s string) {
	fmt.Fprintf(&p.b, `<text x="%d" y="%d" text-anchor="middle" fill="#888">%s</text>`+"\n", plotW/2, plotH/2, escape(s))
}

func (p *plot) bytes() []byte {
	p.b.WriteString("</svg>\n")
	return []byte(p.b.String())
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// cdfPlot draws the empirical CDF of the convergence times (sorted).
func cdfPlot(lat []float64) []byte {
	hi := 0.0
	if len(lat) > 0 {
		hi = lat[len(lat)-1]
	}
	p := newPlot("Write convergence CDF", "seconds from write to every target member", "fraction of writes", 0, hi, 0, 1)
	p.frame()
	if len(lat) == 0 {
		p.note("no converged writes")
		return p.bytes()
	}
	xs := make([]float64, 0, 2*len(lat)+1)
	ys := make([]float64, 0, 2*len(lat)+1)
	xs, ys = append(xs, 0), append(ys, 0)
	for i, l := range lat {
		xs = append(xs, l, l)
		ys = append(ys, float64(i)/float64(len(lat)), float64(i+1)/float64(len(lat)))
	}
	p.line(xs, ys, "#1f77b4", false)
	return p.bytes()
}

// seriesPlot draws f (and, dashed, g if set) over the samples' times.
func seriesPlot(title, yLabel string, series []Sample, f, g func(Sample) float64) []byte {
	var xs, ys, zs []float64
	hiX, hiY := 0.0, 0.0
	for _, s := range series {
		xs = append(xs, s.TimeSeconds)
		ys = append(ys, f(s))
		hiX = max(hiX, s.TimeSeconds)
		hiY = max(hiY, f(s))
		if g != nil {
			zs = append(zs, g(s))
			hiY = max(hiY, g(s))
		}
	}
	p := newPlot(title, "virtual time (s)", yLabel, 0, hiX, 0, hiY*1.05)
	p.frame()
	if len(series) == 0 {
		p.note("no samples")
		return p.bytes()
	}
	p.line(xs, ys, "#1f77b4", false)
	if g != nil {
		p.line(xs, zs, "#d62728", true)
	}
	return p.bytes()
}
