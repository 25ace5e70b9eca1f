/* SPDX-License-Identifier: BSD-3-Clause */
/* digest.c -- SHA-256 through OpenSSL's EVP interface.
 *
 * A struct digest is one EVP_MD_CTX.  Everything that goes into an
 * identity hash goes through the canonical encoders (digest_u64,
 * digest_str, digest_bytes), so that two different sequences of fields
 * can never produce the same byte stream.  digest_fd_range() is the plain
 * SHA-256 of the bytes (it equals sha256sum for a whole file).
 *
 * The base fingerprint must be cheap for a 12 GB image on a parallel file
 * system, so by default it reads about 6 MiB: the regions a partitioned
 * image changes first (the table, the boot code, the file system's
 * superblock and group descriptors near the start, a GPT backup at the
 * end) and 256 evenly spaced 4 KiB samples.  Each region is encoded as
 * (offset, length, bytes) after a version string and the file size.  The
 * full mode uses another version string, so the two can never collide.
 *
 * This module reports nothing with hb_error(): it does not know what the
 * bytes are; callers name the file when a call fails.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "digest.h"
#include "util.h"

#define FP_HEAD (4ULL << 20)	/* first 4 MiB */
#define FP_TAIL (1ULL << 20)	/* last 1 MiB */
#define FP_SAMPLES 256
#define FP_SAMPLE_LEN 4096ULL
#define IO_BUF (1U << 20)

struct digest {
	EVP_MD_CTX *ctx;
};

int digest_new(struct digest **out)
{
	struct digest *d = malloc(sizeof *d);

	*out = NULL;
	if (d == NULL)
		return -ENOMEM;
	d->ctx = EVP_MD_CTX_new();
	if (d->ctx == NULL) {
		free(d);
		return -ENOMEM;
	}
	if (EVP_DigestInit_ex(d->ctx, EVP_sha256(), NULL) != 1) {
		digest_free(d);
		return -EIO;
	}
	*out = d;
	return 0;
}

int digest_update(struct digest *d, const void *buf, size_t len)
{
	if (len == 0)
		return 0;
	return EVP_DigestUpdate(d->ctx, buf, len) == 1 ? 0 : -EIO;
}

int digest_u64(struct digest *d, uint64_t v)
{
	unsigned char b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	return digest_update(d, b, sizeof b);
}

/* A NULL string is encoded as the length UINT64_MAX and no bytes, which
 * no real string can have, so NULL and "" stay distinct. */
int digest_str(struct digest *d, const char *s)
{
	if (s == NULL)
		return digest_u64(d, UINT64_MAX);
	return digest_bytes(d, s, strlen(s));
}

int digest_bytes(struct digest *d, const void *buf, size_t len)
{
	int r = digest_u64(d, (uint64_t)len);

	return r < 0 ? r : digest_update(d, buf, len);
}

int digest_final(struct digest *d, unsigned char out[DIGEST_LEN])
{
	unsigned int len = 0;
	int r = 0;

	if (EVP_DigestFinal_ex(d->ctx, out, &len) != 1 || len != DIGEST_LEN)
		r = -EIO;
	digest_free(d);
	return r;
}

int digest_final_keep(struct digest *d, unsigned char out[DIGEST_LEN])
{
	unsigned int len = 0;

	if (EVP_DigestFinal_ex(d->ctx, out, &len) != 1 || len != DIGEST_LEN)
		return -EIO;
	return 0;
}

int digest_reset(struct digest *d)
{
	/* NULL: the digest the context was set up with (no new fetch). */
	return EVP_DigestInit_ex(d->ctx, NULL, NULL) == 1 ? 0 : -EIO;
}

void digest_free(struct digest *d)
{
	if (d == NULL)
		return;
	EVP_MD_CTX_free(d->ctx);
	free(d);
}

/* Feed len bytes of fd from off into d through buf.  A file shorter than
 * off + len is -EIO: the caller was told a size that is not there. */
static int update_range(struct digest *d, int fd, uint64_t off, uint64_t len,
			unsigned char *buf, size_t bufsize)
{
	/* What fits in the buffer is read whole: looking for holes would
	 * cost more system calls than it saves (most files are small). */
	int sparse = len > bufsize;

	while (len > 0) {
		size_t n = (size_t)HB_MIN(len, (uint64_t)bufsize);
		off_t data = sparse ? lseek(fd, (off_t)off, SEEK_DATA) : (off_t)off;
		struct stat st;
		ssize_t got;
		int r;

		/* A hole reads as zeros: hash zeros without reading them (a
		 * sparse file of GiBs costs its data and the hashing only).
		 * ENXIO: holes to the end, if the file still reaches that
		 * far; without SEEK_DATA everything is read. */
		if ((data < 0 && errno == ENXIO && fstat(fd, &st) == 0 &&
		     (uint64_t)st.st_size >= off + len) ||
		    (data >= 0 && (uint64_t)data > off)) {
			uint64_t hole = data < 0 ? len : HB_MIN(len, (uint64_t)data - off);
			n = (size_t)HB_MIN(hole, (uint64_t)bufsize);
			memset(buf, 0, n);
			got = (ssize_t)n;
		} else {
			got = hb_pread_full(fd, buf, n, off);
		}
		if (got < 0)
			return (int)got;
		if ((size_t)got < n)
			return -EIO;
		r = digest_update(d, buf, n);
		if (r < 0)
			return r;
		off += n;
		len -= n;
	}
	return 0;
}

/* update_range(), leaving fd's position as it was (SEEK_DATA moves it). */
static int update_from_fd(struct digest *d, int fd, uint64_t off, uint64_t len,
			  unsigned char *buf, size_t bufsize)
{
	/* SEEK_DATA moves the file position: callers keep theirs.  (Only
	 * a range longer than the buffer is searched for holes.) */
	off_t pos = len > bufsize ? lseek(fd, 0, SEEK_CUR) : -1;
	int r = update_range(d, fd, off, len, buf, bufsize);

	if (pos >= 0)
		lseek(fd, pos, SEEK_SET);
	return r;
}

/* The steps that feed a digest from a file: fill(d, fd, a, b, buf). */
typedef int (*fill_fn)(struct digest *d, int fd, uint64_t a, uint64_t b, unsigned char *buf);

/* Hash what fill feeds, with an IO_BUF-sized buffer, into out. */
static int hash_with(fill_fn fill, int fd, uint64_t a, uint64_t b, unsigned char out[DIGEST_LEN])
{
	CLEANUP_FREE unsigned char *buf = malloc(IO_BUF);
	struct digest *d;
	int r;

	if (buf == NULL)
		return -ENOMEM;
	r = digest_new(&d);
	if (r < 0)
		return r;
	r = fill(d, fd, a, b, buf);
	if (r < 0) {
		digest_free(d);
		return r;
	}
	return digest_final(d, out);
}

static int fill_range(struct digest *d, int fd, uint64_t off, uint64_t len, unsigned char *buf)
{
	return update_from_fd(d, fd, off, len, buf, IO_BUF);
}

int digest_fd_range(int fd, uint64_t off, uint64_t len, unsigned char out[DIGEST_LEN])
{
	return hash_with(fill_range, fd, off, len, out);
}

int digest_fd_range_with(struct digest *d, unsigned char *buf, size_t bufsize, int fd,
			 uint64_t off, uint64_t len, unsigned char out[DIGEST_LEN])
{
	int r = digest_reset(d);

	if (r == 0)
		r = update_from_fd(d, fd, off, len, buf, bufsize);
	if (r == 0)
		r = digest_final_keep(d, out);
	return r;
}

/* One fingerprint region: its place, then its bytes. */
static int region(struct digest *d, int fd, uint64_t off, uint64_t len,
		  unsigned char *buf)
{
	int r;

	if ((r = digest_u64(d, off)) < 0 || (r = digest_u64(d, len)) < 0)
		return r;
	return update_from_fd(d, fd, off, len, buf, IO_BUF);
}

static int fingerprint(struct digest *d, int fd, uint64_t size, uint64_t full,
		       unsigned char *buf)
{
	uint64_t head, tail, slen, span;
	int i, r;

	if (full) {
		if ((r = digest_str(d, "hackbackfs base fingerprint v1: full")) < 0 ||
		    (r = digest_u64(d, size)) < 0)
			return r;
		return update_from_fd(d, fd, 0, size, buf, IO_BUF);
	}

	if ((r = digest_str(d, "hackbackfs base fingerprint v1: sampled")) < 0 ||
	    (r = digest_u64(d, size)) < 0)
		return r;
	head = HB_MIN(size, FP_HEAD);
	tail = HB_MIN(size, FP_TAIL);
	if ((r = region(d, fd, 0, head, buf)) < 0 ||
	    (r = region(d, fd, size - tail, tail, buf)) < 0)
		return r;
	/* Samples from the first to the last 4 KiB, i * span / 255 without
	 * overflow for any 64-bit size. */
	slen = HB_MIN(size, FP_SAMPLE_LEN);
	span = size - slen;
	for (i = 0; i < FP_SAMPLES; i++) {
		uint64_t off = (uint64_t)((unsigned __int128)span * (unsigned)i /
					  (FP_SAMPLES - 1));

		if ((r = region(d, fd, off, slen, buf)) < 0)
			return r;
	}
	return 0;
}

int digest_base_fingerprint(int fd, uint64_t size, int full, unsigned char out[DIGEST_LEN])
{
	return hash_with(fingerprint, fd, size, (uint64_t)full, out);
}

void digest_hex(const unsigned char d[DIGEST_LEN], char hex[DIGEST_HEX_LEN])
{
	static const char xd[] = "0123456789abcdef";
	int i;

	for (i = 0; i < DIGEST_LEN; i++) {
		hex[2 * i] = xd[d[i] >> 4];
		hex[2 * i + 1] = xd[d[i] & 15];
	}
	hex[2 * DIGEST_LEN] = '\0';
}
