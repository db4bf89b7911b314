// SPDX-License-Identifier: MIT
/*
 * layer_name: the names in a layer's tar stream (layer_int.h): made
 * relative to the layer's root, split into folder and last component, and
 * shown in messages. Pure string work: layer_entry.c acts on the result.
 */
#include "oci/layer_int.h"

#include <errno.h>
#include <string.h>

int layer_norm(const char *in, char *out, size_t cap)
{
	const char *p = in;
	size_t o = 0;

	if (!in || !*in)
		return -EINVAL;
	/* A leading "/" names the layer's root, as GNU tar ("Removing leading
	 * '/' from member names"), docker and containerd read it (they join
	 * the cleaned name to the root): umoci insert writes "/" and "/bin/sh". */
	while (*p) {
		size_t len = strcspn(p, "/");
		const char *comp = p;

		p += len;
		p += strspn(p, "/");
		if (len == 0 || (len == 1 && comp[0] == '.'))
			continue;
		if (len == 2 && comp[0] == '.' && comp[1] == '.')
			return -EPERM;
		if (o + !!o + len >= cap)
			return -ENAMETOOLONG;
		if (o)
			out[o++] = '/';
		memcpy(out + o, comp, len);
		o += len;
	}
	out[o] = '\0';
	return 0;
}

/* layer_show: name as it may go in a message: printable ASCII, shortened. */
void layer_show(const char *name, char *out, size_t cap)
{
	size_t o = 0;

	for (; name && *name && o + 4 < cap; name++)
		out[o++] = (*name >= 0x20 && *name < 0x7f) ? *name : '?';
	if (name && *name)
		memcpy(out + o, "...", 3), o += 3;
	out[o] = '\0';
}

int layer_split(const char *name, char parent[PATH_MAX], const char **base)
{
	const char *slash = strrchr(name, '/');
	size_t plen = slash ? (size_t)(slash - name) : 0;

	memcpy(parent, name, plen);
	parent[plen] = '\0';
	*base = slash ? slash + 1 : name;
	for (const char *p = parent; *p; p += strcspn(p, "/"), p += *p == '/')
		if (!strncmp(p, LAYER_WH_PREFIX, strlen(LAYER_WH_PREFIX)))
			return -EPERM;
	return 0;
}
