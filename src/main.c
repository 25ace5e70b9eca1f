/* SPDX-License-Identifier: BSD-3-Clause */
/* main.c -- hackbackfs: the command line.
 *
 *     hackbackfs [-f] [-d] [-v] [-o opt,...] BASE OVERLAY[:OVERLAY...] MNT
 *     hackbackfs [-v] [-o opt,...] BASE OVERLAY[:OVERLAY...] MNT -- CMD [ARGS...]
 *     hackbackfs --digests|--manifest [-o opt,...] BASE OVERLAY
 *     hackbackfs --export-cow FILE [-o opt,...] BASE OVERLAY
 *
 * Parses the options (ours and FUSE's, in one fuse_opt table, as libfuse's
 * examples do), checks the mount point, builds the image, then hands it to
 * the FUSE front end.  Every failure before the mount is one error line and
 * exit status 1; nothing is mounted until the image is ready.
 */
#include "config.h"

#define FUSE_USE_VERSION 35
#include <fuse.h>
#include <fuse_lowlevel.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "build.h"
#include "export.h"
#include "fusefs.h"
#include "overlaydir.h"
#include "mount.h"
#include "runmode.h"
#include "util.h"

struct cli {
	/* -o options, filled by fuse_opt_parse */
	char *partition;
	char *cow;
	char *cow_limit;
	char *owner;
	char *epoch;
	char *name;
	char *m5;
	char *restore;
	char *umask;
	char *read_ahead_kb;
	int ro;
	int keep_mtime;
	int keep_owner;
	int full_hash;
	int nocache;
	int no_auto_unmount;
	/* modes and positional arguments */
	int help, version, digests, manifest, verbose, overlay_dir;
	char *base, *overlays, *mountpoint;
	char *export_cow;
	int npos;
};

enum { KEY_HELP, KEY_VERSION, KEY_DIGESTS, KEY_MANIFEST, KEY_VERBOSE, KEY_RO, KEY_OVERLAY_DIR };

#define OPT(t, f) { t, offsetof(struct cli, f), 1 }
static const struct fuse_opt cli_opts[] = {
	OPT("partition=%s", partition),
	OPT("cow=%s", cow),
	OPT("cow_limit=%s", cow_limit),
	OPT("owner=%s", owner),
	OPT("epoch=%s", epoch),
	OPT("name=%s", name),
	OPT("m5=%s", m5),
	OPT("restore=%s", restore),
	OPT("umask=%s", umask),
	OPT("keep_owner", keep_owner),
	OPT("keep_mtime", keep_mtime),
	OPT("fullhash", full_hash),
	OPT("nocache", nocache),
	OPT("--export-cow=%s", export_cow),
	OPT("--export-cow %s", export_cow),
	OPT("no_auto_unmount", no_auto_unmount),
	OPT("read_ahead_kb=%s", read_ahead_kb),
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("--digests", KEY_DIGESTS),
	FUSE_OPT_KEY("--manifest", KEY_MANIFEST),
	FUSE_OPT_KEY("--overlay-dir", KEY_OVERLAY_DIR),
	FUSE_OPT_KEY("-v", KEY_VERBOSE),
	FUSE_OPT_KEY("--verbose", KEY_VERBOSE),
	FUSE_OPT_END
};

static int cli_proc(void *data, const char *arg, int key, struct fuse_args *out)
{
	struct cli *c = data;

	(void)out;
	switch (key) {
	case KEY_HELP: c->help = 1; return 0;
	case KEY_VERSION: c->version = 1; return 0;
	case KEY_DIGESTS: c->digests = 1; return 0;
	case KEY_MANIFEST: c->manifest = 1; return 0;
	case KEY_VERBOSE: c->verbose = 1; return 0;
	case KEY_OVERLAY_DIR: c->overlay_dir = 1; return 0;
	case KEY_RO: c->ro = 1; return 1;	/* FUSE mounts read-only too */
	case FUSE_OPT_KEY_NONOPT:
		switch (c->npos++) {
		case 0: c->base = strdup(arg); return 0;
		case 1: c->overlays = strdup(arg); return 0;
		case 2: c->mountpoint = strdup(arg); return 0;
		default:
			hb_error("too many arguments: '%s' (see --help)", arg);
			return -1;
		}
	default:
		return 1;	/* FUSE's own option: pass on */
	}
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: hackbackfs [options] BASE OVERLAY[:OVERLAY...] MNT\n"
"       hackbackfs [options] BASE OVERLAY[:OVERLAY...] MNT -- CMD [ARGS...]\n"
"       hackbackfs --digests|--manifest [-o options] BASE OVERLAY[:OVERLAY...]\n"
"       hackbackfs --export-cow FILE [-o options] BASE OVERLAY[:OVERLAY...]\n"
"       fusermount3 -u MNT                  (unmount)\n"
"\n"
"Serves MNT/hack-back: the raw disk image BASE with every file of the\n"
"OVERLAY directories (later ones win) written into its ext2/3/4 file\n"
"system, without copying BASE and without root.  Point gem5 at it.\n"
"\n"
"With -- CMD (run mode), hackbackfs stays in the foreground, runs CMD once\n"
"MNT is mounted (HACKBACKFS_IMAGE and HACKBACKFS_MOUNT in its environment),\n"
"passes SIGTERM, SIGINT and SIGHUP on to it, unmounts when it ends and exits\n"
"with its status (128+N if signal N killed it; 127: CMD not found).  CMD runs\n"
"in a process group of its own with the caller's signal dispositions and fd\n"
"limit, and is killed if hackbackfs dies.\n"
"MNT may be /dev/fd/N: a /dev/fuse descriptor the caller has mounted.\n"
"\n"
"hackbackfs options:\n"
"    -h, --help             print this help and FUSE's options, then exit\n"
"    -V, --version          print the version, then exit\n"
"    -v, --verbose          report progress on standard error\n"
"    --digests              print the image's digests without mounting\n"
"    --manifest             print MNT/hack-back.json without mounting\n"
"    --export-cow FILE      write the sectors that differ from BASE as gem5's\n"
"                           CowDiskImage file FILE (and FILE.json); no mount\n"
"    --overlay-dir          print where the installed overlays are, then exit\n"
"                           (an OVERLAY such as hack-back that is not a\n"
"                           directory here is looked up there)\n"
"    -o partition=N         use partition N (default: the only ext2/3/4 one)\n"
"    -o partition=whole     the whole BASE is the file system\n"
"    -o m5=PATH             install PATH as /sbin/m5 (mode 0755)\n"
"    -o restore=FILE        put FILE in the restore slot\n"
"                           (/" RESTORE_SLOT_PATH ", 1 MiB)\n"
"    -o owner=UID:GID       owner of injected files (default 0:0)\n"
"    -o keep_owner          keep the overlay files' owners\n"
"    -o epoch=SECONDS       every time stamp of injected files (default:\n"
"                           $SOURCE_DATE_EPOCH, else BASE's last write time)\n"
"    -o keep_mtime          keep the overlay files' mtimes (they then become\n"
"                           part of the identity)\n"
"    -o umask=MODE          clear these mode bits (octal, e.g. 022) of every\n"
"                           overlay file and directory\n"
"    -o name=NAME           name of the image file (default hack-back)\n"
"    -o ro                  read-only: writes fail with EROFS\n"
"    -o cow=FILE            keep the guest's writes in FILE (reused on the\n"
"                           next mount of the same image, refused otherwise;\n"
"                           yours only, no symlink, not writable by others;\n"
"                           with -o ro only read)\n"
"    -o cow_limit=SIZE      most guest writes held in memory without cow=\n"
"                           (K, M, G, T suffixes; 0 = no limit; default 1G)\n"
"    -o fullhash            fingerprint BASE by hashing all of it\n"
"    -o nocache             read every overlay file; no digest cache\n"
"    -o no_auto_unmount     leave the mount behind if hackbackfs is killed\n"
"                           (default: fusermount3 removes it at once)\n"
"    -o read_ahead_kb=N     the kernel's readahead window on the mount, KiB\n"
"                           (root only; default: as root, that of BASE's\n"
"                           disk when larger than the kernel's 128)\n"
"\n");
}

/* "123", "64K", "64KiB", "64KB", "1G" -> bytes; a number that does not
 * fit in 64 bits is refused, never wrapped. */
static int parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	char *end;
	const char *u;
	unsigned long long v;
	int shift = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end && (u = strchr(units, *end & ~0x20))) {
		shift = 10 * (int)(u - units + 1);
		end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B')
			end++;
	} else if (*end == 'B') {
		end++;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

/* A decimal number in [0, max]: digits only (no sign, no blanks). */
static int parse_uint(const char *s, const char *opt, unsigned long long max,
		      unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || errno || *end || *out > max) {
		hb_error("bad value for -o %s: '%s' (a whole number from 0 to %llu)", opt, s, max);
		return -EINVAL;
	}
	return 0;
}

/* "UID:GID", each a number an ext inode can hold; (uid_t)-1 is "no
 * owner" to the kernel, so not an owner either. */
static int parse_owner(const char *s, uid_t *uid, gid_t *gid)
{
	unsigned long long u, g;
	const char *colon = strchr(s, ':');
	char *end;

	errno = 0;
	if (!colon || *s < '0' || *s > '9' || colon[1] < '0' || colon[1] > '9')
		goto bad;
	u = strtoull(s, &end, 10);
	if (errno || end != colon || u >= UINT32_MAX)
		goto bad;
	g = strtoull(colon + 1, &end, 10);
	if (errno || *end || g >= UINT32_MAX)
		goto bad;
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	return 0;
bad:
	hb_error("bad value for -o owner: '%s' (want UID:GID, each a number from 0 to %u)", s,
		 UINT32_MAX - 1);
	return -EINVAL;
}

/* Fill the build options from the command line. */
static int build_options(const struct cli *c, struct build_opts *o, uint64_t *cow_limit)
{
	unsigned long long v;

	memset(o, 0, sizeof *o);
	o->base = c->base;
	o->overlays = c->overlays;
	o->m5 = c->m5;
	o->restore = c->restore;
	o->keep_owner = c->keep_owner;
	o->keep_mtime = c->keep_mtime;
	o->full_hash = c->full_hash;
	o->nocache = c->nocache;
	o->partition = PARTITION_AUTO;
	if (c->partition) {
		if (strcmp(c->partition, "whole") == 0)
			o->partition = PARTITION_WHOLE;
		/* Up to what libblkid can number (GPT tables may hold more than
		 * 128 entries, logical partitions go on); one it does not find
		 * is refused by the probe, naming those there are. */
		else if (parse_uint(c->partition, "partition", INT_MAX, &v) < 0 || v == 0) {
			if (v == 0)
				hb_error("bad value for -o partition: '%s' (partitions count from 1)",
					 c->partition);
			return -EINVAL;
		} else
			o->partition = (int)v;
	}
	if (c->owner && parse_owner(c->owner, &o->uid, &o->gid) < 0)
		return -EINVAL;
	if (c->owner && c->keep_owner) {
		hb_error("-o owner and -o keep_owner exclude each other");
		return -EINVAL;
	}
	if (c->epoch) {
		/* The widest any inode holds; build_epoch() checks it against
		 * the file system's inode size. */
		if (parse_uint(c->epoch, "epoch", BUILD_EPOCH_MAX, &v) < 0)
			return -EINVAL;
		o->have_epoch = 1;
		o->epoch = (int64_t)v;
	}
	if (c->umask) {
		char *end;
		errno = 0;
		v = strtoull(c->umask, &end, 8);
		if (errno || end == c->umask || *end || *c->umask == '-' || v > 0777) {
			hb_error("bad value for -o umask: '%s' (octal, 0 to 0777, e.g. 022)", c->umask);
			return -EINVAL;
		}
		o->umask = (mode_t)v;
	}
	*cow_limit = 1ull << 30;
	if (c->cow_limit && parse_size(c->cow_limit, cow_limit) < 0) {
		hb_error("bad value for -o cow_limit: '%s' (a size such as 512M or 2G, below 16E)",
			 c->cow_limit);
		return -EINVAL;
	}
	if (c->name && (!*c->name || strchr(c->name, '/') || strcmp(c->name, ".") == 0 ||
			strcmp(c->name, "..") == 0 || strlen(c->name) > 200)) {
		hb_error("bad value for -o name: '%s' (a plain file name)", c->name);
		return -EINVAL;
	}
	return 0;
}

/* Large overlays keep a descriptor per mapped file open. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void print_digests(const struct build *b)
{
	char hex[DIGEST_HEX_LEN];

	digest_hex(b->base_fp, hex);
	printf("base %s\n", hex);
	digest_hex(b->ov.digest, hex);
	printf("overlay %s\n", hex);
	digest_hex(b->layout, hex);
	printf("layout %s\n", hex);
	digest_hex(b->digest, hex);
	printf("digest %s\n", hex);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts fo;
	struct cli c = { 0 };
	struct build_opts bo;
	struct build b;
	struct fusefs *fs = NULL;
	struct runmode *run = NULL;
	char **cmd = NULL;
	uint64_t cow_limit;
	int r, status = 1, mnt_lock = -1;

	/* Run mode: everything after the first "--" is CMD, untouched by
	 * fuse_opt_parse (which treats "--" on its own terms). */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			cmd = argv + i + 1;
			argv[i] = NULL;
			args.argc = i;
			break;
		}
	memset(&fo, 0, sizeof fo);
	if (fuse_opt_parse(&args, &c, cli_opts, cli_proc) != 0)
		goto out;
	if (c.help) {
		usage(stdout);
		printf("FUSE options:\n");
		fuse_cmdline_help();
		fuse_lib_help(&args);
		status = 0;
		goto out;
	}
	if (c.version) {
		printf("hackbackfs %s (libfuse %s)\n", PACKAGE_VERSION, fuse_pkgversion());
		status = 0;
		goto out;
	}
	if (c.overlay_dir) {
		printf("%s\n", overlaydir_installed());
		status = 0;
		goto out;
	}
	hb_set_verbose(c.verbose);
	if (c.digests + c.manifest + !!c.export_cow > 1) {
		hb_error("--digests, --manifest and --export-cow exclude each other");
		goto out;
	}
	if (cmd && (c.digests || c.manifest || c.export_cow)) {
		hb_error("-- CMD runs only with a mount (BASE OVERLAY MNT -- CMD)");
		goto out;
	}
	if (c.digests || c.manifest || c.export_cow) {
		if (c.npos != 2) {
			hb_error("--%s takes BASE and OVERLAY (see --help)",
				 c.digests ? "digests" : c.manifest ? "manifest" : "export-cow");
			goto out;
		}
	} else if (c.npos != 3) {
		hb_error("%s (usage: hackbackfs [options] BASE OVERLAY MNT; see --help)",
			 c.npos == 0 ? "no base image given" : c.npos == 1 ? "no overlay directory given"
								 : "no mount point given");
		goto out;
	}
	if (build_options(&c, &bo, &cow_limit) < 0)
		goto out;
	if (cmd && runmode_prepare(&run, cmd, c.mountpoint, c.name ? c.name : "hack-back",
				   &status) < 0)
		goto out;
	raise_fd_limit();

	/* libfuse takes the mount point and -f/-d/-s from args, and checks
	 * every other option when the session is created: an unknown one is
	 * an error in every mode, also where nothing is mounted (a typo must
	 * not give the digests of another configuration). */
	if (c.mountpoint)
		fuse_opt_add_arg(&args, c.mountpoint);
	if (fuse_parse_cmdline(&args, &fo) != 0)
		goto out;
	int guard = 0;
	if (c.mountpoint) {
		if (mnt_claim(c.mountpoint, &mnt_lock) < 0)
			goto out;
		/* A daemon that dies, even by SIGKILL, takes its mount with
		 * it: fusermount3 waits on a socket for that (not for a
		 * caller's fd). */
		guard = !c.no_auto_unmount && mnt_fd(c.mountpoint) < 0;
		if (guard)
			fuse_opt_add_arg(&args, "-oauto_unmount");
	}
	/* The kernel checks every open against the modes that fusefs.c
	 * derives from BASE's: with -o allow_other, another user reads
	 * (writes) the image only where BASE lets them. */
	fuse_opt_add_arg(&args, "-odefault_permissions");
	long read_ahead_kb = -1;	/* auto */
	if (c.read_ahead_kb) {
		unsigned long long v;
		if (parse_uint(c.read_ahead_kb, "read_ahead_kb", HB_READ_AHEAD_KB_MAX, &v) < 0)
			goto out;
		read_ahead_kb = (long)v;
	}
	struct fusefs_config cfg = {
		.name = c.name ? c.name : "hack-back",
		.mountpoint = fo.mountpoint,
		.base = c.base,
		.foreground = fo.foreground || run,
		.singlethread = fo.singlethread,
		.clone_fd = fo.clone_fd,
		/* libfuse's "unset" is UINT_MAX: idle threads then never end */
		.max_idle_threads = fo.max_idle_threads == UINT_MAX ? 8 : fo.max_idle_threads,
		.read_ahead_kb = read_ahead_kb,
		.run = run,
		.guard = guard,
		.mnt_lock = &mnt_lock,
	};
	if (fusefs_new(&fs, &cfg, &args) < 0)
		goto out;

	if (c.export_cow) {
		struct export_result res;
		if (export_check_path(c.export_cow) < 0 || build_image(&bo, &b) < 0)
			goto out;
		if (export_cow(&b, c.export_cow, &res) == 0) {
			print_digests(&b);
			export_print(stdout, &res);
			status = 0;
		}
		build_free(&b);
		goto out;
	}
	if (c.digests || c.manifest) {
		if (build_image(&bo, &b) < 0)
			goto out;
		if (c.digests)
			print_digests(&b);
		else
			fputs(b.manifest, stdout);
		build_free(&b);
		status = 0;
		goto out;
	}

	if (build_image(&bo, &b) < 0)
		goto out;
	r = image_freeze(b.img, cow_limit, c.ro);
	if (r == 0 && c.cow)
		r = image_attach_cow(b.img, c.cow, b.digest);
	if (r == 0) {
		hb_info("serving %s/%s (%" PRIu64 " bytes)", c.mountpoint, cfg.name, b.img->size);
		r = fusefs_serve(fs, &b);
	}
	fusefs_free(fs);	/* before the image it serves */
	fs = NULL;
	build_free(&b);
	status = r < 0 ? 1 : 0;
	if (run) {
		/* CMD's status; a failure of ours after a clean CMD is still one */
		int cs = runmode_finish(run);
		status = cs ? cs : status;
	}

out:
	mnt_unlock(&mnt_lock);
	runmode_free(run);
	fusefs_free(fs);
	fuse_opt_free_args(&args);
	free(fo.mountpoint);
	free(c.partition); free(c.cow); free(c.cow_limit); free(c.owner); free(c.epoch);
	free(c.name); free(c.m5); free(c.restore); free(c.umask); free(c.read_ahead_kb);
	free(c.base); free(c.overlays); free(c.mountpoint); free(c.export_cow);
	return status;
}
