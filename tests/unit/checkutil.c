/* SPDX-License-Identifier: BSD-3-Clause */
/* checkutil.c -- see checkutil.h. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkutil.h"

void cu_run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	ck_assert_msg(system(cmd) == 0, "command failed: %s", cmd);
}

int cu_main(const char *name, Suite *s, const char *tools)
{
	char path[4096], cmd[1024];
	const char *old = getenv("PATH");
	SRunner *sr;
	int failed;

	snprintf(path, sizeof path, "%s:/usr/sbin:/sbin", old ? old : "/usr/bin:/bin");
	setenv("PATH", path, 1);
	if (tools) {
		snprintf(cmd, sizeof cmd, "for t in %s; do command -v $t >/dev/null || "
			 "{ echo \"%s: $t missing: skipped\" >&2; exit 1; }; done", tools, name);
		if (system(cmd) != 0) {
			srunner_free(srunner_create(s));
			return 77;
		}
	}
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
