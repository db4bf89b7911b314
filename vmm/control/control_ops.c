// SPDX-License-Identifier: MIT
/*
 * control_ops: the frames a client sends (control.h): the envelope check,
 * the requests the VMM answers itself (status; stop with force), and
 * everything else forwarded to the agent.
 */
#define _GNU_SOURCE
#include "vmm/control/control_int.h"

#include "proto/msg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONTROL_VERSION "0.1.0"

/* control_status: the "status" reply: the VM's fields, then the process's. */
static void control_status(struct control_conn *c, uint64_t id)
{
	const struct control_host *host = &c->ctl->host;
	json_t *msg = NULL;
	int err;

	err = proto_msg_reply(&msg, id);
	if (!err)
		err = host->ops->status(host->opaque, msg);
	if (!err)
		err = proto_msg_set_u64(msg, "pid", (uint64_t)getpid());
	if (!err)
		err = proto_msg_set_string(msg, "version", CONTROL_VERSION);
	if (err) {
		json_decref(msg);
		control_error(c, id, err, "cannot build the status reply");
		return;
	}
	if (control_queue(&c->to_client, msg, NULL, 0))
		control_kill(c);
}

/* control_client_frame: one frame from the client (untrusted). */
void control_client_frame(struct control_conn *c, const struct proto_frame *f)
{
	struct proto_why why = { "" };
	struct proto_env env;
	bool force = false;
	json_t *msg = NULL;

	if (proto_msg_parse_env(f->msg, &env, &why)) {
		control_error(c, proto_msg_peek_id(f->msg), -EINVAL, "%s", why.text);
		return;
	}
	if (env.type == PROTO_REQUEST && strncmp(env.name, "ports.", 6) == 0) {
		control_ports_request(c, f, &env); /* the VMM's own: published ports */
		return;
	}
	if (env.type != PROTO_REQUEST ||
	    (strcmp(env.name, "status") != 0 && strcmp(env.name, "stop") != 0)) {
		control_forward(c, f, &env);
		return;
	}
	if (proto_msg_get_bool(f->msg, "force", &force, PROTO_OPTIONAL, &why)) {
		control_error(c, env.id, -EINVAL, "%s", why.text);
		return;
	}
	if (strcmp(env.name, "stop") == 0 && !force) {
		control_forward(c, f, &env); /* the agent stops the guest cleanly */
		return;
	}
	if (f->body_len) {
		control_error(c, env.id, -EINVAL, "op %s takes no body", env.name);
		return;
	}
	if (strcmp(env.name, "status") == 0) {
		control_status(c, env.id);
		return;
	}
	/* stop with force: the reply goes out before the VM is taken down. */
	if (proto_msg_reply(&msg, env.id) || control_queue(&c->to_client, msg, NULL, 0)) {
		control_kill(c);
		return;
	}
	control_buf_flush(&c->to_client, c->fd);
	c->ctl->host.ops->stop(c->ctl->host.opaque);
}
