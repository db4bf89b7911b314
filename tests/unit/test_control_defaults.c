// SPDX-License-Identifier: MIT
/*
 * Unit tests of the run's exec defaults (vmm/control/control_defaults.c):
 * what an exec request leaves out of env, cwd and user comes from the
 * microVM's run (an image's Env, WorkingDir, User under -e, -w, -u), as
 * docker exec takes a container's; what the request sets wins. The wiring
 * into control_forward is e2e's (sandbox_image.sh) and fuzz_control's.
 */
#define _GNU_SOURCE
#include "check.h"
#include "vmm/control/control_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const run_env[] = { "PATH=/usr/local/bin:/bin", "LANG=C.UTF-8", "A=1", NULL };

/* apply: json (an exec request's text) after the defaults; NULL on error (*err). */
static json_t *apply(const char *json, int *err)
{
	struct control ctl = { .listen_fd = -1 };
	struct proto_why why = { "" };
	json_t *m = json_loads(json, JSON_ALLOW_NUL, NULL);

	*err = -EINVAL;
	if (!m || control_exec_defaults(&ctl, run_env, "/app", "1000:1000"))
		return NULL;
	*err = control_exec_apply(&ctl, m, &why);
	control_exec_defaults_free(&ctl);
	if (*err) {
		json_decref(m);
		return NULL;
	}
	return m;
}

/* env_at: entry i of m's env as text ("" where not a string). */
static const char *env_at(const json_t *m, size_t i)
{
	const char *s = json_string_value(json_array_get(json_object_get(m, "env"), i));

	return s ? s : "";
}

static const char *field(const json_t *m, const char *key)
{
	const char *s = json_string_value(json_object_get(m, key));

	return s ? s : "";
}

TEST(what_the_request_leaves_out)
{
	int err;
	json_t *m = apply("{\"argv\":[\"env\"]}", &err);

	CHECK(m != NULL);
	CHECK_EQ(json_array_size(json_object_get(m, "env")), 3);
	CHECK(strcmp(env_at(m, 0), "PATH=/usr/local/bin:/bin") == 0);
	CHECK(strcmp(env_at(m, 2), "A=1") == 0);
	CHECK(strcmp(field(m, "cwd"), "/app") == 0);
	CHECK(strcmp(field(m, "user"), "1000:1000") == 0);
	json_decref(m);
}

/* The request's own win: A as text, LANG in base64 ("LANG=\xff"), its
 * cwd; a null user is no user. Its entries keep their encoding, after
 * the run's. */
TEST(what_the_request_sets_wins)
{
	int err;
	json_t *m = apply("{\"argv\":[\"env\"],\"env\":[\"A=2\",{\"base64\":\"TEFORz3/\"}],"
	                  "\"cwd\":\"/x\",\"user\":null}",
	                  &err);

	CHECK(m != NULL);
	CHECK_EQ(json_array_size(json_object_get(m, "env")), 3);
	CHECK(strcmp(env_at(m, 0), "PATH=/usr/local/bin:/bin") == 0);
	CHECK(strcmp(env_at(m, 1), "A=2") == 0);
	CHECK(json_is_object(json_array_get(json_object_get(m, "env"), 2)));
	CHECK(strcmp(field(m, "cwd"), "/x") == 0);
	CHECK(strcmp(field(m, "user"), "1000:1000") == 0);
	json_decref(m);
}

TEST(env_clear_takes_the_requests_alone)
{
	int err;
	json_t *m = apply("{\"argv\":[\"env\"],\"env_clear\":true,\"env\":[\"B=1\"]}", &err);

	CHECK(m != NULL);
	CHECK_EQ(json_array_size(json_object_get(m, "env")), 1);
	CHECK(strcmp(env_at(m, 0), "B=1") == 0);
	CHECK(strcmp(field(m, "cwd"), "/app") == 0);
	json_decref(m);
}

/* An env the VMM cannot read (a number, a NUL, not an array) goes on as it
 * came: the agent refuses it with its own error naming the entry. */
TEST(unreadable_env_passes_unchanged)
{
	static const char *const cases[] = {
		"{\"argv\":[\"env\"],\"env\":[\"A=1\",5]}",
		"{\"argv\":[\"env\"],\"env\":[\"A=\\u0000\"]}",
		"{\"argv\":[\"env\"],\"env\":\"A=1\"}",
		"{\"argv\":[\"env\"],\"env\":[{\"base64\":\"!!\"}]}",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *want = json_loads(cases[i], JSON_ALLOW_NUL, NULL);
		int err;
		json_t *m = apply(cases[i], &err);

		CHECK(m != NULL);
		CHECK(json_equal(json_object_get(m, "env"), json_object_get(want, "env")));
		json_decref(m);
		json_decref(want);
	}
}

/* With the run's entries, a request at exec's 4096 entries is over. */
TEST(the_env_bound_holds)
{
	struct control ctl = { .listen_fd = -1 };
	struct proto_why why = { "" };
	json_t *m = json_pack("{s[s]}", "argv", "env"), *e = json_array();

	for (int i = 0; i < 4096; i++)
		json_array_append_new(e, json_sprintf("V%d=1", i));
	json_object_set_new(m, "env", e);
	CHECK_EQ(control_exec_defaults(&ctl, run_env, NULL, NULL), 0);
	CHECK_EQ(control_exec_apply(&ctl, m, &why), -E2BIG);
	CHECK(strstr(why.text, "4096") != NULL);
	/* One the run's entries all name stays within it. */
	json_array_set_new(e, 0, json_string("A=9"));
	json_array_set_new(e, 1, json_string("LANG=x"));
	json_array_set_new(e, 2, json_string("PATH=/bin"));
	CHECK_EQ(control_exec_apply(&ctl, m, &why), 0);
	CHECK_EQ(json_array_size(json_object_get(m, "env")), 4096);
	json_decref(m);
	control_exec_defaults_free(&ctl);
	CHECK_EQ(control_exec_defaults(&ctl, NULL, NULL, NULL), 0);
	CHECK(ctl.exec_env == NULL && ctl.exec_cwd == NULL && ctl.exec_user == NULL);
}

CHECK_MAIN(CASE(what_the_request_leaves_out), CASE(what_the_request_sets_wins),
           CASE(env_clear_takes_the_requests_alone), CASE(unreadable_env_passes_unchanged),
           CASE(the_env_bound_holds))
