#!/bin/sh
# passkdc pre-remove: stop the service before its files go.
set -e
if [ -d /run/systemd/system ]; then
	systemctl stop passkdc.service >/dev/null 2>&1 || true
fi
exit 0
