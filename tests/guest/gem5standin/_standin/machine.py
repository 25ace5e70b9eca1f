# SPDX-License-Identifier: BSD-3-Clause
"""The gem5 stand-in's "machine": a QEMU guest in place of gem5's simulated one.

The board hack_back.py configured decides everything: its disk
(CowDiskImage over RawDiskImage, with or without a loaded table), its kernel
and kernel command line, its cores and memory. QEMU boots that kernel (with
the initrd found beside it, as gem5 itself takes none) from a qcow2 layer over
the disk, the layer standing in for gem5's in-memory COW. The guest's m5 ops
come in on a virtio-serial port (guest-m5.sh) and leave m5.simulate() as exit
events; a checkpoint is a QEMU migration to a file plus a copy of the qcow2
layer, written into the checkpoint directory with an m5.cpt that lists the
machine's SimObjects, so that a restore onto another machine fails in
m5.instantiate() as gem5's does.

The QEMU side (QEMU_BOARDS) is the machine tests/guest/common.sh boots for
the board's ISA: X86Board -> qemu-system-x86_64 -machine pc, ArmBoard and
RiscvBoard -> qemu-system-aarch64/riscv64 -machine virt.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(HERE))
import drive  # noqa: E402  tests/guest/drive.py: QMP and unix-socket connect
from _standin.api import v25  # noqa: E402
PORT_NAME = "org.gem5standin.m5"


def say(msg):
    print(f"gem5-standin: {msg}", flush=True)


def fatal(msg):
    """gem5's fatal(): message on stderr, exit status 1."""
    sys.stdout.flush()
    print(f"fatal: {msg}", file=sys.stderr, flush=True)
    os._exit(1)


class QemuBoard:
    """A gem5 board as the QEMU machine tests/guest/common.sh's qemu_settings
    names for the guest's architecture (the one restore.sh, boot.sh and
    export.sh boot): X86Board -> -machine pc with an IDE disk; ArmBoard and
    RiscvBoard -> -machine virt with virtio-blk (/dev/vda), the serial console
    on the machine's first UART (ttyAMA0 on arm64, ttyS0 on riscv64)."""

    def __init__(self, arch, console, disk_name):
        self.arch, self.console, self.disk_name = arch, console, disk_name
        self.q = None

    def settings(self):
        """qemu_settings' variables, with HACKBACK_QEMU_ACCEL/_CPU applied."""
        if self.q is None:
            common = os.path.join(os.path.dirname(HERE), "common.sh")
            names = ["qemu_sys", "machine", "accel", "cpu", "qemu_fw", "disk_if", "kargs"]
            out = subprocess.run(
                ["sh", "-c", '. "$0" && qemu_settings && printf "%s\\n" '
                 + " ".join(f'"${n}"' for n in names), common],
                env=dict(os.environ, HACKBACK_GUEST_ARCH=self.arch, prog="gem5-standin"),
                check=True, stdout=subprocess.PIPE, text=True).stdout.split("\n")
            self.q = dict(zip(names, out))
        return self.q

    def args(self):
        q = self.settings()
        return ([q["qemu_sys"], "-machine", f"{q['machine']},accel={q['accel']}",
                 "-cpu", q["cpu"]] + q["qemu_fw"].split())

    def disk(self, path):
        return ["-drive", f"file={path},format=qcow2,if={self.settings()['disk_if']}"]


# gem5's names: the console's output file, the disk's SimObject path.
QEMU_BOARDS = {
    "X86Board": QemuBoard("amd64", "board.pc.com_1.device",
                          "board.pc.south_bridge.ide.disks.image"),
    "ArmBoard": QemuBoard("arm64", "board.terminal", "board.pci_devices.vio.image"),
    "RiscvBoard": QemuBoard("riscv64", "board.platform.terminal", "board.disk.vio.image"),
}


def _die_with_parent():
    """QEMU gets SIGKILL when the stand-in dies (prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, 9)
    except (OSError, AttributeError):
        pass


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)


class ExitEvent:
    """What m5.simulate() returns (gem5's GlobalSimLoopExitEvent). Posing
    as v25 it also has a hypercall id (0 for the classic m5 ops, whose cause
    and code are as before; a hypercall's cause is "" and its code 0) and a
    payload."""

    def __init__(self, cause, code=0, hypercall=0):
        self._cause, self._code, self._hypercall = cause, code, hypercall

    def getCause(self):
        return self._cause

    def getCode(self):
        return self._code

    if v25():
        def getHypercallId(self):
            return self._hypercall

        def getPayload(self):
            return {}


# The m5 ops that are exit events in gem5, and their exit causes.
CAUSES = {
    "exit": "m5_exit instruction encountered",
    "fail": "m5_fail instruction encountered",
    "checkpoint": "checkpoint",
    "workbegin": "workbegin",
    "workend": "workend",
    "switchcpu": "switchcpu",
}


class Machine:
    def __init__(self, root, outdir):
        self.root = root
        self.board = root.board
        self.outdir = outdir
        self.qemu = None
        self.pending = None
        self.t0 = time.time()
        self.ticks = 0
        self.tmp = tempfile.mkdtemp(prefix="gem5standin-")
        self.work = os.path.join(outdir, "standin")
        os.makedirs(self.work, exist_ok=True)
        self.kind = QEMU_BOARDS[type(self.board).__name__]

    # -- the machine's description: what m5.cpt holds ------------------------
    def sections(self):
        proc = self.board.get_processor()
        names = {"board": type(self.board).__name__,
                 "board.memory": str(self.board.get_memory().get_size())}
        for key, cores in proc._core_groups():
            for i, core in enumerate(cores):
                names[f"board.processor.{key}{i}.core"] = core.core._type
        return names

    def write_cpt(self, d):
        with open(os.path.join(d, "m5.cpt"), "w") as f:
            f.write(f"## checkpoint of the gem5 stand-in (QEMU)\n[Globals]\ncurTick={self.tick()}\n")
            for name, value in self.sections().items():
                f.write(f"\n[{name}]\nvalue={value}\n")

    def check_cpt(self, d):
        try:
            with open(os.path.join(d, "m5.cpt")) as f:
                text = f.read()
        except OSError as e:
            fatal(f"Can't open checkpoint file '{d}/m5.cpt': {e.strerror}")
        saved, sec = {}, None
        for line in text.splitlines():
            if line.startswith("[") and line.endswith("]"):
                sec = line[1:-1]
            elif line.startswith("value=") and sec:
                saved[sec] = line[6:]
        now = self.sections()
        for name, value in now.items():
            if name not in saved:
                fatal(f"Can't unserialize '{name}': no section in the checkpoint {d}")
            if saved[name] != value and name in ("board", "board.memory"):
                fatal(f"{name}: checkpoint has {saved[name]}, the system {value}")
        for name in saved:
            if name.startswith("board.processor.") and name not in now:
                fatal(f"checkpoint section '{name}' has no SimObject in the system")

    def tick(self):
        return self.ticks + int((time.time() - self.t0) * 1e12)

    # -- the disk ---------------------------------------------------------------
    def disk_image(self):
        b = self.board
        if hasattr(b, "pc"):
            return b.pc.south_bridge.ide.disks[0].image
        if hasattr(b, "disk"):
            return b.disk.vio.image
        return b._image

    def materialize(self, base, table):
        """BASE with a gem5 COW table (the export mode's FILE) applied: QEMU
        cannot read gem5's format, so the stand-in writes a sparse copy."""
        out = os.path.join(self.work, "base+table.raw")
        run(["cp", "--sparse=always", base, out])
        run([sys.executable, os.path.join(HERE, "..", "..", "lib", "cowapply.py"), "apply", table, out])
        return out

    def lower(self, image, table):
        base = image.child.image_file
        if not base or not os.path.exists(base):
            fatal(f"RawDiskImage: cannot open '{base}'")
        return self.materialize(base, table) if table else base

    # -- QEMU -----------------------------------------------------------------
    def start(self, ckpt):
        image = self.disk_image()
        disk = os.path.join(self.work, "disk.qcow2")
        if ckpt:
            self.check_cpt(ckpt)
            if image.image_file:
                fatal("CowDiskImage of the disk has image_file set on a restore: its table "
                      "would be loaded, then replaced (and leaked) by the checkpoint's")
            with open(os.path.join(ckpt, "standin.json")) as f:
                saved = json.load(f)
            table = os.path.join(ckpt, "export.cow")
            lower = self.lower(image, table if os.path.exists(table) else None)
            shutil.copyfile(os.path.join(ckpt, self.kind.disk_name + ".cow"), disk)
            run(["qemu-img", "rebase", "-u", "-f", "qcow2", "-F", "raw", "-b", lower, disk])
            self.boot = saved["boot"]
            self.table = table if os.path.exists(table) else None
            self.ticks = saved.get("tick", 0)
        else:
            self.table = image.image_file or None
            lower = self.lower(image, self.table)
            # 512-byte clusters, gem5's COW granularity: with qcow2's 64 KiB a
            # guest write next to the restore slot would copy slot blocks of
            # this image into the layer, and a restore onto another image
            # would read them from there.
            run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=512",
                 "-F", "raw", "-b", lower, disk])
            w = self.board.workload
            initrd = os.environ.get("HACKBACK_STANDIN_INITRD") or os.path.join(
                os.path.dirname(os.path.abspath(w.object_file)), "initrd.img")
            extra = os.environ.get("HACKBACK_STANDIN_EXTRA_ARGS",
                                   self.kind.settings()["kargs"] + " panic=-1")
            self.boot = {"kernel": w.object_file, "append": f"{w.command_line} {extra}".strip(),
                         "initrd": initrd if os.path.exists(initrd) else None}
        say(f"kernel command line: {self.boot['append']}")
        proc = self.board.get_processor()
        self.m5sock = os.path.join(self.tmp, "m5")
        self.qmpsock = os.path.join(self.tmp, "qmp")
        q = self.kind.settings()
        cmd = self.kind.args() + [
            "-smp", str(proc.get_num_cores()),
            "-m", f"{self.board.get_memory().get_size() >> 20}M",
            "-nodefaults", "-display", "none", "-monitor", "none", "-no-reboot",
            "-chardev", f"file,id=con,append=on,path={os.path.join(self.outdir, self.kind.console)}",
            "-serial", "chardev:con",
            "-kernel", self.boot["kernel"], "-append", self.boot["append"],
            "-device", "virtio-serial-pci,id=hbvs",
            "-chardev", f"socket,id=hbm5,path={self.m5sock},server=on,wait=off",
            "-device", f"virtserialport,bus=hbvs.0,chardev=hbm5,name={PORT_NAME}",
            "-qmp", f"unix:{self.qmpsock},server=on,wait=off",
        ] + self.kind.disk(disk)
        if self.boot.get("initrd"):
            cmd += ["-initrd", self.boot["initrd"]]
        if ckpt:
            cmd += ["-S", "-incoming", f"exec:cat '{os.path.join(ckpt, 'qemu.state')}'"]
        self.qemu = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
                                     stdout=open(os.path.join(self.work, "qemu.log"), "ab"),
                                     stderr=subprocess.STDOUT)
        self.qmp = drive.QMP(self.qmpsock, time.time() + 30)
        self.cmd = self.qmp.cmd
        self.m5 = drive.connect(self.m5sock, time.time() + 30)
        self.m5buf = b""
        if ckpt:
            deadline = time.time() + 300
            while self.cmd("query-status")["status"] in ("inmigrate", "prelaunch"):
                if time.time() > deadline or self.qemu.poll() is not None:
                    fatal("restoring the checkpoint's QEMU state failed (see standin/qemu.log)")
                time.sleep(0.1)
            self.cmd("cont")
            self.pending = "checkpoint"     # the guest waits in its m5 checkpoint
        say(f"{type(self.board).__name__} as {q['qemu_sys']} -machine {q['machine']} "
            f"({q['accel']}, {q['cpu']}), "
            f"{'restored from ' + ckpt if ckpt else 'booting'}")

    def reply(self, data):
        self.m5.sendall(data)

    def simulate(self):
        """Run until the guest's next exit-event m5 op (m5.simulate())."""
        if self.pending:
            self.reply(b"OK\n")
            self.pending = None
        deadline = time.time() + float(os.environ.get("HACKBACK_STANDIN_TIMEOUT", "900"))
        self.m5.settimeout(1.0)
        while True:
            while b"\n" not in self.m5buf:
                if self.qemu.poll() is not None:
                    return ExitEvent("Kernel panic in simulated system.", 0)
                if time.time() > deadline:
                    return ExitEvent("simulate() limit reached", 0)
                try:
                    d = self.m5.recv(4096)
                except socket.timeout:
                    continue
                if not d:
                    return ExitEvent("Kernel panic in simulated system.", 0)
                self.m5buf += d
            line, self.m5buf = self.m5buf.split(b"\n", 1)
            words = line.decode(errors="replace").split()
            if len(words) < 3 or words[0] != "M5":
                say(f"bad m5 request {line!r}")
                self.reply(b"ERR\n")
                continue
            # M5 PATH [OPTION...] OP [ARGS...]: the m5's options as it got
            # them (guest-m5.sh: --addr ADDR, other --NAME alone).
            path, i, opts = words[1], 2, []
            while i < len(words) and words[i].startswith("--"):
                opts.append(words[i])
                if words[i] == "--addr" and i + 1 < len(words) and words[i + 1][:1].isdigit():
                    i += 1
                    opts.append(words[i])
                i += 1
            if i >= len(words):
                say(f"bad m5 request {line!r}")
                self.reply(b"ERR\n")
                continue
            op, rest = words[i], words[i + 1:]
            say(f"m5 {' '.join([op] + rest)} (from {path})"
                + (f" with {' '.join(opts)}" if opts else ""))
            if op == "readfile":
                data = b""
                rf = getattr(self.board, "readfile", None)
                if rf:
                    with open(rf, "rb") as f:
                        data = f.read()
                self.reply(b"DATA %d\n" % len(data) + data)
                continue
            if op == "hypercall" and v25() and rest and rest[0].isdigit() and int(rest[0]):
                self.pending = op
                return ExitEvent("", 0, int(rest[0]))
            if op in CAUSES:
                self.pending = op
                code = int(rest[0]) if op == "fail" and rest and rest[0].isdigit() else 0
                return ExitEvent(CAUSES[op], code)
            self.reply(b"OK\n")

    def checkpoint(self, d):
        os.makedirs(d, exist_ok=True)
        t = time.time()
        self.cmd("stop")
        self.cmd("migrate-set-parameters", **{"max-bandwidth": 8 << 30})
        self.cmd("migrate", uri=f"exec:cat > '{os.path.join(d, 'qemu.state')}'")
        while True:
            st = self.cmd("query-migrate").get("status")
            if st == "completed":
                break
            if st in ("failed", "cancelled"):
                fatal(f"checkpoint: QEMU migration {st}")
            time.sleep(0.1)
        shutil.copyfile(os.path.join(self.work, "disk.qcow2"),
                        os.path.join(d, self.kind.disk_name + ".cow"))
        if self.table:
            shutil.copyfile(self.table, os.path.join(d, "export.cow"))
        self.write_cpt(d)
        with open(os.path.join(d, "standin.json"), "w") as f:
            json.dump({"boot": self.boot, "tick": self.tick()}, f, indent=1)
        self.cmd("cont")
        say(f"checkpoint written to {d} ({time.time() - t:.1f} s)")

    def shutdown(self):
        if self.qemu and self.qemu.poll() is None:
            try:
                self.cmd("quit")
            except BaseException:
                pass
            try:
                self.qemu.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.qemu.kill()
                self.qemu.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)
        for f in ("disk.qcow2", "base+table.raw"):
            try:
                os.unlink(os.path.join(self.work, f))
            except OSError:
                pass
