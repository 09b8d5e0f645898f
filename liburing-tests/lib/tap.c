/* SPDX-License-Identifier: MIT */
/*
 * TAP output and diagnostics: plans, results, skips with their reason.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"

static __thread char skip_reason[256];
static unsigned int tap_nr, tap_pass, tap_fail, tap_skip;

const char *t_errname(int ret)
{
	static char bufs[4][32];
	static unsigned int next;
	char *buf = bufs[next++ % 4];

	switch (ret) {
	case 0:			return "0";
	case -EFAULT:		return "-EFAULT";
	case -EOPNOTSUPP:	return "-EOPNOTSUPP";
	case -EINVAL:		return "-EINVAL";
	case -ENOMEM:		return "-ENOMEM";
	case -EPERM:		return "-EPERM";
	case -ENXIO:		return "-ENXIO";
	case -EBUSY:		return "-EBUSY";
	case -EOVERFLOW:	return "-EOVERFLOW";
	}
	snprintf(buf, sizeof(bufs[0]), "%d", ret);
	return buf;
}

void t_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

int t_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(skip_reason, sizeof(skip_reason), fmt, ap);
	va_end(ap);
	return T_EXIT_SKIP;
}

const char *t_skip_reason(void)
{
	return skip_reason;
}

void t_tap_plan(unsigned int n)
{
	printf("TAP version 13\n1..%u\n", n);
	fflush(stdout);
}

void t_tap_result(int ret, const char *fmt, ...)
{
	va_list ap;

	tap_nr++;
	printf("%s %u ", ret == T_EXIT_PASS || ret == T_EXIT_SKIP ? "ok" : "not ok",
	       tap_nr);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (ret == T_EXIT_PASS) {
		tap_pass++;
	} else if (ret == T_EXIT_SKIP) {
		tap_skip++;
		printf(" # SKIP %s", skip_reason[0] ? skip_reason : "no reason given");
	} else {
		tap_fail++;
	}
	putchar('\n');
	fflush(stdout);
	skip_reason[0] = '\0';
}

int t_tap_exit(void)
{
	printf("# Totals: pass:%u fail:%u skip:%u\n", tap_pass, tap_fail, tap_skip);
	if (tap_fail)
		return T_EXIT_FAIL;
	if (!tap_pass)
		return T_EXIT_SKIP;
	return T_EXIT_PASS;
}

int t_run_cases(const struct t_case *cases, unsigned int nr)
{
	unsigned int i;

	t_tap_plan(nr);
	for (i = 0; i < nr; i++)
		t_tap_result(cases[i].fn(), "%s", cases[i].name);
	return t_tap_exit();
}
