package postgres

import "github.com/jackc/pgx/v5/pgxpool"

// Pool gives the external tests the store's own connections, with the
// settings Open gave them.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }
