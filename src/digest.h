/* SPDX-License-Identifier: BSD-3-Clause */
/* digest.h -- SHA-256 through OpenSSL's EVP interface.
 *
 * The identity of an image is a hash of what made it; this module only
 * hashes.  Leaf module.
 */
#ifndef HB_DIGEST_H
#define HB_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define DIGEST_LEN 32
#define DIGEST_HEX_LEN (2 * DIGEST_LEN + 1)

struct digest;	/* opaque; wraps an EVP_MD_CTX */

/* All return 0 or a negative errno (-ENOMEM, -EIO on an OpenSSL failure). */
int digest_new(struct digest **out);
int digest_update(struct digest *d, const void *buf, size_t len);
/* Canonical encodings, so that field boundaries can never be confused:
 * a u64 is 8 bytes little-endian, a string is its u64 length then bytes. */
int digest_u64(struct digest *d, uint64_t v);
int digest_str(struct digest *d, const char *s);
int digest_bytes(struct digest *d, const void *buf, size_t len); /* length-prefixed */
/* Finish into out[DIGEST_LEN] and free d. */
int digest_final(struct digest *d, unsigned char out[DIGEST_LEN]);
/* The digest so far, keeping d for digest_reset(); and starting d anew
 * (cheaper than digest_free() and digest_new() per small input). */
int digest_final_keep(struct digest *d, unsigned char out[DIGEST_LEN]);
int digest_reset(struct digest *d);
void digest_free(struct digest *d);

/* Hash len bytes of fd from offset off (pread; fd's position unchanged). */
int digest_fd_range(int fd, uint64_t off, uint64_t len, unsigned char out[DIGEST_LEN]);
/* digest_fd_range() through the caller's context d (reset first, reusable
 * after) and buffer: for hashing many files in a row without setting up
 * a context and a buffer for each. */
int digest_fd_range_with(struct digest *d, unsigned char *buf, size_t bufsize, int fd,
			 uint64_t off, uint64_t len, unsigned char out[DIGEST_LEN]);

/* Fingerprint of a base image: cheap at mount, no full read.  Covers the
 * file size, the first 4 MiB (partition table, boot code, the superblock
 * and group descriptors of a file system starting there), the last 1 MiB
 * (GPT backup) and 256 evenly spaced 4 KiB samples.  With full != 0 it is
 * the SHA-256 of the whole file instead (and says so: the encodings differ).
 * Returns 0 or a negative errno. */
int digest_base_fingerprint(int fd, uint64_t size, int full, unsigned char out[DIGEST_LEN]);

/* Lower-case hex of a digest into hex[DIGEST_HEX_LEN]. */
void digest_hex(const unsigned char d[DIGEST_LEN], char hex[DIGEST_HEX_LEN]);

#endif
