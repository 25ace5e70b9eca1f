#!/bin/sh
# m5 stand-in for booting a hack-back image under QEMU instead of gem5.
# Installed as /sbin/m5 (hackbackfs -o m5=PATH). It prints what gem5's m5 would
# have been asked to do, so a test can follow the sequence on the serial log:
#   checkpoint  -> prints "m5-standin: checkpoint" and returns at once (as gem5
#                  does after a restore)
#   readfile    -> prints nothing (no system.readfile), exit 0; for tests of
#                  the readfile path, the contents of /etc/m5-standin.readfile
#                  if that file exists
#   exit        -> prints "m5-standin: exit" and the marker M5-STANDIN-EXIT,
#                  then powers the machine off (QEMU -no-reboot then ends)
#   anything else -> prints its arguments, exit 0
cmd=${1:-}
case $cmd in
    readfile)
        [ -r /etc/m5-standin.readfile ] && cat /etc/m5-standin.readfile
        exit 0 ;;
    exit)
        echo "m5-standin: $*"
        echo "M5-STANDIN-EXIT"
        sync
        # Poweroff without the service manager's help: quick and it works from
        # any state. sysrq as the fallback if poweroff is missing.
        poweroff -f 2>/dev/null || { echo 1 >/proc/sys/kernel/sysrq; echo o >/proc/sysrq-trigger; }
        sleep 30
        exit 1 ;;
    *)
        echo "m5-standin: $*"
        exit 0 ;;
esac
