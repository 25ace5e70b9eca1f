#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""tests/guest/drive.py -- drives QEMU standing in for gem5: the serial
console (a unix socket) and QMP.  Used by tests/guest/restore.sh and by
contrib/slurm/sim-qemu.sh.

    drive.py checkpoint SERIAL QMP LOG STATE TIMEOUT MARKER
        wait for MARKER on the console, stop the VM, migrate it to the file
        STATE (the checkpoint), quit
    drive.py restore SERIAL QMP LOG LINE TIMEOUT MARKER
        wait for the incoming migration, cont, type LINE on the console,
        wait for MARKER and for QEMU to power off
    drive.py cow-overlap OFFSET BSIZE BLOCK... <qemu-img-map.json
        ranges of the top qcow2 layer that overlap those file system blocks
"""
import json, os, select, socket, sys, time

def connect(path, deadline):
    deadline = min(deadline, time.time() + 30)      # qemu makes it at once
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.time() > deadline:
                raise SystemExit("drive.py: cannot connect to %s" % path)
            time.sleep(0.1)

class Serial:
    def __init__(self, path, log, deadline):
        self.s = connect(path, deadline)
        self.log = open(log, "ab", buffering=0)
        self.buf = b""
        self.eof = False
    def pump(self, wait):
        if self.eof:
            time.sleep(wait)
            return
        r, _, _ = select.select([self.s], [], [], wait)
        if r:
            d = self.s.recv(65536)
            if not d:
                self.eof = True
            self.log.write(d)
            self.buf += d
    def wait_for(self, text, deadline):
        t = text.encode()
        while t not in self.buf:
            if self.eof or time.time() > deadline:
                return False
            self.pump(0.5)
        return True
    def drain(self, deadline):
        while not self.eof and time.time() < deadline:
            self.pump(0.5)
    def send(self, line):
        self.s.sendall(line.encode() + b"\n")

class QMP:
    def __init__(self, path, deadline):
        self.s = connect(path, deadline)
        self.f = self.s.makefile("rb")
        json.loads(self.f.readline())          # greeting
        self.cmd("qmp_capabilities")
    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.s.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            line = self.f.readline()
            if not line:
                raise SystemExit("drive.py: QMP closed during %s" % name)
            r = json.loads(line)
            if "event" in r:
                continue
            if "error" in r:
                raise SystemExit("drive.py: QMP %s: %s" % (name, r["error"]))
            return r.get("return")

def checkpoint(serial, qmp, log, state, timeout, marker):
    deadline = time.time() + timeout
    con = Serial(serial, log, deadline)
    q = QMP(qmp, deadline)
    t = time.time()
    if not con.wait_for(marker, deadline):
        raise SystemExit("drive.py: no %s on the console (%s)" %
                         (marker, "qemu ended" if con.eof else "timeout"))
    t1 = time.time()
    q.cmd("stop")
    q.cmd("migrate-set-parameters", **{"max-bandwidth": 8 << 30})
    q.cmd("migrate", uri="exec:cat > '%s'" % state)
    while True:
        st = q.cmd("query-migrate").get("status")
        if st == "completed":
            break
        if st in ("failed", "cancelled") or time.time() > deadline:
            raise SystemExit("drive.py: migration %s" % st)
        time.sleep(0.2)
    t2 = time.time()
    try:
        q.cmd("quit")
    except SystemExit:
        pass
    con.drain(time.time() + 10)
    print("boot to %s %.1f s, migration %.1f s, state %d MiB" %
          (marker, t1 - t, t2 - t1, os.path.getsize(state) >> 20), file=sys.stderr)

def restore(serial, qmp, log, line, timeout, marker):
    deadline = time.time() + timeout
    con = Serial(serial, log, deadline)
    q = QMP(qmp, deadline)
    t = time.time()
    while True:
        st = q.cmd("query-status")["status"]
        if st not in ("inmigrate", "prelaunch"):
            break
        if time.time() > deadline:
            raise SystemExit("drive.py: incoming migration did not finish")
        time.sleep(0.1)
    mig = (q.cmd("query-migrate") or {}).get("status")
    if mig not in (None, "completed"):
        raise SystemExit("drive.py: incoming migration %s (vm %s)" % (mig, st))
    t1 = time.time()
    q.cmd("cont")
    time.sleep(0.5)
    con.send(line)
    ok = con.wait_for(marker, deadline)
    con.drain(min(deadline, time.time() + 30))      # until qemu powers off
    print("incoming %.1f s (vm %s), cont to %s %.1f s" %
          (t1 - t, st, marker, time.time() - t1), file=sys.stderr)
    if not ok:
        raise SystemExit("drive.py: no %s on the console" % marker)

if __name__ == "__main__":
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "checkpoint":
        checkpoint(a[0], a[1], a[2], a[3], float(a[4]), a[5])
    elif cmd == "restore":
        restore(a[0], a[1], a[2], a[3], float(a[4]), a[5])
    elif cmd == "cow-overlap":
        # cow-overlap OFFSET BSIZE BLOCK...: print the ranges of a qemu-img map
        # (JSON on stdin) in the top layer that overlap one of the file system
        # blocks (BSIZE bytes each, the file system at OFFSET in the disk).
        off, bs = int(a[0]), int(a[1])
        blocks = [off + int(b) * bs for b in a[2:]]
        for e in json.load(sys.stdin):
            if e.get("depth") == 0 and e.get("data") and any(
                    e["start"] < b + bs and b < e["start"] + e["length"] for b in blocks):
                print("%d+%d" % (e["start"], e["length"]))
    else:
        raise SystemExit("drive.py: unknown command " + cmd)
