/* SPDX-License-Identifier: BSD-3-Clause */
/* main.c -- hackbackfs: the command line.
 *
 *     hackbackfs [-f] [-d] [-v] [-o opt,...] BASE OVERLAY[:OVERLAY...] MNT
 *     hackbackfs [-v] [-o opt,...] BASE OVERLAY[:OVERLAY...] MNT -- CMD [ARGS...]
 *     hackbackfs --digests|--manifest [-o opt,...] BASE OVERLAY
 *     hackbackfs --export-cow FILE [-o opt,...] BASE OVERLAY
 *
 * Parses the options (ours and FUSE's, in one fuse_opt table, as libfuse's
 * examples do) once, into struct options; then main() is a straight line
 * of steps, each taking what it needs from there: the command of run mode,
 * FUSE's command line, the mount point claimed, FUSE's session (which
 * checks FUSE's options), the build, and what the mode does with the
 * image; what a step acquired is let go in reverse order.  Every failure
 * before the mount is one error line and exit status 1; nothing is
 * mounted until the image is ready.
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

enum mode { MODE_MOUNT, MODE_DIGESTS, MODE_MANIFEST, MODE_EXPORT };

/* The command line as given: fuse_opt_parse() fills this (the strings
 * are allocated; options_free() frees them). */
struct given {
	char *partition, *cow, *cow_limit, *owner, *epoch, *name, *m5, *restore, *umask,
		*read_ahead_kb, *export_cow;
	int ro, keep_mtime, keep_owner, full_hash, nocache, no_auto_unmount;
	int help, version, digests, manifest, verbose, overlay_dir;
	char *base, *overlays, *mountpoint;
	int npos;	/* positional arguments seen */
};

/* Everything the command line says, parsed once (parse_options()). */
struct options {
	struct given given;

	/* What they mean. */
	enum mode mode;
	char **cmd;			/* run mode: CMD and its arguments, or NULL */
	const char *name;		/* the image file's name in MNT */
	struct build_opts build;
	uint64_t cow_limit;		/* bytes held in memory without -o cow= */
	long read_ahead_kb;		/* mnt_read_ahead()'s: < 0 auto */
	int guard;			/* start the unmount guard (mount.h) */

	/* FUSE's: the arguments libfuse parses (fuse_parse_cmdline(), then
	 * fuse_new() what is left), and what fuse_parse_cmdline() takes. */
	struct fuse_args args;
	struct fuse_cmdline_opts fuse;
};

enum { KEY_HELP, KEY_VERSION, KEY_DIGESTS, KEY_MANIFEST, KEY_VERBOSE, KEY_RO, KEY_OVERLAY_DIR };

#define OPT(t, f) { t, offsetof(struct options, given.f), 1 }
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
	struct options *o = data;

	(void)out;
	switch (key) {
	case KEY_HELP: o->given.help = 1; return 0;
	case KEY_VERSION: o->given.version = 1; return 0;
	case KEY_DIGESTS: o->given.digests = 1; return 0;
	case KEY_MANIFEST: o->given.manifest = 1; return 0;
	case KEY_VERBOSE: o->given.verbose = 1; return 0;
	case KEY_OVERLAY_DIR: o->given.overlay_dir = 1; return 0;
	case KEY_RO: o->given.ro = 1; return 1;	/* FUSE mounts read-only too */
	case FUSE_OPT_KEY_NONOPT:
		switch (o->given.npos++) {
		case 0: o->given.base = strdup(arg); return 0;
		case 1: o->given.overlays = strdup(arg); return 0;
		case 2: o->given.mountpoint = strdup(arg); return 0;
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
	if (*end && *end != ' ' && (u = strchr(units, *end & ~0x20))) {
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

/* A decimal number in [min, max]: digits only (no sign, no blanks). */
static int parse_uint(const char *s, const char *opt, unsigned long long min,
		      unsigned long long max, unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || errno || *end || *out < min || *out > max) {
		hb_error("bad value for -o %s: '%s' (a whole number from %llu to %llu)", opt, s,
			 min, max);
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

/* The values of the -o options, each checked. */
static int parse_values(struct options *o)
{
	const struct given *g = &o->given;
	struct build_opts *bo = &o->build;
	unsigned long long v;

	bo->base = g->base;
	bo->overlays = g->overlays;
	bo->m5 = g->m5;
	bo->restore = g->restore;
	bo->keep_owner = g->keep_owner;
	bo->keep_mtime = g->keep_mtime;
	bo->full_hash = g->full_hash;
	bo->nocache = g->nocache;
	bo->partition = PARTITION_AUTO;
	if (g->partition) {
		if (strcmp(g->partition, "whole") == 0)
			bo->partition = PARTITION_WHOLE;
		/* Partitions count from 1, up to what libblkid can number
		 * (GPT tables may hold more than 128 entries, logical
		 * partitions go on); one it does not find is refused by the
		 * probe, naming those there are. */
		else if (parse_uint(g->partition, "partition", 1, INT_MAX, &v) < 0)
			return -EINVAL;
		else
			bo->partition = (int)v;
	}
	if (g->owner && parse_owner(g->owner, &bo->uid, &bo->gid) < 0)
		return -EINVAL;
	if (g->owner && g->keep_owner) {
		hb_error("-o owner and -o keep_owner exclude each other");
		return -EINVAL;
	}
	if (g->epoch) {
		/* The widest any inode holds; build_epoch() checks it against
		 * the file system's inode size. */
		if (parse_uint(g->epoch, "epoch", 0, BUILD_EPOCH_MAX, &v) < 0)
			return -EINVAL;
		bo->have_epoch = 1;
		bo->epoch = (int64_t)v;
	}
	if (g->umask) {
		/* Octal digits only: strtoull() would also take a sign or
		 * leading blanks. */
		size_t n = strspn(g->umask, "01234567");
		v = n ? strtoull(g->umask, NULL, 8) : 0;
		if (n == 0 || g->umask[n] || v > 0777) {
			hb_error("bad value for -o umask: '%s' (octal, 0 to 0777, e.g. 022)", g->umask);
			return -EINVAL;
		}
		bo->umask = (mode_t)v;
	}
	o->cow_limit = 1ull << 30;
	if (g->cow_limit && parse_size(g->cow_limit, &o->cow_limit) < 0) {
		hb_error("bad value for -o cow_limit: '%s' (a size such as 512M or 2G, below 16E)",
			 g->cow_limit);
		return -EINVAL;
	}
	if (g->name && (!*g->name || strchr(g->name, '/') || strcmp(g->name, ".") == 0 ||
			strcmp(g->name, "..") == 0 || strlen(g->name) > 200)) {
		hb_error("bad value for -o name: '%s' (a plain file name)", g->name);
		return -EINVAL;
	}
	o->name = g->name ? g->name : "hack-back";
	o->read_ahead_kb = -1;	/* auto */
	if (g->read_ahead_kb) {
		if (parse_uint(g->read_ahead_kb, "read_ahead_kb", 0, HB_READ_AHEAD_KB_MAX, &v) < 0)
			return -EINVAL;
		o->read_ahead_kb = (long)v;
	}
	return 0;
}

/* The whole command line into *o.  Returns 0, 1 when it has answered
 * (--help, --version, --overlay-dir: exit status 0), or -1 after one
 * error line.  options_free() in every case. */
static int parse_options(int argc, char *argv[], struct options *o)
{
	static const char *const mode_names[] = {
		[MODE_DIGESTS] = "digests", [MODE_MANIFEST] = "manifest", [MODE_EXPORT] = "export-cow",
	};
	const struct given *g = &o->given;

	memset(o, 0, sizeof *o);
	o->args = (struct fuse_args)FUSE_ARGS_INIT(argc, argv);
	/* Run mode: everything after the first "--" is CMD, untouched by
	 * fuse_opt_parse (which treats "--" on its own terms). */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			o->cmd = argv + i + 1;
			argv[i] = NULL;
			o->args.argc = i;
			break;
		}
	if (fuse_opt_parse(&o->args, o, cli_opts, cli_proc) != 0)
		return -1;
	if (g->help) {
		usage(stdout);
		printf("FUSE options:\n");
		fuse_cmdline_help();
		fuse_lib_help(&o->args);
		return 1;
	}
	if (g->version) {
		printf("hackbackfs %s (libfuse %s)\n", PACKAGE_VERSION, fuse_pkgversion());
		return 1;
	}
	if (g->overlay_dir) {
		printf("%s\n", overlaydir_installed());
		return 1;
	}
	hb_set_verbose(g->verbose);
	if (g->digests + g->manifest + !!g->export_cow > 1) {
		hb_error("--digests, --manifest and --export-cow exclude each other");
		return -1;
	}
	o->mode = g->digests ? MODE_DIGESTS : g->manifest ? MODE_MANIFEST
				   : g->export_cow ? MODE_EXPORT : MODE_MOUNT;
	if (o->cmd && o->mode != MODE_MOUNT) {
		hb_error("-- CMD runs only with a mount (BASE OVERLAY MNT -- CMD)");
		return -1;
	}
	if (o->mode != MODE_MOUNT) {
		if (g->npos != 2) {
			hb_error("--%s takes BASE and OVERLAY (see --help)", mode_names[o->mode]);
			return -1;
		}
	} else if (g->npos != 3) {
		hb_error("%s (usage: hackbackfs [options] BASE OVERLAY MNT; see --help)",
			 g->npos == 0 ? "no base image given" : g->npos == 1 ? "no overlay directory given"
								 : "no mount point given");
		return -1;
	}
	if (parse_values(o) < 0)
		return -1;
	/* A daemon that dies, even by SIGKILL, takes its mount with it:
	 * fusermount3 waits on a socket for that (not for a caller's fd). */
	o->guard = g->mountpoint && !g->no_auto_unmount && mnt_fd(g->mountpoint) < 0;
	return 0;
}

static void options_free(struct options *o)
{
	struct given *g = &o->given;

	fuse_opt_free_args(&o->args);
	free(o->fuse.mountpoint);
	free(g->partition); free(g->cow); free(g->cow_limit); free(g->owner); free(g->epoch);
	free(g->name); free(g->m5); free(g->restore); free(g->umask); free(g->read_ahead_kb);
	free(g->base); free(g->overlays); free(g->mountpoint); free(g->export_cow);
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

/* libfuse takes the mount point and -f/-d/-s from args; it checks every
 * other option when the session is created (open_session()). */
static int parse_fuse_cmdline(struct options *o)
{
	if (o->given.mountpoint)
		fuse_opt_add_arg(&o->args, o->given.mountpoint);
	return fuse_parse_cmdline(&o->args, &o->fuse) == 0 ? 0 : -1;
}

/* FUSE's session, nothing mounted yet.  An unknown option is an error
 * here in every mode, also where nothing is mounted: a typo must not give
 * the digests of another configuration. */
static int open_session(struct options *o, struct runmode *run, int *lock, struct fusefs **fs)
{
	if (o->guard)
		fuse_opt_add_arg(&o->args, "-oauto_unmount");
	/* The kernel checks every open against the modes that fusefs.c
	 * derives from BASE's: with -o allow_other, another user reads
	 * (writes) the image only where BASE lets them. */
	fuse_opt_add_arg(&o->args, "-odefault_permissions");

	struct fusefs_config cfg = {
		.name = o->name,
		.mountpoint = o->fuse.mountpoint,
		.base = o->given.base,
		.foreground = o->fuse.foreground || run,
		.singlethread = o->fuse.singlethread,
		.clone_fd = o->fuse.clone_fd,
		/* libfuse's "unset" is UINT_MAX: idle threads then never end */
		.max_idle_threads = o->fuse.max_idle_threads == UINT_MAX ? 8 : o->fuse.max_idle_threads,
		.read_ahead_kb = o->read_ahead_kb,
		.run = run,
		.guard = o->guard,
		.mnt_lock = lock,
	};
	return fusefs_new(fs, &cfg, &o->args);
}

/* --export-cow: the file, then the digests and its figures. */
static int export(const struct options *o, const struct build *b)
{
	struct export_result res;

	if (export_cow(b, o->given.export_cow, &res) < 0)
		return 1;
	print_digests(b);
	export_print(stdout, &res);
	return 0;
}

/* Mount and serve until unmounted (or, in run mode, until CMD ends). */
static int serve(const struct options *o, struct fusefs *fs, struct build *b)
{
	int r = image_freeze(b->img, o->cow_limit, o->given.ro);

	if (r == 0 && o->given.cow)
		r = image_attach_cow(b->img, o->given.cow, b->digest);
	if (r == 0) {
		hb_info("serving %s/%s (%" PRIu64 " bytes)", o->given.mountpoint, o->name,
			image_size(b->img));
		r = fusefs_serve(fs, b);
	}
	return r < 0 ? 1 : 0;
}

/* Run mode's exit status: CMD's; a failure of ours after a clean CMD is
 * still one (and where CMD never ran, ours). */
static int run_end(struct runmode *run, int status)
{
	int cs = runmode_finish(run);

	runmode_free(run);
	return cs ? cs : status;
}

int main(int argc, char *argv[])
{
	struct options o;
	struct runmode *run = NULL;
	struct fusefs *fs = NULL;
	struct build b;
	int r, status = 1, lock = -1;

	r = parse_options(argc, argv, &o);
	if (r != 0) {
		status = r > 0 ? 0 : 1;
		goto out_options;
	}
	/* Before anything changes signals or limits: CMD gets the caller's. */
	if (o.cmd && runmode_prepare(&run, o.cmd, o.given.mountpoint, o.name, &status) < 0)
		goto out_options;
	raise_fd_limit();
	/* libfuse's part of the command line, once CMD has been looked up: a
	 * CMD not found is status 127 whatever the mount point. */
	if (parse_fuse_cmdline(&o) < 0)
		goto out_run;
	if (o.given.mountpoint && mnt_claim(o.given.mountpoint, &lock) < 0)
		goto out_run;
	if (open_session(&o, run, &lock, &fs) < 0)
		goto out_lock;
	if (o.mode == MODE_EXPORT && export_check_path(o.given.export_cow) < 0)
		goto out_session;
	if (build_image(&o.build, &b) < 0)
		goto out_session;

	switch (o.mode) {
	case MODE_DIGESTS:
		print_digests(&b);
		status = 0;
		break;
	case MODE_MANIFEST:
		fputs(b.manifest, stdout);
		status = 0;
		break;
	case MODE_EXPORT:
		status = export(&o, &b);
		break;
	case MODE_MOUNT:
		status = serve(&o, fs, &b);
		break;
	}

	/* The session goes first: once it has served the image, its end
	 * (libfuse's destroy) flushes it. */
	fusefs_free(fs);
	fs = NULL;
	build_free(&b);
out_session:
	fusefs_free(fs);
out_lock:
	mnt_unlock(&lock);
out_run:
	if (run)
		status = run_end(run, status);
out_options:
	options_free(&o);
	return status;
}
