package postgres

import (
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// registerUUID lets pgx send uuid.UUID, alone or in a slice, as the 16 bytes
// it is. Without it pgx finds uuid.UUID's driver.Valuer and goes through text:
// every id formatted as a string for pgx to parse again, a slice element by
// element through reflection, which was a twentieth of create-payment's CPU
// (docs/benchmarks.md). (Reading one is left to its sql.Scanner: pgx tries
// that before any wrapper, and the store reads few ids.)
func registerUUID(m *pgtype.Map) {
	m.TryWrapEncodePlanFuncs = append([]pgtype.TryWrapEncodePlanFunc{wrapUUIDEncode}, m.TryWrapEncodePlanFuncs...)
}

// pgUUID is a uuid.UUID as pgtype's UUID codec takes it.
type pgUUID uuid.UUID

func (u pgUUID) UUIDValue() (pgtype.UUID, error) { return pgtype.UUID{Bytes: u, Valid: true}, nil }

func wrapUUIDEncode(value any) (pgtype.WrappedEncodePlanNextSetter, any, bool) {
	switch v := value.(type) {
	case uuid.UUID:
		return &uuidEncodePlan{}, pgUUID(v), true
	case []uuid.UUID:
		// As an array of pgtype.UUID, which pgx encodes without reflection.
		return &uuidEncodePlan{}, pgUUIDs(v), true
	}
	return nil, nil, false
}

type uuidEncodePlan struct{ next pgtype.EncodePlan }

func (p *uuidEncodePlan) SetNext(next pgtype.EncodePlan) { p.next = next }

func (p *uuidEncodePlan) Encode(value any, buf []byte) ([]byte, error) {
	if ids, ok := value.([]uuid.UUID); ok {
		return p.next.Encode(pgUUIDs(ids), buf)
	}
	return p.next.Encode(pgUUID(value.(uuid.UUID)), buf)
}

func pgUUIDs(ids []uuid.UUID) pgtype.FlatArray[pgtype.UUID] {
	out := make(pgtype.FlatArray[pgtype.UUID], len(ids))
	for i, id := range ids {
		out[i] = pgtype.UUID{Bytes: id, Valid: true}
	}
	return out
}
