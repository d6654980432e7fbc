package scaler

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The OpenFaaS autoscaling labels (docs.openfaas.com, architecture/autoscaling).
const (
	LabelMin              = "com.openfaas.scale.min"
	LabelMax              = "com.openfaas.scale.max"
	LabelType             = "com.openfaas.scale.type"
	LabelTarget           = "com.openfaas.scale.target"
	LabelTargetProportion = "com.openfaas.scale.target-proportion"
	LabelZero             = "com.openfaas.scale.zero"
	LabelZeroDuration     = "com.openfaas.scale.zero-duration"
)

// Scaling types: requests per second, or requests in flight.
const (
	TypeRPS      = "rps"
	TypeCapacity = "capacity"
)

// Policy is a function's scaling labels read, with OpenFaaS's defaults for
// the absent ones.
type Policy struct {
	Min, Max int
	// Type is rps or capacity (OpenFaaS also has cpu; a local process has no
	// CPU request to measure against, so it is refused here).
	Type string
	// Target is the load one replica should carry: requests per second (rps)
	// or requests in flight (capacity).
	Target float64
	// TargetProportion scales out before replicas reach Target: 0.9 means at
	// 90 % of it.
	TargetProportion float64
	// Zero lets the function stop after ZeroDuration without calls.
	Zero         bool
	ZeroDuration time.Duration
}

// DefaultPolicy is what OpenFaaS assumes for a function without labels.
var DefaultPolicy = Policy{Min: 1, Max: 20, Type: TypeRPS, Target: 50, TargetProportion: 0.9, ZeroDuration: 15 * time.Minute}

// ParsePolicy reads the scaling labels, reporting every bad one.
func ParsePolicy(labels map[string]string) (Policy, error) {
	p := DefaultPolicy
	var errs []error
	integer := func(key string, into *int) {
		if v, ok := labels[key]; ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 0 {
				errs = append(errs, fmt.Errorf("%s: %q is not a whole number", key, v))
				return
			}
			*into = n
		}
	}
	number := func(key string, into *float64) {
		if v, ok := labels[key]; ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f <= 0 {
				errs = append(errs, fmt.Errorf("%s: %q is not a positive number", key, v))
				return
			}
			*into = f
		}
	}
	integer(LabelMin, &p.Min)
	integer(LabelMax, &p.Max)
	number(LabelTarget, &p.Target)
	number(LabelTargetProportion, &p.TargetProportion)
	if v, ok := labels[LabelType]; ok {
		p.Type = strings.TrimSpace(v)
		if p.Type != TypeRPS && p.Type != TypeCapacity {
			errs = append(errs, fmt.Errorf("%s: %q is not %s or %s", LabelType, v, TypeRPS, TypeCapacity))
		}
	}
	if v, ok := labels[LabelZero]; ok {
		z, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not true or false", LabelZero, v))
		}
		p.Zero = z
	}
	if v, ok := labels[LabelZeroDuration]; ok {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a positive duration", LabelZeroDuration, v))
		}
		p.ZeroDuration = d
	}
	if p.Max < 1 {
		errs = append(errs, fmt.Errorf("%s must be at least 1", LabelMax))
	}
	if p.Min > p.Max {
		errs = append(errs, fmt.Errorf("%s (%d) is above %s (%d)", LabelMin, p.Min, LabelMax, p.Max))
	}
	if p.TargetProportion > 1 {
		errs = append(errs, fmt.Errorf("%s must be at most 1", LabelTargetProportion))
	}
	return p, errors.Join(errs...)
}

// Starting is how many replicas a function starts with: its minimum, and at
// least one, so the stack comes up ready; an idle function scaled to zero
// stops later.
func (p Policy) Starting() int { return max(p.Min, 1) }
