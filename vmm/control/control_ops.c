// SPDX-License-Identifier: MIT
/*
 * control_ops: the frames a client sends (control.h): the envelope check,
 * the requests the VMM answers itself (stop with force; status and
 * metrics are control_metrics.c's), and everything else forwarded to the
 * agent.
 */
#define _GNU_SOURCE
#include "vmm/control/control_int.h"

#include "proto/msg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	if (env.type == PROTO_REQUEST && control_metrics_frame(c, f, &env))
		return; /* status, metrics, metrics.cancel: control_metrics.c */
	if (env.type == PROTO_REQUEST && strncmp(env.name, "ports.", 6) == 0) {
		control_ports_request(c, f, &env); /* the VMM's own: published ports */
		return;
	}
	if (env.type != PROTO_REQUEST || strcmp(env.name, "stop") != 0) {
		control_forward(c, f, &env);
		return;
	}
	if (proto_msg_get_bool(f->msg, "force", &force, PROTO_OPTIONAL, &why)) {
		control_error(c, env.id, -EINVAL, "%s", why.text);
		return;
	}
	if (!force) {
		control_forward(c, f, &env); /* the agent stops the guest cleanly */
		return;
	}
	if (f->body_len) {
		control_error(c, env.id, -EINVAL, "op %s takes no body", env.name);
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
