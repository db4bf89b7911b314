// SPDX-License-Identifier: MIT
/*
 * client_ports: published ports from the host side (kvmbox_client.h;
 * docs/protocol.md, "Published ports"): ports.publish, ports.list and
 * ports.close, each one proto_client_call, replies checked field by field.
 */
#include "proto/bytes.h"
#include "proto/kvmbox_client.h"
#include "proto/msg.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PORTS_MAX 64 /* the VMM publishes at most 64 (docs/protocol.md) */

/*
 * ports_parse: a port object o (a publish reply or a list entry) into p;
 * 0 or -EPROTO with why naming the field.
 */
static int ports_parse(const json_t *o, struct proto_port *p, struct proto_why *why)
{
	struct proto_why w = { "" };
	const char *addr = NULL;
	char *path = NULL;
	uint64_t guest = 0, host = 0;

	memset(p, 0, sizeof(*p));
	if (proto_msg_get_u64(o, "port_id", &p->port_id, PROTO_ID_MAX, 0, &w) ||
	    proto_msg_get_u64(o, "guest_port", &guest, 65535, 0, &w) ||
	    proto_msg_get_u64(o, "host_port", &host, 65535, PROTO_OPTIONAL, &w) ||
	    proto_msg_get_string(o, "host_addr", &addr, PROTO_OPTIONAL, &w) ||
	    proto_msg_get_bytes(o, "host_path", &path, PROTO_PATH_MAX, PROTO_OPTIONAL, &w) ||
	    proto_msg_get_u64(o, "connections", &p->connections, INT64_MAX, PROTO_OPTIONAL, &w) ||
	    proto_msg_get_u64(o, "refused", &p->refused, INT64_MAX, PROTO_OPTIONAL, &w) ||
	    (addr && strlen(addr) >= sizeof(p->host_addr)) || (!addr && !path)) {
		free(path);
		proto_why_set(why, "a port out of the protocol: %s",
		              w.text[0] ? w.text : "host_addr or host_path");
		return -EPROTO;
	}
	p->guest_port = (uint16_t)guest;
	p->host_port = (uint16_t)host;
	snprintf(p->host_addr, sizeof(p->host_addr), "%s", addr && !path ? addr : "");
	snprintf(p->host_path, sizeof(p->host_path), "%s", path ? path : "");
	free(path);
	return 0;
}

/* ports_request: a new request for op; NULL: out of memory. */
static json_t *ports_request(const char *op)
{
	json_t *req = NULL;

	return proto_msg_request(&req, 0, op) ? NULL : req;
}

int proto_client_ports_publish(struct proto_client *c, const struct proto_port_spec *spec,
                               struct proto_port *out, struct proto_why *why)
{
	struct proto_port scratch;
	json_t *req, *r = NULL;
	int err;

	if (!spec->guest_port || (spec->host_path && (spec->host_addr || spec->host_port))) {
		proto_why_set(why, "%s",
		              spec->guest_port ? "host_path excludes host_addr and host_port"
		                               : "guest_port must be 1..65535");
		return -EINVAL;
	}
	req = ports_request("ports.publish");
	if (!req)
		return -ENOMEM;
	err = proto_msg_set_u64(req, "guest_port", spec->guest_port);
	if (!err && spec->host_path)
		err = proto_msg_set_path(req, "host_path", spec->host_path);
	if (!err && !spec->host_path && spec->host_addr)
		err = proto_msg_set_string(req, "host_addr", spec->host_addr);
	if (!err && !spec->host_path)
		err = proto_msg_set_u64(req, "host_port", spec->host_port);
	if (err) {
		json_decref(req);
		proto_why_set(why, "building ports.publish: %s", strerror(-err));
		return err;
	}
	err = proto_client_call(c, req, NULL, 0, &r, why);
	if (!err)
		err = ports_parse(r, out ? out : &scratch, why);
	json_decref(r);
	return err;
}

int proto_client_ports_list(struct proto_client *c, struct proto_port **ports, size_t *n,
                            struct proto_why *why)
{
	json_t *r = NULL, *a, *o;
	struct proto_port *v = NULL;
	size_t i, count;
	int err;

	*ports = NULL;
	*n = 0;
	err = proto_client_call(c, ports_request("ports.list"), NULL, 0, &r, why);
	if (err)
		return err;
	a = json_object_get(r, "ports");
	count = json_array_size(a); /* 0 when not an array */
	if (!json_is_array(a) || json_array_size(a) > PORTS_MAX) {
		proto_why_set(why,
		              "a ports.list reply out of the protocol: \"ports\" is not an "
		              "array of at most %d",
		              PORTS_MAX);
		err = -EPROTO;
	} else if (count) {
		v = calloc(count, sizeof(*v));
		err = v ? 0 : -ENOMEM;
	}
	json_array_foreach(a, i, o)
	{
		if (err)
			break;
		err = json_is_object(o) ? ports_parse(o, &v[i], why) : -EPROTO;
		if (err && !json_is_object(o))
			proto_why_set(why, "a ports.list entry is not an object");
	}
	json_decref(r);
	if (err) {
		free(v);
		return err;
	}
	*ports = v;
	*n = count;
	return 0;
}

int proto_client_ports_close(struct proto_client *c, uint64_t port_id, struct proto_why *why)
{
	json_t *req;

	if (!port_id || port_id > PROTO_ID_MAX) {
		proto_why_set(why, "port_id %llu: out of range", (unsigned long long)port_id);
		return -EINVAL;
	}
	req = ports_request("ports.close");
	if (req && proto_msg_set_u64(req, "port_id", port_id)) {
		json_decref(req);
		return -ENOMEM;
	}
	return proto_client_call(c, req, NULL, 0, NULL, why);
}
