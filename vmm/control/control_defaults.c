// SPDX-License-Identifier: MIT
/*
 * control_defaults: what an exec request leaves out, taken from the VM's
 * run: its environment, working folder and user. For a microVM booted from
 * an image these are the image's Env, WorkingDir and User under the run's
 * -e, -w and -u (image-spec config.md), so that `kvmbox exec NAME -- CMD`
 * and the SDK's exec see what `docker exec` sees in a container: the
 * container's environment with the exec's own -e over it, its working
 * folder and its user unless the request names others.
 *
 * Applied here, in the VMM, rather than by each client: the CLI, the C
 * client and the SDK then agree, and a client need not know the image.
 * The agent still checks every field as untrusted (guest-agent/exec.c);
 * a request the VMM cannot read is passed on unchanged for the agent to
 * refuse with its own error.
 */
#define _GNU_SOURCE
#include "vmm/control/control_int.h"

#include "proto/bytes.h"
#include "proto/env.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The protocol's bound on exec's env (docs/protocol.md). */
#define CONTROL_EXEC_MAX_ENV 4096

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

int control_exec_defaults(struct control *ctl, const char *const *env, const char *cwd,
                          const char *user)
{
	size_t n = 0;
	char **copy = NULL;

	while (env && env[n])
		n++;
	if (n > CONTROL_EXEC_MAX_ENV)
		return -E2BIG;
	if (n) {
		copy = calloc(n + 1, sizeof(*copy));
		if (!copy)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++)
			if (!(copy[i] = strdup(env[i]))) {
				strv_free(copy);
				return -ENOMEM;
			}
	}
	control_exec_defaults_free(ctl);
	ctl->exec_env = copy;
	ctl->exec_cwd = cwd && *cwd ? strdup(cwd) : NULL;
	ctl->exec_user = user && *user ? strdup(user) : NULL;
	if ((cwd && *cwd && !ctl->exec_cwd) || (user && *user && !ctl->exec_user)) {
		control_exec_defaults_free(ctl);
		return -ENOMEM;
	}
	return 0;
}

void control_exec_defaults_free(struct control *ctl)
{
	strv_free(ctl->exec_env);
	free(ctl->exec_cwd);
	free(ctl->exec_user);
	ctl->exec_env = NULL;
	ctl->exec_cwd = ctl->exec_user = NULL;
}

/*
 * exec_env_merge: msg's env becomes the defaults whose names it does not
 * set, then its own entries as they came (their encoding kept). Not when
 * env_clear asks for the request's env alone.
 */
static int exec_env_merge(const struct control *ctl, json_t *msg, struct proto_why *why)
{
	json_t *clear = json_object_get(msg, "env_clear"), *old, *merged;
	char **req = NULL;
	size_t nreq = 0;
	int err;

	if (!ctl->exec_env || json_is_true(clear))
		return 0;
	err = proto_msg_get_bytesv(msg, "env", &req, &nreq, CONTROL_EXEC_MAX_ENV, PROTO_OPTIONAL,
	                           why);
	if (err)
		return err;
	merged = json_array();
	if (!merged) {
		free(req);
		return -ENOMEM;
	}
	for (size_t i = 0; ctl->exec_env[i]; i++) {
		if (proto_env_sets((const char *const *)req, nreq, ctl->exec_env[i]))
			continue;
		if (json_array_append_new(
		        merged, proto_bytes_json(ctl->exec_env[i], strlen(ctl->exec_env[i])))) {
			err = -ENOMEM;
			goto out;
		}
	}
	old = json_object_get(msg, "env");
	if (json_is_array(old) && json_array_extend(merged, old)) {
		err = -ENOMEM;
		goto out;
	}
	if (json_array_size(merged) > CONTROL_EXEC_MAX_ENV) {
		snprintf(why->text, sizeof(why->text),
		         "env: %zu entries with the VM's own, over the limit of %d",
		         json_array_size(merged), CONTROL_EXEC_MAX_ENV);
		err = -E2BIG;
		goto out;
	}
	err = json_object_set(msg, "env", merged) ? -ENOMEM : 0;
out:
	json_decref(merged);
	free(req);
	return err;
}

/* exec_set_absent: msg's key set to value where the request has none. */
static int exec_set_absent(json_t *msg, const char *key, const char *value)
{
	json_t *v = json_object_get(msg, key);

	if (!value || (v && !json_is_null(v)))
		return 0;
	return json_object_set_new(msg, key, proto_bytes_json(value, strlen(value))) ? -ENOMEM : 0;
}

int control_exec_apply(const struct control *ctl, json_t *msg, struct proto_why *why)
{
	int err = exec_env_merge(ctl, msg, why);

	if (err == -EINVAL)
		return 0; /* not ours to judge: the agent refuses it, saying why */
	if (err)
		return err;
	err = exec_set_absent(msg, "cwd", ctl->exec_cwd);
	if (!err)
		err = exec_set_absent(msg, "user", ctl->exec_user);
	return err;
}
