#!/bin/sh
# audittail post-removal script, shared by the .deb (postrm) and the .rpm (%postun).
#   deb: "remove", "purge", "upgrade" <new version>, "failed-upgrade", "abort-install",
#        "abort-upgrade", "disappear" (deb-postrm(5)).
#   rpm: the number of versions of the package left installed: 0 on final removal, 1 or more
#        on upgrade.
set -e

# systemd is running when this directory exists (sd_booted(3)). The variable only lets the
# package tests point the check at a temporary directory.
systemd_run=${AUDITTAIL_SYSTEMD_RUN:-/run/systemd/system}

if [ -d "$systemd_run" ]; then
	# The unit file is gone (removal) or replaced (upgrade).
	systemctl daemon-reload || true
fi

if [ "$1" = purge ]; then
	# Purging removes what the package and its service created outside dpkg's own records
	# (Debian Policy 6.8; piuparts fails a package that leaves files behind after a purge):
	# here the state directory and its checkpoint. Files an operator added to /etc/audittail
	# (the stream token, certificates) were not created by the package and are left alone;
	# dpkg then reports /etc/audittail as not empty and keeps it. The audittail user is kept
	# too: a uid freed for reuse could inherit files it still owns.
	rm -rf /var/lib/audittail
fi

exit 0
