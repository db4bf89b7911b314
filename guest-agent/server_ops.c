// SPDX-License-Identifier: MIT
/*
 * guest-agent/server_ops: the request table (server.h): check a received
 * frame's envelope, find its op and call the handler. The ops that need no
 * process (ping, stop, metrics: guest-agent/metrics.c) are here; the exec
 * ops are in server_exec.c, the file ops in server_files.c, server_xfer.c
 * and server_tree.c.
 */
#define _GNU_SOURCE
#include "guest-agent/metrics.h"
#include "guest-agent/server_int.h"
#include "proto/msg.h"

#include <errno.h>
#include <string.h>

static int op_ping(struct agent_conn *c, uint64_t id, const json_t *msg,
                   const struct proto_frame *f, struct proto_why *why)
{
	(void)msg, (void)f, (void)why;
	agent_conn_reply(c, id, NULL);
	return 0;
}

static int op_stop(struct agent_conn *c, uint64_t id, const json_t *msg,
                   const struct proto_frame *f, struct proto_why *why)
{
	bool reboot = false;
	int err = proto_msg_get_bool(msg, "reboot", &reboot, PROTO_OPTIONAL, why);

	(void)f;
	if (err)
		return err;
	c->srv->stop = reboot ? AGENT_REBOOT : AGENT_POWEROFF;
	agent_conn_reply(c, id, NULL);
	return 0;
}

/* op_metrics: the guest's counters (guest-agent/metrics.h) as the reply's fields. */
static int op_metrics(struct agent_conn *c, uint64_t id, const json_t *msg,
                      const struct proto_frame *f, struct proto_why *why)
{
	json_t *m = NULL;
	int err;

	(void)msg, (void)f;
	err = agent_metrics_read(c->srv->opts.proc_root, c->srv->opts.sys_root, &m);
	if (err) {
		proto_why_set(why, "cannot gather the metrics: %s", strerror(-err));
		return err;
	}
	agent_conn_reply(c, id, m);
	return 0;
}

static const struct op {
	const char *name;
	bool body; /* whether a body is allowed */
	agent_op_fn *fn;
} ops[] = {
	{ "ping", false, op_ping },
	{ "exec", false, agent_op_exec },
	{ "exec.stdin", true, agent_op_stdin },
	{ "exec.signal", false, agent_op_signal },
	{ "exec.resize", false, agent_op_resize },
	{ "stop", false, op_stop },
	{ "metrics", false, op_metrics },
	{ "fs.stat", false, agent_op_fs_stat },
	{ "fs.read", false, agent_op_fs_read },
	{ "fs.write", true, agent_op_fs_write },
	{ "fs.data", true, agent_op_fs_data },
	{ "fs.list", false, agent_op_fs_list },
	{ "fs.mkdir", false, agent_op_fs_mkdir },
	{ "fs.remove", false, agent_op_fs_remove },
	{ "fs.rename", false, agent_op_fs_rename },
	{ "fs.chmod", false, agent_op_fs_chmod },
	{ "fs.chown", false, agent_op_fs_chown },
	{ "fs.tar_out", false, agent_op_fs_tar_out },
	{ "fs.tar_in", true, agent_op_fs_tar_in },
};

/* agent_conn_handle: one received frame (untrusted). */
void agent_conn_handle(struct agent_conn *c, const struct proto_frame *f)
{
	struct proto_why why = { "" };
	struct proto_env env;
	const struct op *op = NULL;
	int err;

	if (proto_msg_parse_env(f->msg, &env, &why) != 0) {
		agent_conn_error(c, proto_msg_peek_id(f->msg), -EINVAL, why.text);
		return;
	}
	if (env.type != PROTO_REQUEST)
		return; /* the agent asks nothing, so replies and events are not for it */
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(ops[i].name, env.name) == 0)
			op = &ops[i];
	if (!op) {
		proto_why_set(&why, "unknown op %s", env.name);
		err = -EOPNOTSUPP;
	} else if (f->body_len && !op->body) {
		proto_why_set(&why, "op %s takes no body", env.name);
		err = -EINVAL;
	} else {
		err = op->fn(c, env.id, f->msg, f, &why);
	}
	if (err)
		agent_conn_error(c, env.id, err, why.text);
}
