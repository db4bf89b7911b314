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
	}
	return rc;
}
