package payment_test

import (
	"encoding/json"
	"strings"
	"testing"

	"handler/function/functions/pkg/payment"
)

func TestParseAmount(t *testing.T) {
	tests := []struct {
		in      string
		want    payment.Amount
		wantErr string // a part of the error message; "" means success
	}{
		{in: "0", want: 0},
		{in: "1", want: 100},
		{in: "125", want: 12500},
		{in: "125.5", want: 12550},
		{in: "125.50", want: 12550},
		{in: "0.01", want: 1},
		{in: "0.1", want: 10},
		{in: "007.50", want: 750},
		{in: "0000000000000000000001", want: 100},
		{in: "999999999999.99", want: 99999999999999},
		{in: "", wantErr: "is empty"},
		{in: "-1", wantErr: "greater than zero"},
		{in: "+1", wantErr: "plain decimal"},
		{in: "1.234", wantErr: "at most 2 decimals"},
		{in: "0.001", wantErr: "at most 2 decimals"},
		{in: "1e3", wantErr: "plain decimal"},
		{in: "1E3", wantErr: "plain decimal"},
		{in: "NaN", wantErr: "plain decimal"},
		{in: "Infinity", wantErr: "plain decimal"},
		{in: " 1", wantErr: "plain decimal"},
		{in: "1 ", wantErr: "plain decimal"},
		{in: "1.", wantErr: "plain decimal"},
		{in: ".5", wantErr: "plain decimal"},
		{in: ".", wantErr: "plain decimal"},
		{in: "1,50", wantErr: "plain decimal"},
		{in: "1.2.3", wantErr: "plain decimal"},
		{in: "0x10", wantErr: "plain decimal"},
		{in: "١٢", wantErr: "plain decimal"}, // digits, but not ASCII ones
		{in: "-5", wantErr: "greater than zero"},
		{in: "-", wantErr: "plain decimal"},
		{in: "1000000000000", wantErr: "too large"},
		{in: "99999999999999999999999999", wantErr: "too large"},
		{in: "99999999999999999999999999.99", wantErr: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := payment.ParseAmount(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseAmount(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseAmount(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestMustParseAmountPanicsOnBadInput(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("MustParseAmount(\"x\") did not panic")
		}
	}()
	payment.MustParseAmount("x")
}

func TestAmountString(t *testing.T) {
	tests := []struct {
		in   payment.Amount
		want string
	}{
		{0, "0.00"},
		{1, "0.01"},
		{10, "0.10"},
		{100, "1.00"},
		{12550, "125.50"},
		{99999999999999, "999999999999.99"},
		{-150, "-1.50"},
		{-1, "-0.01"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Amount(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
	}
}

func TestAmountMarshalsAsStringWithTwoDecimals(t *testing.T) {
	got, err := json.Marshal(struct {
		Amount payment.Amount `json:"amount"`
	}{payment.MustParseAmount("125.5")})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"amount":"125.50"}` {
		t.Fatalf("marshal = %s", got)
	}
}

func TestAmountUnmarshalJSON(t *testing.T) {
	tests := []struct {
		name    string
		raw     string // the JSON value of the amount
		want    payment.Amount
		wantErr string
	}{
		{name: "number", raw: `125.5`, want: 12550},
		{name: "integer number", raw: `125`, want: 12500},
		{name: "string", raw: `"125.50"`, want: 12550},
		{name: "string with one decimal", raw: `"0.5"`, want: 50},
		{name: "escaped string", raw: `"\u0031"`, want: 100},
		{name: "zero is read; Validate rejects it", raw: `0`, want: 0},
		{name: "exactly two decimals kept", raw: `0.99`, want: 99},
		{name: "leading zeros in a string", raw: `"0012.30"`, want: 1230},
		{name: "negative number", raw: `-1`, wantErr: "greater than zero"},
		{name: "negative zero", raw: `-0`, wantErr: "greater than zero"},
		{name: "negative string", raw: `"-1"`, wantErr: "greater than zero"},
		{name: "negative decimal string", raw: `"-0.50"`, wantErr: "greater than zero"},
		{name: "double minus string", raw: `"--1"`, wantErr: "plain decimal"},
		{name: "three decimals", raw: `1.234`, wantErr: "at most 2 decimals"},
		{name: "three decimals string", raw: `"1.234"`, wantErr: "at most 2 decimals"},
		{name: "exponent", raw: `1e3`, wantErr: "plain decimal"},
		{name: "exponent string", raw: `"1e3"`, wantErr: "plain decimal"},
		{name: "NaN string", raw: `"NaN"`, wantErr: "plain decimal"},
		{name: "Infinity string", raw: `"Infinity"`, wantErr: "plain decimal"},
		{name: "leading space in string", raw: `" 1"`, wantErr: "plain decimal"},
		{name: "trailing dot string", raw: `"1."`, wantErr: "plain decimal"},
		{name: "leading dot string", raw: `".5"`, wantErr: "plain decimal"},
		{name: "empty string", raw: `""`, wantErr: "is empty"},
		{name: "huge number", raw: `12345678901234567890`, wantErr: "too large"},
		{name: "huge string", raw: `"1000000000000.00"`, wantErr: "too large"},
		{name: "boolean", raw: `true`, wantErr: "number or a numeric string"},
		{name: "object", raw: `{"value":1}`, wantErr: "number or a numeric string"},
		{name: "array", raw: `[1]`, wantErr: "number or a numeric string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got struct {
				Amount payment.Amount `json:"amount"`
			}
			err := json.Unmarshal([]byte(`{"amount":`+tt.raw+`}`), &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("unmarshal %s = %v, %v; want error containing %q", tt.raw, got.Amount, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Amount != tt.want {
				t.Fatalf("unmarshal %s = %d, %v; want %d", tt.raw, got.Amount, err, tt.want)
			}
		})
	}
}

func TestAmountRejectsJSONNaNAndInfinityLiterals(t *testing.T) {
	// NaN and Infinity are not JSON: the decoder refuses them before the amount sees them.
	for _, raw := range []string{"NaN", "Infinity", "-Infinity", "01"} {
		var got struct {
			Amount payment.Amount `json:"amount"`
		}
		if err := json.Unmarshal([]byte(`{"amount":`+raw+`}`), &got); err == nil {
			t.Errorf("unmarshal %s succeeded with %v", raw, got.Amount)
		}
	}
}

func TestAmountJSONRoundTrip(t *testing.T) {
	for _, s := range []string{"0.01", "1", "125.5", "999999999999.99"} {
		a := payment.MustParseAmount(s)
		raw, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		var back payment.Amount
		if err := json.Unmarshal(raw, &back); err != nil || back != a {
			t.Fatalf("%s -> %s -> %v, %v", s, raw, back, err)
		}
	}
}
