#!/bin/sh
# passkdc post-remove: on purge, remove the state directory and the service user.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
if [ "$1" = purge ]; then
	rm -rf /var/lib/passkdc
	if getent passwd passkdc >/dev/null; then deluser --system --quiet passkdc || true; fi
	if getent group passkdc >/dev/null; then delgroup --system --quiet passkdc || true; fi
fi
exit 0
