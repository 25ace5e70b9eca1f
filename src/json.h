/* SPDX-License-Identifier: BSD-3-Clause */
/* json.h -- a small JSON writer: objects, arrays, strings, numbers.
 *
 * What the manifest (MNT/NAME.json, --manifest) and --export-cow's
 * FILE.json are written with, so that one writes the other's members
 * plus its own.  The writer lays the text out as the manifest always has
 * been, since tools compare its bytes: a container opened JSON_BLOCK puts
 * each member on a line of its own, indented two spaces a level; one
 * opened JSON_INLINE keeps its members on one line, ", " between them; a
 * row (json_row_begin()/json_row_end()) puts the next members of a block
 * on one line.  A document ends with a newline.
 *
 * Strings are bytes, not text (file names): a byte that is not part of
 * valid UTF-8 is written as \udcXX, a lone low surrogate, which no valid
 * UTF-8 text contains -- PEP 383's "surrogateescape", so that Python's
 * json.loads(...) then .encode("utf-8", "surrogateescape") gives back
 * exactly the bytes, and no two names look alike.  '"', '\\' and control
 * characters are escaped; everything else is written as it is.
 *
 * Output goes to a stdio stream; its errors are the caller's to see (at
 * fclose).  key is NULL for an array's elements, a member's name in an
 * object.  Misuse (an end with nothing open, a value with a key in an
 * array, nesting deeper than JSON_MAX_DEPTH) writes nothing and makes
 * json_done() fail.
 */
#ifndef HB_JSON_H
#define HB_JSON_H

#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 8

enum json_layout { JSON_BLOCK, JSON_INLINE };

struct json {
	FILE *f;
	int depth;		/* containers open */
	int bad;		/* misuse seen */
	int values;		/* values written at the top (one is a document) */
	struct json_level {
		char close;	/* '}' or ']' */
		unsigned char layout;
		int members;	/* written so far */
		int row;	/* members in the current row, or -1: no row */
	} level[JSON_MAX_DEPTH];
};

void json_init(struct json *j, FILE *f);
void json_object_begin(struct json *j, const char *key, enum json_layout layout);
void json_array_begin(struct json *j, const char *key, enum json_layout layout);
void json_end(struct json *j);

/* Until json_row_end(), the members of the block open now share a line. */
void json_row_begin(struct json *j);
void json_row_end(struct json *j);

/* s NULL: null. */
void json_string(struct json *j, const char *key, const char *s);
void json_uint(struct json *j, const char *key, uint64_t v);
void json_int(struct json *j, const char *key, int64_t v);
void json_bool(struct json *j, const char *key, int v);

/* 0 when every container opened has been closed and nothing was misused,
 * else -EINVAL. */
int json_done(const struct json *j);

#endif
