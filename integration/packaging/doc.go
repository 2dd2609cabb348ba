// Package packaging tests the Debian package that scripts/package builds: its
// contents, its install and purge on this machine with dpkg, the hardened
// systemd unit (systemd-analyze verify) and the version the installed binaries
// report. It must not be imported; it holds tests only.
package packaging
