/* SPDX-License-Identifier: BSD-3-Clause */
/* export.h -- the image's difference from BASE as gem5's own COW disk file.
 *
 * gem5's CowDiskImage can load its sector table from a file (image_file):
 *
 *   "COWDISK!"  u32 LE major 1  u32 LE minor 0  u64 LE N
 *   N records:  u64 LE sector number (512-byte sectors), 512 data bytes
 *
 * export_cow() writes exactly the sectors where a built image differs from
 * its base, in ascending order, followed by a trailer that gem5 ignores
 * (it reads N records and stops) and that carries the image's identity:
 *
 *   0    8   "HBTRAIL1"
 *   8    u32 LE trailer length in bytes (EXPORT_TRAILER_LEN = 160)
 *   12   u32 LE flags: bit 0 = the base fingerprint hashes all of BASE
 *   16   u64 LE N again (the trailer belongs to this table)
 *   24   u64 LE base size in bytes
 *   32   32 bytes base fingerprint
 *   64   32 bytes overlay digest
 *   96   32 bytes layout digest
 *   128  32 bytes image digest
 *
 * The trailer starts at 24 + 520 N and ends the file.  FILE.json beside it
 * is the image's manifest (as --manifest prints it) with a "cow" member.
 *
 * Both files are written under temporary names and renamed into place
 * only when complete and synced: on any failure, or SIGINT/SIGTERM/SIGHUP/
 * SIGQUIT, neither a partial FILE nor a temporary is left behind.
 *
 * Return convention: 0 or a negative errno after one hb_error().
 */
#ifndef HB_EXPORT_H
#define HB_EXPORT_H

#include <stdint.h>
#include <stdio.h>

#include "build.h"

#define EXPORT_SECTOR 512u
#define EXPORT_HEADER_LEN 24u
#define EXPORT_RECORD_LEN (8u + EXPORT_SECTOR)
#define EXPORT_TRAILER_LEN 160u
/* What one table entry costs gem5 (the sector, a hash-table node). */
#define EXPORT_GEM5_ENTRY_BYTES 600u
/* Above this much table, the FUSE mount is the better tool. */
#define EXPORT_WARN_TABLE_BYTES (256ull << 20)

struct export_result {
	uint64_t sectors;	/* N */
	uint64_t file_bytes;	/* the whole file, trailer included */
	uint64_t table_bytes;	/* gem5's memory for the table, about */
};

/* Fail early, before a long build, when path cannot be written: its
 * directory is missing or not writable, or path is a directory. */
int export_check_path(const char *path);

/* Write b's image (in its build phase: only the synthesized delta is
 * read) as a COW file at path, and path.json beside it.  An existing path
 * is replaced; BASE itself is refused. */
int export_cow(const struct build *b, const char *path, struct export_result *res);

/* "sectors N", "file_bytes B", "gem5_table_bytes T" lines on f; a warning
 * on stderr when the table is larger than EXPORT_WARN_TABLE_BYTES. */
void export_print(FILE *f, const struct export_result *res);

#endif
