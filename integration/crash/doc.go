// Package crash kills a real `passkdc serve` (standalone mode, SQLite) with
// SIGKILL at random points under concurrent registrations and sign-ins, and
// checks after every kill that nothing acknowledged was lost.
package crash
