package payment

import (
	"bytes"
	"encoding/json"
	"errors"
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

// ErrAmountTooLarge is ParseAmount's error for an amount beyond any maximum:
// a caller that knows its maximum can name it instead.
var ErrAmountTooLarge = errors.New("is too large")

// ParseAmount reads a plain decimal such as "125", "125.5" or "125.50": no
// sign, no exponent, at most two decimals. A negative decimal is refused as
// not greater than zero, as a negative JSON number is, not as malformed.
func ParseAmount(s string) (Amount, error) {
	whole, frac, _ := strings.Cut(s, ".")
	switch {
	case s == "":
		return 0, fmt.Errorf("is empty")
	case strings.HasPrefix(s, "-") && isPlainDecimal(s[1:]):
		return 0, fmt.Errorf("must be greater than zero")
	case !isPlainDecimal(s):
		return 0, fmt.Errorf("must be a plain decimal number such as 125.50")
	case len(frac) > 2:
		return 0, fmt.Errorf("must have at most 2 decimals")
	case len(strings.TrimLeft(whole, "0")) > maxDigits:
		return 0, ErrAmountTooLarge
	}
	units, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, ErrAmountTooLarge
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

func isPlainDecimal(s string) bool {
	whole, frac, hasDot := strings.Cut(s, ".")
	return whole != "" && allDigits(whole) && (!hasDot || (frac != "" && allDigits(frac)))
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
