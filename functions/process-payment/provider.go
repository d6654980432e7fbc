package function

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"

	"github.com/google/uuid"
)

// Provider simulates the external payment system: it accepts a payment with
// probability SuccessRate after a delay between MinDelay and MaxDelay.
type Provider struct {
	SuccessRate float64
	MinDelay    time.Duration
	MaxDelay    time.Duration
}

// Decision is the provider's answer for one payment.
type Decision struct {
	Success bool
	Delay   time.Duration
	Details string
}

var rejections = []string{
	"rejected by provider: insufficient funds",
	"rejected by provider: account blocked",
	"rejected by provider: limit exceeded",
}

// Decide is deterministic in the payment id: the same payment always gets the
// same outcome, delay and details, whichever instance asks and however often.
// The id's hash gives two independent uniform numbers, one for the outcome and
// one for the delay.
func (p Provider) Decide(id uuid.UUID) Decision {
	sum := sha256.Sum256(id[:])
	outcome := uniform(sum[0:8])
	spread := uniform(sum[8:16])
	d := Decision{
		Success: outcome < p.SuccessRate,
		Delay:   p.MinDelay + time.Duration(spread*float64(p.MaxDelay-p.MinDelay)),
	}
	if d.Success {
		d.Details = "accepted by provider, reference " + hex.EncodeToString(sum[16:24])
	} else {
		d.Details = rejections[int(sum[24])%len(rejections)]
	}
	return d
}

// uniform maps 8 bytes to [0, 1).
func uniform(b []byte) float64 {
	return float64(binary.BigEndian.Uint64(b)>>11) / (1 << 53)
}
