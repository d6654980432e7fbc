package memory_test

import (
	"testing"

	"handler/function/functions/pkg/memory"
	"handler/function/functions/pkg/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) storetest.Store { return memory.New() })
}
