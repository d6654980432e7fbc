package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"handler/function/functions/pkg/payment"
)

// A create that fails for want of the database says the payment may have been
// stored exactly when the insert may have reached the server.
func TestMaybeStored(t *testing.T) {
	// A closed port: the connection is refused and nothing is sent.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, refused := pgx.Connect(ctx, "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=5")
	if refused == nil {
		t.Fatal("connected to port 1")
	}
	tests := map[string]struct {
		err       error
		wantMaybe bool
	}{
		"connection refused":          {refused, false},
		"no answer before a deadline": {fmt.Errorf("insert: %w", context.DeadlineExceeded), true},
		"a refused request":           {payment.Errorf(payment.EINVALID, "bad"), false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			err := maybeStored(classify("create payment", tt.err))
			if got := strings.Contains(err.Error(), "may have been stored"); got != tt.wantMaybe {
				t.Fatalf("%v: says may have been stored %v, want %v", err, got, tt.wantMaybe)
			}
		})
	}
}
