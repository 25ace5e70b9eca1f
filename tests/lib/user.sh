# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=sh disable=SC2154  # $tmp: from tests/lib/common.sh
# tests/lib/user.sh -- a throwaway user for the tests that mount as a user
# without root (through the setuid fusermount3).
#
# Source it FIRST, before tests/lib/common.sh: where /dev/fuse is not usable by
# other users (0600 in some containers) it re-runs the test in a private
# mount namespace of its own, where a 0666 node is bound over /dev/fuse
# (user_fuse_node, after tests/lib/common.sh and tests/lib/mount.sh); nothing
# outside that namespace changes.  Then:
#   user_setup NAME   needs root; skips unless fusermount3 is setuid root;
#                     creates user NAME unless it exists (removed at exit,
#                     after the mounts) and sets $user, $uid, $gid; each
#                     test uses a name of its own, since tests run at once
#   as_user CMD...    CMD as that user, with a home of its own ($tmp/u)
if [ -z "${HB_FUSE_NS:-}" ] && [ "$(id -u)" -eq 0 ] && [ -c /dev/fuse ] &&
	[ $((0$(stat -c %a /dev/fuse) & 6)) -ne 6 ] &&
	command -v unshare >/dev/null 2>&1 && unshare -m true 2>/dev/null; then
	HB_FUSE_NS=1 exec unshare -m --propagation private sh "$0" "$@"
fi

user_setup()
{
	requires_root
	requires setpriv useradd userdel id
	_fm=$(command -v fusermount3)
	if [ ! -u "$_fm" ] || [ "$(stat -L -c %u "$_fm")" -ne 0 ]; then
		skip "$_fm is not setuid root"
	fi
	if [ -n "${HB_FUSE_NS:-}" ]; then
		# Our own namespace: a 0666 node for the same device over /dev/fuse.
		mkdir "$tmp/dev"
		mount -t tmpfs -o mode=0755 hbfs-dev "$tmp/dev" || skip "cannot mount a tmpfs for /dev/fuse"
		mknod -m 0666 "$tmp/dev/fuse" c "$((0x$(stat -c %t /dev/fuse)))" "$((0x$(stat -c %T /dev/fuse)))" ||
			skip "cannot make a device node"
		mount --bind "$tmp/dev/fuse" /dev/fuse || skip "cannot bind a node over /dev/fuse"
		echo "note: /dev/fuse is not usable by other users here: using a private mount namespace"
	fi
	user=$1
	if ! id "$user" >/dev/null 2>&1; then
		useradd -M -r -U -d /nonexistent -s /bin/sh "$user" || fail "useradd $user failed"
		# after the mounts and daemons are gone (on_exit runs this first)
		on_exit "_hb_mount_cleanup; userdel $user"
	fi
	uid=$(id -u "$user")
	gid=$(id -g "$user")
	[ "$uid" -ne 0 ] || fail "$user is root"
	as_user sh -c ': <>/dev/fuse' 2>/dev/null || skip "/dev/fuse is not usable by $user"
}

as_user()
{
	env -i PATH="$PATH" HOME="$tmp/u" LC_ALL=C \
		setpriv --reuid="$uid" --regid="$gid" --init-groups "$@"
}
