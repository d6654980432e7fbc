package payment

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Amount is an amount of money in minor units (cents). Money is never a float:
// amounts are parsed from and written as decimal text.
type Amount int64

// maxDigits bounds the integer part so that cents always fit in an int64 and in
// the NUMERIC(14,2) column.
const maxDigits = 12

// ParseAmount reads a plain decimal such as "125", "125.5" or "125.50": no
// sign, no exponent, at most two decimals.
func ParseAmount(s string) (Amount, error) {
	whole, frac, hasDot := strings.Cut(s, ".")
	switch {
	case s == "":
		return 0, fmt.Errorf("is empty")
	case !allDigits(whole) || whole == "" || (hasDot && (frac == "" || !allDigits(frac))):
		return 0, fmt.Errorf("must be a plain decimal number such as 125.50")
	case len(frac) > 2:
		return 0, fmt.Errorf("must have at most 2 decimals")
	case len(strings.TrimLeft(whole, "0")) > maxDigits:
		return 0, fmt.Errorf("is too large")
	}
	units, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("is too large")
	}
	cents := int64(0)
	if frac != "" {
		cents, _ = strconv.ParseInt((frac + "0")[:2], 10, 64)
	}
	return Amount(units*100 + cents), nil
}

// MustParseAmount is ParseAmount for constants and tests.
func MustParseAmount(s string) Amount {
	a, err := ParseAmount(s)
	if err != nil {
		panic(fmt.Sprintf("amount %q %v", s, err))
	}
	return a
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// String writes the amount with exactly two decimals.
func (a Amount) String() string {
	sign := ""
	if a < 0 {
		sign, a = "-", -a
	}
	return fmt.Sprintf("%s%d.%02d", sign, a/100, a%100)
}

// MarshalJSON writes the amount as a decimal string, so no client reads it as a float.
func (a Amount) MarshalJSON() ([]byte, error) {
	return []byte(`"` + a.String() + `"`), nil
}

// UnmarshalJSON accepts a JSON number (125.5) or a numeric string ("125.50"),
// as the original UI sent strings. The number is read as text, never as float64.
func (a *Amount) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	var text string
	switch {
	case len(data) > 0 && data[0] == '"':
		if err := json.Unmarshal(data, &text); err != nil {
			return fmt.Errorf("must be a number or a numeric string")
		}
	case len(data) > 0 && (data[0] == '-' || (data[0] >= '0' && data[0] <= '9')):
		text = string(data)
		if strings.HasPrefix(text, "-") {
			return fmt.Errorf("must be greater than zero")
		}
	default:
		return fmt.Errorf("must be a number or a numeric string")
	}
	parsed, err := ParseAmount(text)
	if err != nil {
		return err
	}
	*a = parsed
	return nil
}
