/* SPDX-License-Identifier: BSD-3-Clause */
/* build.h -- from options to a ready image: probe, scan, inject, identify.
 *
 * The one sequence that the program (mount and --digests) and the test
 * helpers share.  Also composes the restore slot and the manifest, and
 * computes the image's identity:
 *
 *   layout = SHA-256("hackbackfs layout v2", base fingerprint, partition,
 *                    overlay digest, owner/epoch/mtime/umask options,
 *                    slot geometry)
 *   digest = SHA-256("hackbackfs image v2", layout, slot bytes)
 *
 * Nothing in it depends on where or when the overlay was copied: the
 * overlay digest hashes content, names, modes, owners and targets, and
 * the default epoch comes from BASE (its file system's last write time).
 *
 * Injection is deterministic, so equal identities mean equal bytes; two
 * images that differ only in the restore script have equal layouts.
 */
#ifndef HB_BUILD_H
#define HB_BUILD_H

#include <stdint.h>
#include <sys/types.h>

#include "digest.h"
#include "image.h"
#include "overlay.h"

#define RESTORE_SLOT_PATH "var/lib/hack-back/restore.slot"
#define RESTORE_SLOT_SIZE (1u << 20)
#define RESTORE_SLOT_HEADER 64u	/* "hackback-restore-slot 1 LENGTH", space-padded, '\n' */
#define M5_PATH "sbin/m5"

struct build_opts {
	const char *base;
	const char *overlays;	/* "DIR[:DIR...]", later wins */
	int partition;		/* see partition.h */
	const char *m5;		/* host file installed at /sbin/m5, or NULL */
	const char *restore;	/* host file put in the restore slot, or NULL */
	int full_hash;		/* fingerprint the base by hashing all of it */
	int have_epoch;		/* else SOURCE_DATE_EPOCH, else BASE's fs write time */
	int64_t epoch;
	int keep_mtime;		/* the overlay's mtimes go into the image */
	mode_t umask;		/* mode bits cleared from every overlay entry */
	int keep_owner;
	uid_t uid;
	gid_t gid;
	int nocache;		/* hash every overlay file; no digest cache (dcache.h) */
};

/* A built image and what describes it: its identity, and what it was
 * built with as far as its manifest and the exported cow file say, so
 * that neither needs the options again. */
struct build {
	struct image *img;
	struct overlay ov;
	int64_t epoch;
	const char *epoch_from;	/* "option", "SOURCE_DATE_EPOCH" or "base" */
	struct {
		int full_hash;	/* the base fingerprint hashes all of BASE */
		int keep_mtime;
		mode_t umask;
		char *restore;	/* the restore script as given, or NULL */
	} with;
	unsigned char base_fp[DIGEST_LEN];
	unsigned char layout[DIGEST_LEN];
	unsigned char digest[DIGEST_LEN];
	char *manifest;		/* JSON, NUL-terminated */
	size_t manifest_len;
};

/* Build the image (left in its build phase: the caller freezes it).
 * Returns 0 or a negative errno after one hb_error(). */
int build_image(const struct build_opts *o, struct build *b);
void build_free(struct build *b);

/* The manifest's members, written into the object open in j: what
 * b->manifest holds, and what a description with members of its own
 * (--export-cow's FILE.json) adds them to. */
struct json;
void build_describe(const struct build *b, struct json *j);

/* The time stamp of everything injected: o->epoch when have_epoch, else
 * $SOURCE_DATE_EPOCH, else p's file system's last write time (creation
 * time, 1 if neither is set).  *from says which ("option",
 * "SOURCE_DATE_EPOCH", "base").  A time the file system's inodes cannot
 * hold (BUILD_EPOCH_MAX_SMALL on 128-byte inodes, BUILD_EPOCH_MAX with
 * ext4's extra time bits) and a SOURCE_DATE_EPOCH that is not a plain
 * decimal number are errors, as the reproducible-builds specification
 * asks: -EINVAL after one hb_error(). */
#define BUILD_EPOCH_MAX_SMALL 2147483647LL	/* 2038-01-19, signed 32 bits */
#define BUILD_EPOCH_MAX 15032385535LL		/* 2446-05-10, 32 bits + 2 epoch bits */
int build_epoch(const struct build_opts *o, const struct partition *p, int64_t *epoch,
		const char **from);

#endif
