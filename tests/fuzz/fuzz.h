/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz.h -- what the fuzz targets share (tests/fuzz/README.md).
 *
 * Each target defines LLVMFuzzerTestOneInput() and LLVMFuzzerInitialize();
 * it is linked either with libFuzzer (clang -fsanitize=fuzzer, `make fuzz')
 * or with replay.c, a main() that feeds it files (`make check', any CC).
 */
#ifndef HB_FUZZ_H
#define HB_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A memfd holding data, and its name under /proc/self/fd (for code that
 * opens a path).  Aborts when the kernel refuses: that is not an input's
 * fault. */
int fuzz_memfd(const uint8_t *data, size_t size, char *path, size_t path_len);

/* A private directory for the target's fixtures, made once. */
const char *fuzz_workdir(void);

/* Replace the file at path with data, mode 0600 (aborts on failure). */
void fuzz_write_file(const char *path, const uint8_t *data, size_t size);

/* Run a shell command; abort with its text if it fails. */
void fuzz_sh(const char *cmd);

/* Abort with a message: an invariant of the code under test broke. */
#define FUZZ_ASSERT(c) \
	((c) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #c))
void fuzz_fail(const char *file, int line, const char *what) __attribute__((noreturn));

#endif
