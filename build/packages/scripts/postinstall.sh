#!/bin/sh
# audittail post-installation script, shared by the .deb (postinst) and the .rpm (%post).
#   deb: "configure" [most recently configured version] on install and upgrade (deb-postinst(5));
#        "abort-upgrade", "abort-remove", "abort-deconfigure" when an operation is rolled back.
#   rpm: the number of installed versions of the package once this one is in place:
#        1 on install, 2 or more on upgrade.
# It never enables or starts audittail.service: the service must not start before the operator
# has written the stream token and set output.endpoint (see the comment at the top of the unit).
set -e

# systemd is running when this directory exists (sd_booted(3)). The variable only lets the
# package tests point the check at a temporary directory.
systemd_run=${AUDITTAIL_SYSTEMD_RUN:-/run/systemd/system}

upgrade=false
case "$1" in
configure)
	# An empty second argument means a first installation.
	if [ -n "${2:-}" ]; then
		upgrade=true
	fi
	;;
abort-upgrade | abort-remove | abort-deconfigure) ;;
[0-9]*)
	if [ "$1" -ge 2 ]; then
		upgrade=true
	fi
	;;
*)
	# Other deb actions (for example "triggered"): nothing to do.
	exit 0
	;;
esac

# The system user of the service, from /usr/lib/sysusers.d/audittail.conf (sysusers.d(5)).
if command -v systemd-sysusers >/dev/null 2>&1; then
	systemd-sysusers audittail.conf
elif ! getent passwd audittail >/dev/null 2>&1; then
	useradd --system --user-group --no-create-home --home-dir /var/lib/audittail \
		--shell /usr/sbin/nologin audittail
fi

# As in the scripts debhelper generates, a failure of systemctl (reported on standard error)
# does not fail the installation: the files are in place and the operator can act on it.
if [ -d "$systemd_run" ]; then
	systemctl daemon-reload || true
	if [ "$upgrade" = true ]; then
		# Restarts the service only if it is running, i.e. already configured and started by
		# the operator; it resumes from its checkpoint.
		systemctl try-restart audittail.service || true
	fi
fi

exit 0
