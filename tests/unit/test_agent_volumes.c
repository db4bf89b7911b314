// SPDX-License-Identifier: MIT
/*
 * Unit tests of the agent's kvmbox.volumes= parser (guest-agent/volumes.c):
 * what the VMM writes comes back whole, and what it must never write (a
 * relative path, "..", an unknown option, too many volumes) is refused
 * before anything is mounted.
 */
#include "check.h"
#include "guest-agent/image_root.h"
#include "guest-agent/init.h"
#include "guest-agent/volumes.h"

#include <errno.h>

TEST(well_formed)
{
	struct agent_volume v[AGENT_MAX_VOLUMES];

	CHECK_EQ(agent_volumes_parse("", v, AGENT_MAX_VOLUMES), 0);
	CHECK_EQ(agent_volumes_parse("vol0:/data", v, AGENT_MAX_VOLUMES), 1);
	CHECK(strcmp(v[0].tag, "vol0") == 0 && strcmp(v[0].path, "/data") == 0);
	CHECK(!v[0].read_only);
	CHECK_EQ(agent_volumes_parse("a:/x/y:ro,b:/z/,c:/", v, AGENT_MAX_VOLUMES), 3);
	CHECK(strcmp(v[0].tag, "a") == 0 && strcmp(v[0].path, "/x/y") == 0 && v[0].read_only);
	CHECK(strcmp(v[1].tag, "b") == 0 && strcmp(v[1].path, "/z/") == 0 && !v[1].read_only);
	CHECK(strcmp(v[2].path, "/") == 0);
	/* A tag of the full 36 bytes (§5.11.4). */
	CHECK_EQ(agent_volumes_parse("abcdefghijabcdefghijabcdefghijabcdef:/t", v, 1), 1);
	CHECK_EQ(strlen(v[0].tag), AGENT_TAG_MAX);
	/* Trailing comma: nothing after it. */
	CHECK_EQ(agent_volumes_parse("a:/x,", v, AGENT_MAX_VOLUMES), 1);
}

TEST(refused)
{
	static const char *const bad[] = {
		"a",
		"a:",
		":/x",
		"a:x",
		"a:/x:rw",
		"a:/x:ro:ro",
		"a:/../etc",
		"a:/x/..",
		"a:/x/./y",
		"a:/x//y",
		",a:/x",
		"a:/x,,b:/y",
		"abcdefghijabcdefghijabcdefghijabcdefg:/t",
	};
	struct agent_volume v[AGENT_MAX_VOLUMES];
	char longpath[600] = "a:/";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int n = agent_volumes_parse(bad[i], v, AGENT_MAX_VOLUMES);

		if (n != -EINVAL)
			fprintf(stderr, "accepted: %s (%d)\n", bad[i], n);
		CHECK_ERR(n, -EINVAL);
	}
	memset(longpath + 3, 'p', sizeof(longpath) - 4);
	CHECK_ERR(agent_volumes_parse(longpath, v, AGENT_MAX_VOLUMES), -EINVAL);
	CHECK_ERR(agent_volumes_parse("a:/1,b:/2,c:/3", v, 2), -E2BIG);
}

/* An image's root (image_root.h): the overlay's options and the command line. */
TEST(image_root)
{
	char buf[4096];
	struct agent_boot b;

	CHECK_ERR(agent_overlay_data(1, buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "lowerdir=0,upperdir=/upper/data,workdir=/upper/work"));
	CHECK_ERR(agent_overlay_data(3, buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "lowerdir=2:1:0,upperdir=/upper/data,workdir=/upper/work"));
	/* The most overlayfs takes still fits in a page of mount options. */
	CHECK_ERR(agent_overlay_data(AGENT_MAX_LAYERS, buf, sizeof(buf)), 0);
	CHECK(!strncmp(buf, "lowerdir=499:498:", 17));
	CHECK_ERR(agent_overlay_data(0, buf, sizeof(buf)), -EINVAL);
	CHECK_ERR(agent_overlay_data(AGENT_MAX_LAYERS + 1, buf, sizeof(buf)), -EINVAL);
	CHECK_ERR(agent_overlay_data(12, buf, 20), -ENAMETOOLONG);

	agent_boot_parse("kvmbox.root=image kvmbox.rootfstype=virtiofs kvmbox.layers=7", &b);
	CHECK_EQ(b.layers, 7);
	CHECK(!strcmp(b.upper, ""));
	agent_boot_parse("kvmbox.layers=3 kvmbox.upper=keep", &b);
	CHECK_EQ(b.layers, 3);
	CHECK(!strcmp(b.upper, "keep"));
	agent_boot_parse("quiet", &b);
	CHECK_EQ(b.layers, 0);
	/* A count the agent cannot take is refused when it mounts, not read as 0. */
	for (const char *const *p =
	         (const char *const[]){ "kvmbox.layers=x", "kvmbox.layers=-1", "kvmbox.layers=501",
	                                "kvmbox.layers=2x", "kvmbox.layers=", NULL };
	     *p; p++) {
		agent_boot_parse(*p, &b);
		CHECK_EQ(b.layers, AGENT_MAX_LAYERS + 1);
	}
}

CHECK_MAIN(CASE(well_formed), CASE(refused), CASE(image_root))
