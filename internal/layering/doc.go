// Package layering holds no code: its tests encode the intended import
// graph of passkdc (which package may import which, and what never may)
// and check that every package says in its doc comment what it owns. See
// docs/architecture.md.
package layering
