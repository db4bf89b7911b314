/* SPDX-License-Identifier: MIT */
/* proto/env: environment lists (env.h). */
#include "proto/env.h"

#include <string.h>

bool proto_env_sets(const char *const *env, size_t n, const char *kv)
{
	size_t len = strcspn(kv, "=");

	for (size_t i = 0; env && i < n && env[i]; i++)
		if (strncmp(env[i], kv, len) == 0 && env[i][len] == '=')
			return true;
	return false;
}
