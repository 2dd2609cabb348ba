#!/bin/sh
# passkdc post-install: a system user of its own; state and config directories.
set -e
if ! getent group passkdc >/dev/null; then
	addgroup --system --quiet passkdc
fi
if ! getent passwd passkdc >/dev/null; then
	adduser --system --quiet --ingroup passkdc --home /var/lib/passkdc --no-create-home \
		--shell /usr/sbin/nologin --gecos "passkdc service" passkdc
fi
install -d -m 0700 -o passkdc -g passkdc /var/lib/passkdc
chown root:passkdc /etc/passkdc /etc/passkdc/passkdc.yaml
chmod 0750 /etc/passkdc
chmod 0640 /etc/passkdc/passkdc.yaml
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
