package overview

import (
	"math"
	"testing"
)

func TestQuantile(t *testing.T) {
	inf := math.Inf(1)
	// 10 observations: 5 at most 0.1 s, 4 more at most 0.5 s, 1 more at most 1 s.
	b := []Bucket{{0.1, 5}, {0.5, 9}, {1, 10}, {inf, 10}}
	tests := []struct {
		q, want float64
	}{
		{0.5, 0.1},   // rank 5: the top of the first bucket
		{0.7, 0.3},   // rank 7: halfway through (0.1, 0.5]
		{0.99, 0.95}, // rank 9.9: 90 % through (0.5, 1]
	}
	for _, tt := range tests {
		if got := Quantile(b, tt.q); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := Quantile([]Bucket{{1, 0}, {inf, 0}}, 0.5); got != 0 {
		t.Errorf("no observations: %v, want 0", got)
	}
	if got := Quantile([]Bucket{{1, 1}, {inf, 3}}, 0.9); got != 1 {
		t.Errorf("beyond the last finite bucket: %v, want its bound 1", got)
	}
	if got := subtract([]Bucket{{1, 7}, {inf, 9}}, []Bucket{{1, 5}, {inf, 5}}); got[0].Count != 2 || got[1].Count != 4 {
		t.Errorf("subtract = %v, want counts 2 and 4", got)
	}
}
