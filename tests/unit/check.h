/* SPDX-License-Identifier: MIT */
/*
 * check.h: the unit tests' few assertions.
 *
 * A test file defines its test functions and lists them in a CHECK_MAIN
 * table; each failed assertion prints where and why and fails its test, and
 * the run ends with the line "N passed, N failed" and a non-zero status if
 * any failed.
 */
#ifndef KVMBOX_TESTS_CHECK_H
#define KVMBOX_TESTS_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct check_case {
	const char *name;
	void (*fn)(int *failed);
};

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);   \
			(*failed)++;                                                               \
		}                                                                                  \
	} while (0)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		uint64_t check_a_ = (uint64_t)(a), check_b_ = (uint64_t)(b);                       \
		if (check_a_ != check_b_) {                                                        \
			fprintf(stderr, "%s:%d: %s == %s failed: %#" PRIx64 " != %#" PRIx64 "\n",  \
			        __FILE__, __LINE__, #a, #b, check_a_, check_b_);                   \
			(*failed)++;                                                               \
		}                                                                                  \
	} while (0)

#define CHECK_ERR(expr, err) CHECK_EQ((int64_t)(expr), (int64_t)(err))

#define TEST(name) static void name(int *failed)

static inline int check_run(const struct check_case *cases, size_t n)
{
	int passed = 0, failed_cases = 0;

	for (size_t i = 0; i < n; i++) {
		int failed = 0;

		cases[i].fn(&failed);
		if (failed) {
			fprintf(stderr, "FAIL %s\n", cases[i].name);
			failed_cases++;
		} else {
			passed++;
		}
	}
	printf("%d passed, %d failed\n", passed, failed_cases);
	return failed_cases ? 1 : 0;
}

#define CHECK_MAIN(...)                                                                            \
	int main(void)                                                                             \
	{                                                                                          \
		static const struct check_case cases[] = { __VA_ARGS__ };                          \
		return check_run(cases, sizeof(cases) / sizeof(cases[0]));                         \
	}

#define CASE(fn)                                                                                   \
	{                                                                                          \
#fn, fn                                                                            \
	}

#endif
