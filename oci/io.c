// SPDX-License-Identifier: MIT
/*
 * io: what the sources share in writing a blob to its temporary file
 * (oci_int.h).
 */
#include "oci/oci_int.h"

#include <errno.h>
#include <unistd.h>

int oci_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}
