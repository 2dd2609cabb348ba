// Package storeopen opens the store a configuration names: a postgres:// or
// postgresql:// URL selects PostgreSQL (several passkdc replicas share it),
// anything else is the path of the embedded SQLite database.
package storeopen

import (
	"context"

	"github.com/sirupsen/logrus"

	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/postgres"
	"github.com/passkdc/passkdc/store/sqlite"
)

// IsURL reports whether dsn names a database server rather than a file.
func IsURL(dsn string) bool { return postgres.IsURL(dsn) }

// Open opens the store named by dsn. The store's own log lines (SQLite's
// background checkpoints) go to log; nil: to standard error.
func Open(ctx context.Context, dsn string, log logrus.FieldLogger) (store.Store, error) {
	if postgres.IsURL(dsn) {
		st, err := postgres.Open(ctx, dsn)
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	st, err := sqlite.Open(ctx, dsn, sqlite.WithLog(log))
	if err != nil {
		return nil, err
	}
	return st, nil
}
