package sqlite

import (
	"regexp"
	"strings"
	"testing"
)

// TestSignInQueriesUseIndexes: no statement a sign-in runs scans a table, so
// that its cost does not grow with the number of principals and credentials.
// (An "empty parameter OR principal = ?" condition in a prepared statement
// once made every sign-in scan all credentials.)
func TestSignInQueriesUseIndexes(t *testing.T) {
	s := openTest(t, defaultOptions())
	queries := map[string]string{
		"get credential": qGetCredentialAndMarker, "list credentials of": qListCredentialsOf,
		"get principal": qGetPrincipal, "get principal by name": qGetPrincipalByName,
		"transitive groups": qTransitiveGroups, "consume session": qConsumeSession,
		"update credential use": qUpdateCredentialUse, "count sessions of": qCountSessionsOf,
		"list TAPs of": qListTAPsOf,
	}
	// "SCAN up" walks the recursive CTE's own rows, not a table.
	scan := regexp.MustCompile(`\bSCAN (\w+)`)
	for name, q := range queries {
		t.Run(name, func(t *testing.T) {
			rows, err := s.rdb.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, placeholders(q)...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, notused int
				var detail string
				if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
				if m := scan.FindStringSubmatch(detail); m != nil && m[1] != "up" {
					t.Errorf("plan scans table %s: %s", m[1], detail)
				}
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if len(plan) == 0 {
				t.Fatal("empty plan")
			}
			t.Log(strings.Join(plan, "; "))
		})
	}
}

// placeholders returns one nil argument per "?" of q.
func placeholders(q string) []any {
	return make([]any, strings.Count(q, "?"))
}
