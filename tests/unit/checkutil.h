/* SPDX-License-Identifier: BSD-3-Clause */
/* checkutil.h -- what every Check unit test shares: running a shell
 * command as an assertion, and a main() that finds the file system tools
 * (in sbin, often not in a user's PATH), skips (exit 77) when one is
 * missing, and runs the suite. */
#ifndef HB_CHECKUTIL_H
#define HB_CHECKUTIL_H

#include <check.h>

/* Run a shell command; the test fails when it does not exit 0. */
void cu_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* main() of a test program: tools is a space-separated list of commands
 * the suite needs (NULL: none).  Returns the program's exit status. */
int cu_main(const char *name, Suite *s, const char *tools);

#endif
