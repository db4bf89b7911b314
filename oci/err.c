// SPDX-License-Identifier: MIT
/* oci/err: the one-line messages of oci/ (oci_int.h). */
#include "oci/oci_int.h"

#include <stdarg.h>
#include <stdio.h>

int oci_err(char *err, size_t errcap, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errcap) {
		va_start(ap, fmt);
		vsnprintf(err, errcap, fmt, ap);
		va_end(ap);
		/* Messages quote what a user typed or a registry sent: a control
		 * character there must not break the one line oci.h promises
		 * (nor drive a terminal). */
		for (char *p = err; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
	}
	return rc;
}
