package function

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// MustRandomIDs returns n random payment ids from a fixed seed, so every run
// checks the same ids.
func MustRandomIDs(tb testing.TB, n int) []uuid.UUID {
	tb.Helper()
	src := rand.NewChaCha8([32]byte{'p', 'a', 'y'})
	ids := make([]uuid.UUID, n)
	for i := range ids {
		id, err := uuid.NewRandomFromReader(src)
		if err != nil {
			tb.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

func TestDecideIsDeterministicPerPayment(t *testing.T) {
	p := Provider{SuccessRate: 0.8, MinDelay: 3 * time.Second, MaxDelay: 25 * time.Second}
	again := Provider{SuccessRate: 0.8, MinDelay: 3 * time.Second, MaxDelay: 25 * time.Second}
	distinct := map[Decision]bool{}
	for _, id := range MustRandomIDs(t, 200) {
		d := p.Decide(id)
		if d2 := again.Decide(id); d2 != d {
			t.Fatalf("Decide(%s) = %+v, then %+v", id, d, d2)
		}
		distinct[d] = true
	}
	if len(distinct) < 190 {
		t.Fatalf("200 payments got only %d distinct decisions", len(distinct))
	}
}

func TestDecideRespectsTheSuccessRateBounds(t *testing.T) {
	ids := MustRandomIDs(t, 1000)
	for _, rate := range []float64{0, 1} {
		p := Provider{SuccessRate: rate}
		for _, id := range ids {
			if d := p.Decide(id); d.Success != (rate == 1) {
				t.Fatalf("rate %v: Decide(%s).Success = %v", rate, id, d.Success)
			}
		}
	}
}

func TestDecideSuccessShare(t *testing.T) {
	// A property of the hash: over many ids the share of successes is the
	// rate. For 10,000 ids at 0.8 the standard deviation is 0.004, so the band
	// is five of them wide on each side.
	p := Provider{SuccessRate: 0.8}
	ids := MustRandomIDs(t, 10_000)
	successes := 0
	for _, id := range ids {
		if p.Decide(id).Success {
			successes++
		}
	}
	if share := float64(successes) / float64(len(ids)); share < 0.78 || share > 0.82 {
		t.Fatalf("success share %.4f, want 0.78-0.82", share)
	}
}

func TestDecideDelay(t *testing.T) {
	minDelay, maxDelay := 3*time.Second, 25*time.Second
	p := Provider{SuccessRate: 0.8, MinDelay: minDelay, MaxDelay: maxDelay}
	var delays []time.Duration
	for _, id := range MustRandomIDs(t, 1000) {
		d := p.Decide(id).Delay
		if d < minDelay || d > maxDelay {
			t.Fatalf("delay %v outside [%v, %v]", d, minDelay, maxDelay)
		}
		delays = append(delays, d)
	}
	// The delays spread over the whole range, not a corner of it.
	if lo, hi := slices.Min(delays), slices.Max(delays); lo > 4*time.Second || hi < 24*time.Second {
		t.Fatalf("delays span only [%v, %v]", lo, hi)
	}

	for _, fixed := range []time.Duration{0, 5 * time.Second} {
		p := Provider{SuccessRate: 0.5, MinDelay: fixed, MaxDelay: fixed}
		for _, id := range MustRandomIDs(t, 100) {
			if d := p.Decide(id).Delay; d != fixed {
				t.Fatalf("MinDelay = MaxDelay = %v gave %v", fixed, d)
			}
		}
	}
}

func TestDecideDetails(t *testing.T) {
	p := Provider{SuccessRate: 0.5}
	seen := map[bool]bool{}
	for _, id := range MustRandomIDs(t, 200) {
		d := p.Decide(id)
		seen[d.Success] = true
		switch {
		case d.Success && !strings.HasPrefix(d.Details, "accepted by provider, reference "):
			t.Fatalf("success details %q", d.Details)
		case !d.Success && !slices.Contains(rejections, d.Details):
			t.Fatalf("rejection details %q", d.Details)
		}
	}
	if !seen[true] || !seen[false] {
		t.Fatalf("200 payments at rate 0.5 saw outcomes %v", seen)
	}
}
