package postgres

import (
	"bytes"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// uuid.UUID goes to Postgres as its 16 bytes, alone and in arrays, exactly as
// pgtype.UUID does, and reads back the same; never through its text (which
// allocates strings for every id: 20 allocations per id without registerUUID,
// counted, not timed).
func TestUUIDsAreSentAsTheirBytes(t *testing.T) {
	m := pgtype.NewMap()
	registerUUID(m)
	ids := make([]uuid.UUID, 100)
	asPgtype := make([]pgtype.UUID, len(ids))
	for i := range ids {
		ids[i] = uuid.New()
		asPgtype[i] = pgtype.UUID{Bytes: ids[i], Valid: true}
	}
	got, err := m.Encode(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := pgtype.NewMap().Encode(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, asPgtype, nil)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("array encoded as %x (%v), want %x", got, err, want)
	}
	one, err := m.Encode(pgtype.UUIDOID, pgtype.BinaryFormatCode, ids[0], nil)
	if err != nil || !bytes.Equal(one, ids[0][:]) {
		t.Fatalf("one id encoded as %x (%v), want %x", one, err, ids[0][:])
	}
	var back uuid.UUID
	if err := m.Scan(pgtype.UUIDOID, pgtype.BinaryFormatCode, one, &back); err != nil || back != ids[0] {
		t.Fatalf("scanned %v (%v), want %v", back, err, ids[0])
	}
	var buf []byte
	allocs := testing.AllocsPerRun(20, func() {
		buf, _ = m.Encode(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, ids, buf[:0])
	})
	if allocs > 2*float64(len(ids)) {
		t.Errorf("encoding %d ids made %.0f allocations: they went through text", len(ids), allocs)
	}
}
