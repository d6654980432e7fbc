package memory_test

import (
	"testing"
	"time"

	"handler/function/functions/pkg/memory"
	"handler/function/functions/pkg/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(_ *testing.T, now func() time.Time) storetest.Store {
		s := memory.New()
		s.Now = now
		return s
	})
}
