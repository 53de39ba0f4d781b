#!/bin/sh
# audittail pre-removal script, shared by the .deb (prerm) and the .rpm (%preun).
#   deb: "remove" before the package is removed; "upgrade" <new version>, "deconfigure" and
#        "failed-upgrade" otherwise (deb-prerm(5)).
#   rpm: the number of versions of the package left installed after this operation:
#        0 on final removal, 1 or more on upgrade.
# On final removal only, the service is stopped and disabled; on upgrade it keeps running and
# the new package's post-installation script restarts it.
set -e

# systemd is running when this directory exists (sd_booted(3)). The variable only lets the
# package tests point the check at a temporary directory.
systemd_run=${AUDITTAIL_SYSTEMD_RUN:-/run/systemd/system}

case "$1" in
remove | 0)
	if [ -d "$systemd_run" ]; then
		# A failure here (for example a unit that was never loaded) must not block the removal.
		systemctl stop audittail.service || true
		systemctl disable audittail.service || true
	fi
	;;
esac

exit 0
