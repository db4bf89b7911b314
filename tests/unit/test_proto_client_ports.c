// SPDX-License-Identifier: MIT
/*
 * test_proto_client_ports: the published ports' ops and the one-shot
 * file ops of the client library (proto/kvmbox_client.h) against the fake
 * server of client_rig.h: each request as sent, each reply as decoded,
 * error answers, and replies out of the protocol.
 */
#define _GNU_SOURCE
#include "check.h"
#include "client_rig.h"

#include "proto/kvmbox_client.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

TEST(publish_tcp)
{
	struct proto_port_spec spec = { .guest_port = 8080, .host_addr = "::1" };
	struct proto_port p;
	struct proto_client c;
	struct proto_why why = { "" };
	json_t *req;
	int peer = -1;

	CHECK_EQ(pair(&c, &peer), 0);
	CHECK_EQ(put_json(peer, "{\"id\":1,\"type\":\"reply\",\"port_id\":3,\"guest_port\":8080,"
	                        "\"host_addr\":\"::1\",\"host_port\":40001}"),
	         0);
	CHECK_EQ(proto_client_ports_publish(&c, &spec, &p, &why), 0);
	CHECK(p.port_id == 3 && p.guest_port == 8080 && p.host_port == 40001);
	CHECK(strcmp(p.host_addr, "::1") == 0 && p.host_path[0] == '\0');
	req = take(peer);
	CHECK(req && is(req, "op", "ports.publish") && is(req, "host_addr", "::1"));
	CHECK_EQ(num(req, "guest_port"), 8080);
	CHECK_EQ(num(req, "host_port"), 0); /* 0: the kernel picks */
	CHECK(json_object_get(req, "host_path") == NULL);
	json_decref(req);
	proto_client_close(&c);
	close(peer);
}

TEST(publish_unix_bytes_path)
{
	struct proto_port_spec spec = { .guest_port = 22, .host_path = "/run/p\xff.sock" };
	struct proto_port p;
	struct proto_client c;
	struct proto_why why = { "" };
	json_t *req;
	int peer = -1;

	CHECK_EQ(pair(&c, &peer), 0);
	CHECK_EQ(put_json(peer, "{\"id\":1,\"type\":\"reply\",\"port_id\":1,\"guest_port\":22,"
	                        "\"host_path\":{\"base64\":\"L3J1bi9w/y5zb2Nr\"}}"),
	         0);
	CHECK_EQ(proto_client_ports_publish(&c, &spec, &p, &why), 0);
	CHECK(strcmp(p.host_path, spec.host_path) == 0 && p.host_addr[0] == '\0');
	req = take(peer);
	CHECK(req && json_object_get(req, "host_port") == NULL);
	CHECK(req && json_object_get(req, "host_addr") == NULL);
	CHECK(is(json_object_get(req, "host_path"), "base64", "L3J1bi9w/y5zb2Nr"));
	json_decref(req);
	/* Refused here, before anything is sent. */
	spec.host_port = 1;
	CHECK_ERR(proto_client_ports_publish(&c, &spec, &p, &why), -EINVAL);
	spec = (struct proto_port_spec){ .guest_port = 0 };
	CHECK_ERR(proto_client_ports_publish(&c, &spec, &p, &why), -EINVAL);
	proto_client_close(&c);
	close(peer);
}

TEST(publish_errors)
{
	struct proto_port_spec spec = { .guest_port = 80, .host_port = 80 };
	struct proto_client c;
	struct proto_why why = { "" };
	int peer = -1;

	CHECK_EQ(pair(&c, &peer), 0);
	CHECK_EQ(put_json(peer, "{\"id\":1,\"type\":\"error\",\"error\":{\"code\":\"port_error\","
	                        "\"errno\":\"EADDRINUSE\",\"message\":\"bind 127.0.0.1:80\"}}"),
	         0);
	CHECK_ERR(proto_client_ports_publish(&c, &spec, NULL, &why), -EADDRINUSE);
	CHECK(strstr(why.text, "bind 127.0.0.1:80") != NULL);
	CHECK_EQ(put_json(peer, "{\"id\":2,\"type\":\"error\",\"error\":{\"code\":\"too_large\","
	                        "\"message\":\"64 ports\"}}"),
	         0);
	CHECK_ERR(proto_client_ports_publish(&c, &spec, NULL, &why), -E2BIG);
	/* A reply without port_id, or with a guest port out of range. */
	CHECK_EQ(put_json(peer, "{\"id\":3,\"type\":\"reply\",\"guest_port\":80,"
	                        "\"host_addr\":\"127.0.0.1\",\"host_port\":80}"),
	         0);
	CHECK_ERR(proto_client_ports_publish(&c, &spec, NULL, &why), -EPROTO);
	CHECK(strstr(why.text, "port_id") != NULL);
	CHECK_EQ(put_json(peer, "{\"id\":4,\"type\":\"reply\",\"port_id\":1,\"guest_port\":70000,"
	                        "\"host_addr\":\"127.0.0.1\",\"host_port\":80}"),
	         0);
	CHECK_ERR(proto_client_ports_publish(&c, &spec, NULL, &why), -EPROTO);
	proto_client_close(&c);
	close(peer);
}

TEST(list_ports)
{
	struct proto_port *v = NULL;
	struct proto_client c;
	struct proto_why why = { "" };
	size_t n = 0;
	json_t *req;
	int peer = -1;

	CHECK_EQ(pair(&c, &peer), 0);
	CHECK_EQ(put_json(peer, "{\"id\":1,\"type\":\"reply\",\"ports\":["
	                        "{\"port_id\":1,\"guest_port\":80,\"host_addr\":\"127.0.0.1\","
	                        "\"host_port\":8080,\"connections\":5,\"refused\":1},"
	                        "{\"port_id\":4,\"guest_port\":22,\"host_path\":\"/tmp/s\","
	                        "\"connections\":0,\"refused\":0}]}"),
	         0);
	CHECK_EQ(proto_client_ports_list(&c, &v, &n, &why), 0);
	CHECK_EQ(n, 2);
	if (v && n == 2) {
		CHECK(v[0].port_id == 1 && v[0].host_port == 8080 && v[0].connections == 5);
		CHECK(v[0].refused == 1 && strcmp(v[0].host_addr, "127.0.0.1") == 0);
		CHECK(v[1].port_id == 4 && strcmp(v[1].host_path, "/tmp/s") == 0);
	}
	free(v);
	req = take(peer);
	CHECK(req && is(req, "op", "ports.list"));
	json_decref(req);
	/* None: no array to free. */
	CHECK_EQ(put_json(peer, "{\"id\":2,\"type\":\"reply\",\"ports\":[]}"), 0);
	CHECK_EQ(proto_client_ports_list(&c, &v, &n, &why), 0);
	CHECK(v == NULL && n == 0);
	/* Out of the protocol: no array, an entry not an object, one without a host. */
	CHECK_EQ(put_json(peer, "{\"id\":3,\"type\":\"reply\"}"), 0);
	CHECK_ERR(proto_client_ports_list(&c, &v, &n, &why), -EPROTO);
	CHECK_EQ(put_json(peer, "{\"id\":4,\"type\":\"reply\",\"ports\":[1]}"), 0);
	CHECK_ERR(proto_client_ports_list(&c, &v, &n, &why), -EPROTO);
	CHECK_EQ(put_json(peer, "{\"id\":5,\"type\":\"reply\",\"ports\":[{\"port_id\":1,"
	                        "\"guest_port\":1}]}"),
	         0);
	CHECK_ERR(proto_client_ports_list(&c, &v, &n, &why), -EPROTO);
	CHECK(v == NULL && n == 0);
	proto_client_close(&c);
	close(peer);
}

TEST(close_port)
{
	struct proto_client c;
	struct proto_why why = { "" };
	json_t *req;
	int peer = -1;

	CHECK_EQ(pair(&c, &peer), 0);
	CHECK_EQ(put_json(peer, "{\"id\":1,\"type\":\"reply\"}"), 0);
	CHECK_EQ(proto_client_ports_close(&c, 7, &why), 0);
	req = take(peer);
	CHECK(req && is(req, "op", "ports.close"));
	CHECK_EQ(num(req, "port_id"), 7);
	json_decref(req);
	CHECK_EQ(put_json(peer, "{\"id\":2,\"type\":\"error\",\"error\":{\"code\":\"not_found\","
	                        "\"message\":\"no published port 7\"}}"),
	         0);
	CHECK_ERR(proto_client_ports_close(&c, 7, &why), -ENOENT);
	CHECK(strcmp(why.text, "not_found: no published port 7") == 0);
	CHECK_ERR(proto_client_ports_close(&c, 0, &why), -EINVAL);
	proto_client_close(&c);
	close(peer);
}

TEST(fs_rename_chmod_chown)
{
	struct proto_client c;
	struct proto_why why = { "" };
	json_t *req;
	int peer = -1;

	CHECK_EQ(pair(&c, &peer), 0);
	CHECK_EQ(put_json(peer, "{\"id\":1,\"type\":\"reply\"}"), 0);
	CHECK_EQ(put_json(peer, "{\"id\":2,\"type\":\"reply\"}"), 0);
	CHECK_EQ(put_json(peer, "{\"id\":3,\"type\":\"reply\"}"), 0);
	CHECK_EQ(proto_client_fs_rename(&c, "/a", "/b\xff", false, &why), 0);
	CHECK_EQ(proto_client_fs_chmod(&c, "/a", 0104755, &why), 0);
	CHECK_EQ(proto_client_fs_chown(&c, "/a", UINT32_MAX, 100, true, &why), 0);
	req = take(peer);
	CHECK(req && is(req, "op", "fs.rename") && is(req, "from", "/a"));
	CHECK(is(json_object_get(req, "to"), "base64", "L2L/"));
	CHECK(json_is_false(json_object_get(req, "overwrite")));
	json_decref(req);
	req = take(peer);
	CHECK(req && is(req, "op", "fs.chmod"));
	CHECK_EQ(num(req, "mode"), 04755); /* the permission bits only */
	json_decref(req);
	req = take(peer);
	CHECK(req && is(req, "op", "fs.chown") && !json_object_get(req, "uid"));
	CHECK_EQ(num(req, "gid"), 100);
	CHECK(json_is_true(json_object_get(req, "follow")));
	json_decref(req);
	CHECK_ERR(proto_client_fs_chown(&c, "/a", UINT32_MAX, UINT32_MAX, false, &why), -EINVAL);
	/* A file error is the errno it names. */
	CHECK_EQ(put_json(peer, "{\"id\":4,\"type\":\"error\",\"error\":{\"code\":\"fs_error\","
	                        "\"errno\":\"EXDEV\",\"path\":\"/a\",\"message\":\"rename: "
	                        "cross-device\"}}"),
	         0);
	CHECK_ERR(proto_client_fs_rename(&c, "/a", "/mnt/b", true, &why), -EXDEV);
	req = take(peer);
	CHECK(req && json_object_get(req, "overwrite") == NULL);
	json_decref(req);
	proto_client_close(&c);
	close(peer);
}

static void setup(void) __attribute__((constructor));
static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
}

CHECK_MAIN(CASE(publish_tcp), CASE(publish_unix_bytes_path), CASE(publish_errors), CASE(list_ports),
           CASE(close_port), CASE(fs_rename_chmod_chown))
