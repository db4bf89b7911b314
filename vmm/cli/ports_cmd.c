// SPDX-License-Identifier: MIT
/*
 * ports_cmd: published ports from the command line (docs/protocol.md,
 * "Published ports"): `kvmbox ports publish|list|close SOCKET ...` as a
 * client of the control socket, and `kvmbox run --publish SPEC`, which
 * publishes on the VM's own control server before it boots. Both read
 * SPEC the same way: [HOSTIP:]HOSTPORT:GUESTPORT (HOSTIP numeric, IPv6 in
 * brackets; HOSTPORT 0: any free one) or PATH:GUESTPORT for a unix socket
 * (PATH starting with / or .).
 */
#define _GNU_SOURCE
#include "proto/bytes.h"
#include "proto/client.h"
#include "proto/msg.h"
#include "vmm/cli/cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long the VMM may take to answer: it answers ports.* itself. */
#define PORTS_WAIT_MS 10000

/* ports_port: s (of spec) as a port number in [min, 65535]; -EINVAL after a message. */
static int ports_port(const char *prog, const char *spec, const char *s, uint64_t min,
                      uint16_t *out)
{
	char what[128];
	uint64_t v;

	snprintf(what, sizeof(what), "%s: port", spec);
	if (cli_parse_u64(prog, what, s, min, 65535, &v))
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

int cli_parse_publish(const char *prog, char *s, struct control_port_spec *spec)
{
	char *spec_text = strdupa(s), *guest = strrchr(s, ':'), *host_port;
	struct in6_addr a6;

	memset(spec, 0, sizeof(*spec));
	if (!guest) {
		fprintf(stderr, "%s: %s: expected [HOSTIP:]HOSTPORT:GUESTPORT or PATH:GUESTPORT\n",
		        prog, spec_text);
		return -EINVAL;
	}
	*guest++ = '\0';
	if (ports_port(prog, spec_text, guest, 1, &spec->guest_port))
		return -EINVAL;
	if (s[0] == '/' || s[0] == '.') {
		spec->host_path = s;
		return 0;
	}
	host_port = strrchr(s, ':');
	if (host_port) {
		*host_port++ = '\0';
		spec->host_addr = s;
		/* [::1]: the brackets are the command line's, not the address's. */
		if (s[0] == '[' && host_port - s >= 3 && host_port[-2] == ']') {
			host_port[-2] = '\0';
			spec->host_addr = s + 1;
		}
		/* Checked now: kvmbox run refuses bad input before it opens KVM. */
		if (inet_pton(AF_INET, spec->host_addr, &a6) != 1 &&
		    inet_pton(AF_INET6, spec->host_addr, &a6) != 1) {
			fprintf(stderr, "%s: %s: HOSTIP must be a numeric IPv4 or IPv6 address\n",
			        prog, spec_text);
			return -EINVAL;
		}
	} else {
		host_port = s;
	}
	return ports_port(prog, spec_text, host_port, 0, &spec->host_port);
}

/* ports_host: the host side of a port (its reply or list entry) as text into buf. */
static const char *ports_host(const json_t *o, char *buf, size_t cap)
{
	const char *addr = json_string_value(json_object_get(o, "host_addr"));
	char *path = NULL;

	if (proto_bytes_get(json_object_get(o, "host_path"), "host_path", &path, NULL, 4095,
	                    NULL) == 0) {
		snprintf(buf, cap, "%s", path);
		free(path);
	} else {
		snprintf(buf, cap, "%s%s%s:%" PRIu64, addr && strchr(addr, ':') ? "[" : "",
		         addr ? addr : "?", addr && strchr(addr, ':') ? "]" : "",
		         (uint64_t)json_integer_value(json_object_get(o, "host_port")));
	}
	return buf;
}

/*
 * ports_request: send req (consumed) on the control socket at path and
 * wait for its answer; the reply in *reply. 0, or -1 after one line.
 */
static int ports_request(const char *prog, const char *path, json_t *req, json_t **reply)
{
	struct proto_client client = { .fd = -1 };
	struct proto_env env;
	char sock[PATH_MAX];
	json_t *answer = NULL;
	int err = proto_client_open(&client, cli_socket(path, sock));

	*reply = NULL;
	if (err) {
		json_decref(req);
		fprintf(stderr, "%s: control socket %s: %s\n", prog, path, strerror(-err));
		return -1;
	}
	client.wait_ms = PORTS_WAIT_MS;
	err = proto_client_call(&client, req, NULL, 0, &answer, NULL);
	proto_client_close(&client);
	if (answer && err) {
		const char *name =
		    json_string_value(json_object_get(json_object_get(answer, "error"), "errno"));

		if (proto_msg_parse_env(answer, &env, NULL) == 0)
			fprintf(stderr, "%s: %s%s%s\n", prog, env.err_msg, name ? " " : "",
			        name ? name : "");
		json_decref(answer);
		return -1;
	}
	if (err) {
		fprintf(stderr, "%s: %s: %s\n", prog, path,
		        err == -EPIPE ? "the VMM closed the connection" : strerror(-err));
		return -1;
	}
	*reply = answer;
	return 0;
}

/* ports_new: a request for op with id 1, or NULL after a message. */
static json_t *ports_new(const char *prog, const char *op)
{
	json_t *req = NULL;

	if (proto_msg_request(&req, 1, op)) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return NULL;
	}
	return req;
}

/* kvmbox ports publish SOCKET SPEC: prints "ID HOST". */
static int ports_publish(const char *sock, char *arg)
{
	static const char prog[] = "kvmbox ports publish";
	struct control_port_spec spec;
	json_t *req, *reply;
	char host[4200];
	int err;

	if (cli_parse_publish(prog, arg, &spec) || !(req = ports_new(prog, "ports.publish")))
		return 2;
	err = proto_msg_set_u64(req, "guest_port", spec.guest_port);
	if (!err && spec.host_path)
		err = proto_msg_set_path(req, "host_path", spec.host_path);
	if (!err && !spec.host_path && spec.host_addr)
		err = proto_msg_set_string(req, "host_addr", spec.host_addr);
	if (!err && !spec.host_path)
		err = proto_msg_set_u64(req, "host_port", spec.host_port);
	if (err) {
		json_decref(req);
		fprintf(stderr, "%s: %s\n", prog, strerror(-err));
		return 1;
	}
	if (ports_request(prog, sock, req, &reply))
		return 1;
	printf("%" PRIu64 " %s\n", (uint64_t)json_integer_value(json_object_get(reply, "port_id")),
	       ports_host(reply, host, sizeof(host)));
	json_decref(reply);
	return 0;
}

/* kvmbox ports list [--json] SOCKET: a table, or the reply's array. */
static int ports_list(const char *sock, bool as_json)
{
	static const char prog[] = "kvmbox ports list";
	json_t *req = ports_new(prog, "ports.list"), *reply, *ports, *o;
	char host[4200];
	size_t i;

	if (!req || ports_request(prog, sock, req, &reply))
		return 1;
	ports = json_object_get(reply, "ports");
	if (as_json) {
		json_dumpf(ports, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		printf("ID\tGUEST\tCONNECTIONS\tREFUSED\tHOST\n");
		json_array_foreach(ports, i, o)
		    printf("%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%s\n",
		           (uint64_t)json_integer_value(json_object_get(o, "port_id")),
		           (uint64_t)json_integer_value(json_object_get(o, "guest_port")),
		           (uint64_t)json_integer_value(json_object_get(o, "connections")),
		           (uint64_t)json_integer_value(json_object_get(o, "refused")),
		           ports_host(o, host, sizeof(host)));
	}
	json_decref(reply);
	return 0;
}

/* kvmbox ports close SOCKET ID */
static int ports_close(const char *sock, const char *id_text)
{
	static const char prog[] = "kvmbox ports close";
	json_t *req, *reply;
	uint64_t id;

	if (cli_parse_u64(prog, "ID", id_text, 1, PROTO_ID_MAX, &id))
		return 2;
	req = ports_new(prog, "ports.close");
	if (!req || proto_msg_set_u64(req, "port_id", id)) {
		json_decref(req);
		return 1;
	}
	if (ports_request(prog, sock, req, &reply))
		return 1;
	json_decref(reply);
	return 0;
}

static int ports_usage(FILE *f)
{
	fprintf(f,
	        "usage: kvmbox ports publish SOCKET [HOSTIP:]HOSTPORT:GUESTPORT | PATH:GUESTPORT\n"
	        "       kvmbox ports list [--json] SOCKET\n"
	        "       kvmbox ports close SOCKET ID\n"
	        "\n"
	        "  Publish a TCP port of the guest (on its 127.0.0.1) on the host while the\n"
	        "  microVM runs: connections to HOSTIP:HOSTPORT (default 127.0.0.1; HOSTPORT\n"
	        "  0: any free one; an IPv6 address in brackets) or to the unix socket PATH\n"
	        "  reach GUESTPORT through the guest agent, with no network device. publish\n"
	        "  prints the port's ID and the host address; close stops new connections\n"
	        "  (those already open go on).\n");
	return f == stdout ? 0 : 2;
}

int ctl_cmd_ports(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
		return ports_usage(stdout);
	if (argc == 4 && !strcmp(argv[1], "publish"))
		return ports_publish(argv[2], argv[3]);
	if (argc == 3 && !strcmp(argv[1], "list"))
		return ports_list(argv[2], false);
	if (argc == 4 && !strcmp(argv[1], "list") && !strcmp(argv[2], "--json"))
		return ports_list(argv[3], true);
	if (argc == 4 && !strcmp(argv[1], "close"))
		return ports_close(argv[2], argv[3]);
	return ports_usage(stderr);
}

int run_parse_publish(struct run_opts *o, const char *arg)
{
	unsigned int n = o->nr_publish;

	if (n == CONTROL_MAX_PORTS) {
		fprintf(stderr, "kvmbox: --publish: at most %d ports\n", CONTROL_MAX_PORTS);
		return -EINVAL;
	}
	o->publish_arg[n] = arg;
	o->publish_buf[n] = strdup(arg); /* cut in place; arg stays whole for messages */
	if (!o->publish_buf[n] ||
	    cli_parse_publish("kvmbox --publish", o->publish_buf[n], &o->publish[n]))
		return -EINVAL;
	o->nr_publish++;
	return 0;
}

void run_publish_free(struct run_opts *o)
{
	for (unsigned int i = 0; i < CONTROL_MAX_PORTS; i++)
		free(o->publish_buf[i]);
}

int run_publish(struct run_opts *o, struct vm *vm)
{
	for (unsigned int i = 0; i < o->nr_publish; i++) {
		struct proto_why why = { "" };
		json_t *info = json_object();
		char host[4200];
		int err =
		    info ? control_port_publish(&vm->control, &o->publish[i], info, &why) : -ENOMEM;

		if (err) {
			fprintf(stderr, "kvmbox: --publish %s: %s\n", o->publish_arg[i],
			        why.text[0] ? why.text : strerror(-err));
			json_decref(info);
			return err;
		}
		/* A port the kernel picked is said, as nobody could guess it. */
		if (!o->publish[i].host_path && !o->publish[i].host_port)
			fprintf(stderr, "kvmbox: published %s -> guest port %u\n",
			        ports_host(info, host, sizeof(host)), o->publish[i].guest_port);
		json_decref(info);
	}
	return 0;
}
