/* SPDX-License-Identifier: BSD-3-Clause */
/* check_json.c -- unit tests for src/json.c: the layout (blocks, inline
 * containers, rows; the manifest's bytes depend on it), the escaping of
 * strings that are bytes, numbers at their limits, and misuse reported by
 * json_done() instead of written. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkutil.h"
#include "json.h"

/* A writer on a memory stream; text() closes it and returns the text. */
struct doc {
	FILE *f;
	char *buf;
	size_t len;
	struct json j;
};

static void doc_open(struct doc *d)
{
	d->buf = NULL;
	d->f = open_memstream(&d->buf, &d->len);
	ck_assert_ptr_nonnull(d->f);
	json_init(&d->j, d->f);
}

static const char *text(struct doc *d)
{
	ck_assert_int_eq(fclose(d->f), 0);
	return d->buf;
}

static void assert_text(struct doc *d, const char *want)
{
	const char *got = text(d);

	ck_assert_msg(strcmp(got, want) == 0, "got:\n%s\nwant:\n%s", got, want);
	free(d->buf);
}

/* The value s as one string document. */
static void assert_string(const char *s, const char *want)
{
	struct doc d;

	doc_open(&d);
	json_string(&d.j, NULL, s);
	ck_assert_int_eq(json_done(&d.j), 0);
	assert_text(&d, want);
}

START_TEST(layout)
{
	struct doc d;

	doc_open(&d);
	json_object_begin(&d.j, NULL, JSON_BLOCK);
	json_string(&d.j, "format", "x 1");
	json_object_begin(&d.j, "base", JSON_INLINE);
	json_string(&d.j, "path", "/a");
	json_uint(&d.j, "size", 4096);
	json_end(&d.j);
	json_row_begin(&d.j);
	json_int(&d.j, "epoch", 7);
	json_bool(&d.j, "keep", 0);
	json_string(&d.j, "umask", "0022");
	json_row_end(&d.j);
	json_string(&d.j, "script", NULL);
	json_array_begin(&d.j, "entries", JSON_BLOCK);
	json_object_begin(&d.j, NULL, JSON_INLINE);
	json_string(&d.j, "path", "etc");
	json_end(&d.j);
	json_object_begin(&d.j, NULL, JSON_INLINE);
	json_string(&d.j, "path", "etc/x");
	json_bool(&d.j, "b", 1);
	json_end(&d.j);
	json_end(&d.j);
	json_array_begin(&d.j, "none", JSON_BLOCK);
	json_end(&d.j);
	json_array_begin(&d.j, "list", JSON_INLINE);
	json_uint(&d.j, NULL, 1);
	json_uint(&d.j, NULL, 2);
	json_end(&d.j);
	json_object_begin(&d.j, "nest", JSON_BLOCK);
	json_uint(&d.j, "a", 1);
	json_end(&d.j);
	json_end(&d.j);
	ck_assert_int_eq(json_done(&d.j), 0);
	assert_text(&d,
		    "{\n"
		    "  \"format\": \"x 1\",\n"
		    "  \"base\": {\"path\": \"/a\", \"size\": 4096},\n"
		    "  \"epoch\": 7, \"keep\": false, \"umask\": \"0022\",\n"
		    "  \"script\": null,\n"
		    "  \"entries\": [\n"
		    "    {\"path\": \"etc\"},\n"
		    "    {\"path\": \"etc/x\", \"b\": true}\n"
		    "  ],\n"
		    "  \"none\": [\n"
		    "  ],\n"
		    "  \"list\": [1, 2],\n"
		    "  \"nest\": {\n"
		    "    \"a\": 1\n"
		    "  }\n"
		    "}\n");
}
END_TEST

/* A row that opens the block, and one at its end. */
START_TEST(rows_at_the_edges)
{
	struct doc d;

	doc_open(&d);
	json_object_begin(&d.j, NULL, JSON_BLOCK);
	json_row_begin(&d.j);
	json_uint(&d.j, "a", 1);
	json_uint(&d.j, "b", 2);
	json_row_end(&d.j);
	json_uint(&d.j, "c", 3);
	json_row_begin(&d.j);
	json_uint(&d.j, "d", 4);
	json_uint(&d.j, "e", 5);
	json_end(&d.j);
	ck_assert_int_eq(json_done(&d.j), 0);
	assert_text(&d, "{\n  \"a\": 1, \"b\": 2,\n  \"c\": 3,\n  \"d\": 4, \"e\": 5\n}\n");
}
END_TEST

START_TEST(strings)
{
	assert_string("", "\"\"\n");
	assert_string("plain text", "\"plain text\"\n");
	assert_string("q\"uo\\te/", "\"q\\\"uo\\\\te/\"\n");
	assert_string("\x01\t\n\x1f\x7f", "\"\\u0001\\u0009\\u000a\\u001f\x7f\"\n");
	/* valid UTF-8 of 2, 3 and 4 bytes, the last code point */
	assert_string("\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf",
		      "\"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"\n");
	assert_string(NULL, "null\n");
}
END_TEST

/* Bytes that are not UTF-8 text come out as \udcXX, one per byte. */
START_TEST(bytes_not_utf8)
{
	assert_string("bad\xffname", "\"bad\\udcffname\"\n");
	/* a lone continuation byte; a sequence cut short by the end and by
	 * another character */
	assert_string("\x80", "\"\\udc80\"\n");
	assert_string("x\xe2\x82", "\"x\\udce2\\udc82\"\n");
	assert_string("\xe2\x82x", "\"\\udce2\\udc82x\"\n");
	/* overlong '/', a UTF-16 surrogate, past U+10FFFF, never-valid bytes */
	assert_string("\xc0\xaf", "\"\\udcc0\\udcaf\"\n");
	assert_string("\xe0\x80\xaf", "\"\\udce0\\udc80\\udcaf\"\n");
	assert_string("\xed\xa0\x80", "\"\\udced\\udca0\\udc80\"\n");
	assert_string("\xf4\x90\x80\x80", "\"\\udcf4\\udc90\\udc80\\udc80\"\n");
	assert_string("\xf5\xfe", "\"\\udcf5\\udcfe\"\n");
}
END_TEST

START_TEST(keys_escaped)
{
	struct doc d;

	doc_open(&d);
	json_object_begin(&d.j, NULL, JSON_INLINE);
	json_uint(&d.j, "a\"b\xff", 1);
	json_end(&d.j);
	ck_assert_int_eq(json_done(&d.j), 0);
	assert_text(&d, "{\"a\\\"b\\udcff\": 1}\n");
}
END_TEST

START_TEST(numbers)
{
	struct doc d;

	doc_open(&d);
	json_array_begin(&d.j, NULL, JSON_INLINE);
	json_uint(&d.j, NULL, 0);
	json_uint(&d.j, NULL, UINT64_MAX);
	json_int(&d.j, NULL, -1);
	json_int(&d.j, NULL, INT64_MIN);
	json_int(&d.j, NULL, INT64_MAX);
	json_bool(&d.j, NULL, 2);
	json_end(&d.j);
	ck_assert_int_eq(json_done(&d.j), 0);
	assert_text(&d, "[0, 18446744073709551615, -1, -9223372036854775808, "
			"9223372036854775807, true]\n");
}
END_TEST

/* Misuse writes nothing of the misused value and fails json_done(). */
START_TEST(misuse)
{
	struct doc d;

	/* a container left open */
	doc_open(&d);
	json_object_begin(&d.j, NULL, JSON_BLOCK);
	ck_assert_int_eq(json_done(&d.j), -EINVAL);
	free((char *)text(&d));

	/* an end with nothing open */
	doc_open(&d);
	json_end(&d.j);
	ck_assert_int_eq(json_done(&d.j), -EINVAL);
	assert_text(&d, "");

	/* a member without a name; an element with one */
	doc_open(&d);
	json_object_begin(&d.j, NULL, JSON_INLINE);
	json_uint(&d.j, NULL, 1);
	json_array_begin(&d.j, "a", JSON_INLINE);
	json_uint(&d.j, "named", 2);
	json_end(&d.j);
	json_end(&d.j);
	ck_assert_int_eq(json_done(&d.j), -EINVAL);
	assert_text(&d, "{\"a\": []}\n");

	/* a second document; a name at the top */
	doc_open(&d);
	json_uint(&d.j, NULL, 1);
	json_uint(&d.j, NULL, 2);
	ck_assert_int_eq(json_done(&d.j), -EINVAL);
	assert_text(&d, "1\n");
	doc_open(&d);
	json_uint(&d.j, "top", 1);
	ck_assert_int_eq(json_done(&d.j), -EINVAL);
	assert_text(&d, "");

	/* a row outside a block */
	doc_open(&d);
	json_row_begin(&d.j);
	ck_assert_int_eq(json_done(&d.j), -EINVAL);
	assert_text(&d, "");
}
END_TEST

START_TEST(too_deep)
{
	struct doc d;

	doc_open(&d);
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		json_array_begin(&d.j, NULL, JSON_INLINE);
	json_array_begin(&d.j, NULL, JSON_INLINE);	/* one too many: not written */
	for (int i = 0; i < JSON_MAX_DEPTH; i++)
		json_end(&d.j);
	ck_assert_int_eq(json_done(&d.j), -EINVAL);
	assert_text(&d, "[[[[[[[[]]]]]]]]\n");
}
END_TEST

static Suite *json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("writer");

	tcase_add_test(tc, layout);
	tcase_add_test(tc, rows_at_the_edges);
	tcase_add_test(tc, strings);
	tcase_add_test(tc, bytes_not_utf8);
	tcase_add_test(tc, keys_escaped);
	tcase_add_test(tc, numbers);
	tcase_add_test(tc, misuse);
	tcase_add_test(tc, too_deep);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cu_main("check_json", json_suite(), NULL);
}
