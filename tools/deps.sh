#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tools/deps.sh -- install the Debian/Ubuntu packages needed to build
# hackbackfs and run `make check'.  Needs root or sudo; run from anywhere.
#
# One list, so that CI (.ci/run), the README and a developer's machine all
# agree.  Add a package here, in the group that needs it.  The last group
# is for `make fuzz' (libFuzzer); `make check' replays the fuzz inputs with
# gcc, whose ASan/UBSan runtimes come with build-essential.
set -eu

HB_DEPS="
	build-essential autoconf automake libtool pkg-config
	libfuse3-dev fuse3 libext2fs-dev comerr-dev libblkid-dev libssl-dev
	check
	e2fsprogs fdisk attr util-linux mount python3 strace
	coreutils diffutils findutils tar dosfstools
	debootstrap qemu-system-x86 qemu-utils ca-certificates
	qemu-system-arm qemu-system-misc qemu-user-static kmod
	debhelper dpkg-dev fakeroot lintian git
	rpm rpm2cpio cpio rpmlint
	slurm-wlm munge procps
	clang libclang-rt-14-dev
"

if [ "$(id -u)" -eq 0 ]; then
	SUDO=
else
	SUDO=sudo
fi

export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086  # word splitting of the lists is wanted
$SUDO apt-get update
# shellcheck disable=SC2086
$SUDO apt-get install -y --no-install-recommends $HB_DEPS
