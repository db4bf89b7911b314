// SPDX-License-Identifier: MIT
/*
 * run_image: `kvmbox run [OPTIONS] IMAGE [-- CMD ARGS...]`, as `docker run`
 * does it: the image from the store (pulled when missing, or as --pull
 * says), its layers as the guest's root (read-only over virtio-fs, under
 * the agent's overlay: guest-agent/image_root.h), and the process its
 * config describes (image-spec config.md): Entrypoint followed by our
 * CMD, or else by its Cmd; its Env under our -e; WorkingDir unless -w;
 * User unless -u.
 */
#define _GNU_SOURCE
#include "proto/env.h"
#include "vmm/cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int run_image_opt(struct run_opts *o, int c, const char *arg)
{
	switch (c) {
	case 'e':
		if (!strchr(arg, '=') || arg[0] == '=' || o->nr_env == RUN_MAX_ENV) {
			fprintf(stderr, "kvmbox: -e %s: expected K=V (at most %d)\n", arg,
			        RUN_MAX_ENV);
			return -EINVAL;
		}
		/* Grown here rather than a fixed array of RUN_MAX_ENV + 1: that
		 * was 32 KB of run_opts to zero on every run (docs/benchmarks.md,
		 * "Before the first KVM_RUN"). */
		{
			const char **env = realloc(o->env, (o->nr_env + 2) * sizeof(*env));

			if (!env)
				return -ENOMEM;
			o->env = env;
			env[o->nr_env++] = arg;
			env[o->nr_env] = NULL;
		}
		return 0;
	case 'w':
		o->workdir = arg;
		return 0;
	case 'u':
		o->user = arg;
		return 0;
	case RUN_OPT_PULL:
		if (!strcmp(arg, "missing"))
			o->pull = RUN_PULL_MISSING;
		else if (!strcmp(arg, "always"))
			o->pull = RUN_PULL_ALWAYS;
		else if (!strcmp(arg, "never"))
			o->pull = RUN_PULL_NEVER;
		else {
			fprintf(stderr, "kvmbox: --pull %s: expected missing, always or never\n",
			        arg);
			return -EINVAL;
		}
		return 0;
	default:
		return image_opt(&o->image_opts, c, arg) ? -EINVAL : 0;
	}
}

static size_t strv_len(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

/*
 * run_image_argv: Entrypoint + (our command, or the image's Cmd). The
 * strings stay the image's or argv's; only the vector is new. -EINVAL
 * after a message when both are empty.
 */
static int run_image_argv(struct run_opts *o)
{
	char *const *tail = o->command ? o->command : o->img.cmd;
	size_t ne = strv_len(o->img.entrypoint), nt = strv_len(tail), k = 0;

	if (ne + nt == 0) {
		fprintf(stderr,
		        "kvmbox: %s has no command (no Entrypoint, no Cmd): give one after "
		        "--\n",
		        o->image);
		return -EINVAL;
	}
	o->cmd_buf = calloc(ne + nt + 1, sizeof(char *));
	if (!o->cmd_buf)
		return -ENOMEM;
	for (size_t i = 0; i < ne; i++)
		o->cmd_buf[k++] = o->img.entrypoint[i];
	for (size_t i = 0; i < nt; i++)
		o->cmd_buf[k++] = tail[i];
	o->command = o->cmd_buf;
	return 0;
}

/* run_image_env: the image's Env, less what -e sets, then -e. */
static int run_image_env(struct run_opts *o)
{
	size_t ni = strv_len(o->img.env), k = 0;

	o->env_buf = calloc(ni + o->nr_env + 1, sizeof(char *));
	if (!o->env_buf)
		return -ENOMEM;
	for (size_t i = 0; i < ni; i++)
		if (strchr(o->img.env[i], '=') && !proto_env_sets(o->env, o->nr_env, o->img.env[i]))
			o->env_buf[k++] = o->img.env[i];
	for (unsigned int i = 0; i < o->nr_env; i++)
		o->env_buf[k++] = o->env[i];
	return 0;
}

/* run_image_get: the image from the store, pulled as --pull says. */
static int run_image_get(struct run_opts *o)
{
	char err[OCI_ERR_MAX];
	struct oci_ref ref;
	int rc;

	if (image_parse_ref(o->image, &ref))
		return -EINVAL;
	if (image_store_open(&o->image_opts, &o->store))
		return -EIO;
	if (o->pull == RUN_PULL_ALWAYS && image_pull(&o->image_opts, o->store, &ref, o->image))
		return -EIO;
	rc = oci_image_get(o->store, &ref, &o->img, err, sizeof(err));
	if (rc == -ENOENT && o->pull == RUN_PULL_MISSING) {
		if (image_pull(&o->image_opts, o->store, &ref, o->image))
			return -EIO;
		rc = oci_image_get(o->store, &ref, &o->img, err, sizeof(err));
	}
	if (rc) {
		fprintf(stderr, "kvmbox: %s%s\n", err,
		        rc == -ENOENT && o->pull == RUN_PULL_NEVER ? " (--pull never)" : "");
		return -EIO;
	}
	o->have_img = true;
	if (!o->img.nr_layers) {
		fprintf(stderr, "kvmbox: %s has no layers: nothing to run\n", o->image);
		return -EIO;
	}
	return 0;
}

int run_image_prepare(struct run_opts *o)
{
	int err;

	if (o->rootfs || o->root_on_fs) {
		fprintf(stderr,
		        "kvmbox: %s is the root: --rootfs and --rootfs-dir do not go with an "
		        "image\n",
		        o->image);
		return -EINVAL;
	}
	err = run_image_get(o);
	if (err)
		return err;
	/* The layers stay while the sandbox reads them: no rmi sweeps them. */
	if (oci_store_hold(o->store)) {
		fprintf(stderr, "kvmbox: cannot lock the image store\n");
		return -EIO;
	}
	/* --no-command: a sandbox's VM waits for kvmbox exec instead. */
	if (run_fs_add_image(o) || (!o->no_command && run_image_argv(o)) || run_image_env(o))
		return -EINVAL;
	if (!o->workdir)
		o->workdir = o->img.workdir && o->img.workdir[0] ? o->img.workdir : NULL;
	if (!o->user)
		o->user = o->img.user && o->img.user[0] ? o->img.user : NULL;
	return 0;
}

void run_image_free(struct run_opts *o)
{
	free(o->cmd_buf);
	free(o->env_buf);
	free(o->env);
	o->env = NULL;
	o->nr_env = 0;
	if (o->have_img)
		oci_image_free(&o->img);
	oci_store_close(o->store);
	o->cmd_buf = NULL;
	o->env_buf = NULL;
	o->have_img = false;
	o->store = NULL;
}
