/* SPDX-License-Identifier: BSD-3-Clause */
/* json.c -- a small JSON writer (see json.h).
 *
 * The writer keeps one level per open container: how its members are laid
 * out and how many there are so far, which is all it takes to know what
 * goes before the next member (nothing, ", " or ",\n" and an indent) and
 * before the closing bracket.  No buffering of its own: every piece goes
 * straight to the stream.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>

#include "json.h"

void json_init(struct json *j, FILE *f)
{
	j->f = f;
	j->depth = 0;
	j->bad = 0;
	j->values = 0;
}

static void indent(struct json *j, int depth)
{
	fputc('\n', j->f);
	for (int i = 0; i < depth; i++)
		fputs("  ", j->f);
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 when the bytes there
 * are not one: overlong forms, UTF-16 surrogates and code points past
 * U+10FFFF are not valid (RFC 3629). */
static int utf8_len(const unsigned char *p)
{
	unsigned c = p[0];
	int n;
	unsigned min, cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, min = 0x80, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, min = 0x800, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, min = 0x10000, cp = c & 0x07;
	else
		return 0;
	for (int i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;	/* also stops at the NUL */
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* Bytes that stand for themselves in a JSON string: printable ASCII but
 * the quote and the backslash. */
static int plain(unsigned char c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* s as a JSON string.  Runs of plain bytes (a file name is usually one)
 * and valid UTF-8 sequences go out in one write each. */
static void quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		const unsigned char *run = p;
		int n;

		while (plain(*p))
			p++;
		if (p > run)
			fwrite(run, 1, (size_t)(p - run), f);
		if (!*p)
			break;
		n = utf8_len(p);
		if (n == 0)
			fprintf(f, "\\udc%02x", *p++);
		else if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p++);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p++);
		else {
			fwrite(p, 1, (size_t)n, f);
			p += n;
		}
	}
	fputc('"', f);
}

/* What comes before a value: the separator and the key.  0, or -1 (and
 * nothing written) when a value cannot go here. */
static int member(struct json *j, const char *key)
{
	struct json_level *l;

	if (j->depth == 0) {
		/* the document itself: one value, no key */
		if (key || j->values++ > 0) {
			j->bad = 1;
			return -1;
		}
		return 0;
	}
	l = &j->level[j->depth - 1];
	if ((l->close == '}') != (key != NULL)) {
		j->bad = 1;
		return -1;
	}
	if (l->members > 0)
		fputc(',', j->f);
	if (l->layout == JSON_INLINE || l->row > 0) {
		if (l->members > 0)
			fputc(' ', j->f);
	} else {
		indent(j, j->depth);
	}
	if (l->row >= 0)
		l->row++;
	l->members++;
	if (key) {
		quoted(j->f, key);
		fputs(": ", j->f);
	}
	return 0;
}

/* After a value: the end of the document is the end of a line. */
static void done_value(struct json *j)
{
	if (j->depth == 0)
		fputc('\n', j->f);
}

static void begin(struct json *j, const char *key, char open, char close,
		  enum json_layout layout)
{
	if (j->depth == JSON_MAX_DEPTH) {
		j->bad = 1;
		return;
	}
	if (member(j, key) < 0)
		return;
	fputc(open, j->f);
	j->level[j->depth++] = (struct json_level){
		.close = close, .layout = (unsigned char)layout, .members = 0, .row = -1,
	};
}

void json_object_begin(struct json *j, const char *key, enum json_layout layout)
{
	begin(j, key, '{', '}', layout);
}

void json_array_begin(struct json *j, const char *key, enum json_layout layout)
{
	begin(j, key, '[', ']', layout);
}

void json_end(struct json *j)
{
	struct json_level *l;

	if (j->depth == 0) {
		j->bad = 1;
		return;
	}
	l = &j->level[--j->depth];
	if (l->layout == JSON_BLOCK)
		indent(j, j->depth);
	fputc(l->close, j->f);
	done_value(j);
}

void json_row_begin(struct json *j)
{
	if (j->depth == 0 || j->level[j->depth - 1].layout != JSON_BLOCK) {
		j->bad = 1;
		return;
	}
	j->level[j->depth - 1].row = 0;
}

void json_row_end(struct json *j)
{
	if (j->depth == 0) {
		j->bad = 1;
		return;
	}
	j->level[j->depth - 1].row = -1;
}

void json_string(struct json *j, const char *key, const char *s)
{
	if (member(j, key) < 0)
		return;
	if (s)
		quoted(j->f, s);
	else
		fputs("null", j->f);
	done_value(j);
}

void json_uint(struct json *j, const char *key, uint64_t v)
{
	if (member(j, key) < 0)
		return;
	fprintf(j->f, "%" PRIu64, v);
	done_value(j);
}

void json_int(struct json *j, const char *key, int64_t v)
{
	if (member(j, key) < 0)
		return;
	fprintf(j->f, "%" PRId64, v);
	done_value(j);
}

void json_bool(struct json *j, const char *key, int v)
{
	if (member(j, key) < 0)
		return;
	fputs(v ? "true" : "false", j->f);
	done_value(j);
}

int json_done(const struct json *j)
{
	return j->depth == 0 && !j->bad ? 0 : -EINVAL;
}
