#!/usr/bin/env bash
# Checks the systemd examples with systemd's own tools (make verify-examples runs it after make build):
#   1. audittail.service passes "systemd-analyze verify" without a single message about it;
#   2. its sandbox scores at most MAX_EXPOSURE in "systemd-analyze security --offline";
#   3. audittail.sysusers.conf creates the user the unit runs as, with the state directory as home;
#   4. the credential LoadCredential= loads is the one ExecStart= passes to --stream-file;
#   5. CAP_DAC_READ_SEARCH is the only capability (systemd ignores a misspelt one without a word).
# Usage: verify.sh PATH/TO/audittail   (the binary ExecStart= runs in the checked copy)
set -euo pipefail

bin=$(realpath "${1:?usage: verify.sh PATH/TO/audittail}")
[ -x "$bin" ] || { echo "verify.sh: $bin is not an executable (run make build)" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
unit=$here/audittail.service
sysusers=$here/audittail.sysusers.conf
MAX_EXPOSURE=${MAX_EXPOSURE:-2.0}
for tool in systemd-analyze systemd-sysusers; do
	command -v "$tool" >/dev/null || { echo "verify.sh: $tool not found (apt-get install systemd)" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "verify.sh: FAIL: $*" >&2; exit 1; }

# systemd-analyze verify requires every Exec*= binary to exist: the copy runs the binary just built
# instead of /usr/local/bin/audittail, and a kill(1) that exists here if /bin/kill does not.
kill_bin=/bin/kill
[ -x "$kill_bin" ] || kill_bin=$(type -P kill || type -P true)
sed -E -e "s#^(Exec[A-Za-z]*=[-@:+!|]*)/usr/local/bin/audittail( |\$)#\1$bin\2#" \
	-e "s#^(ExecReload=[-@:+!|]*)/bin/kill( |\$)#\1$kill_bin\2#" "$unit" >"$tmp/audittail.service"
grep -q "^ExecStart=$bin " "$tmp/audittail.service" || fail "ExecStart= does not run /usr/local/bin/audittail"

# 1. Zero messages about our unit. Lines about other units (the host's own) are shown, not counted.
rc=0
out=$(systemd-analyze verify --man=no "$tmp/audittail.service" 2>&1) || rc=$?
ours=$(printf '%s\n' "$out" | grep -E "audittail|$tmp" || true)
others=$(printf '%s\n' "$out" | grep -vE "audittail|$tmp" | grep -v '^$' || true)
[ -z "$others" ] || printf 'systemd-analyze verify, about other units (ignored):\n%s\n' "$others"
[ -z "$ours" ] && [ "$rc" -eq 0 ] || { printf '%s\n' "$ours"; fail "systemd-analyze verify (exit $rc) complains about audittail.service"; }
echo "ok   systemd-analyze verify audittail.service: no warnings"

# 2. Exposure score. Each ✗ left is deliberate and explained in the unit (network, CAP_DAC_READ_SEARCH, ...).
score=$(systemd-analyze security --offline=yes --no-pager "$tmp/audittail.service" 2>&1 |
	sed -nE 's/.*Overall exposure level for audittail\.service: ([0-9.]+).*/\1/p')
[ -n "$score" ] || fail "systemd-analyze security printed no exposure level"
awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' ||
	fail "exposure level $score is above $MAX_EXPOSURE (systemd-analyze security --offline=yes shows why)"
echo "ok   systemd-analyze security: exposure level $score (at most $MAX_EXPOSURE)"

# 3. The user the unit runs as, created by systemd-sysusers into an empty root.
mkdir -p "$tmp/root/etc"
out=$(systemd-sysusers --root="$tmp/root" "$sysusers" 2>&1) || fail "systemd-sysusers: $out"
noise=$(printf '%s\n' "$out" | grep -vE "^Creating (group|user) " | grep -v '^$' || true)
[ -z "$noise" ] || fail "systemd-sysusers warns: $noise"
user=$(sed -nE 's/^User=(.*)/\1/p' "$unit")
group=$(sed -nE 's/^Group=(.*)/\1/p' "$unit")
state=/var/lib/$(sed -nE 's/^StateDirectory=(.*)/\1/p' "$unit")
grep -qE "^$user:x:[0-9]+:[0-9]+:[^:]*:$state:/usr/sbin/nologin\$" "$tmp/root/etc/passwd" ||
	fail "sysusers does not create user $user with home $state and no login: $(cat "$tmp/root/etc/passwd")"
grep -qE "^$group:x:[0-9]+:" "$tmp/root/etc/group" || fail "sysusers does not create group $group"
echo "ok   systemd-sysusers creates $user:$group, home $state, shell /usr/sbin/nologin"

# 4. The credential's name matches what ExecStart= reads.
cred=$(sed -nE 's/^LoadCredential=([^:]+):.*/\1/p' "$unit")
[ -n "$cred" ] || fail "no LoadCredential= line"
grep -qE "^ExecStart=.* --stream-file=\\\$\{CREDENTIALS_DIRECTORY\}/$cred( |\$)" "$unit" ||
	fail "ExecStart= does not pass --stream-file=\${CREDENTIALS_DIRECTORY}/$cred"
echo "ok   credential $cred is loaded and passed as --stream-file"

# 5. Exactly one capability, spelt right: systemd 252 drops an unknown capability name silently.
for key in AmbientCapabilities CapabilityBoundingSet; do
	[ "$(sed -nE "s/^$key=(.*)/\1/p" "$unit")" = CAP_DAC_READ_SEARCH ] || fail "$key= is not exactly CAP_DAC_READ_SEARCH"
done
echo "ok   AmbientCapabilities= and CapabilityBoundingSet= are CAP_DAC_READ_SEARCH only"
