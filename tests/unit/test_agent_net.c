// SPDX-License-Identifier: MIT
/*
 * Unit tests of the agent's reading of kvmbox.net= (guest-agent/net.c).
 * Bringing interfaces up needs the guest: the e2e test (tests/e2e/net.sh).
 */
#include "check.h"
#include "guest-agent/net.h"

#include <arpa/inet.h>
#include <errno.h>

TEST(parse_good)
{
	struct agent_net n;

	CHECK_EQ(agent_net_parse("10.0.2.15/24,10.0.2.2,10.0.2.3", &n), 0);
	CHECK_EQ(n.ip, inet_addr("10.0.2.15"));
	CHECK_EQ(n.mask, inet_addr("255.255.255.0"));
	CHECK_EQ(n.gw, inet_addr("10.0.2.2"));
	CHECK_EQ(n.dns, inet_addr("10.0.2.3"));
	CHECK_EQ(agent_net_parse("192.168.7.9/16,192.168.0.1", &n), 0);
	CHECK_EQ(n.mask, inet_addr("255.255.0.0"));
	CHECK_EQ(n.dns, 0);
	CHECK_EQ(agent_net_parse("10.1.1.1/32,10.1.1.2", &n), -EINVAL); /* gw off the net */
	CHECK_EQ(agent_net_parse("10.1.1.1/1,10.1.1.2", &n), 0);
}

TEST(parse_bad)
{
	static const char *const bad[] = {
		"",
		"10.0.2.15",
		"10.0.2.15/24",
		"10.0.2.15/24,",
		"10.0.2.15/0,10.0.2.2",
		"10.0.2.15/33,10.0.2.2",
		"10.0.2.15/,10.0.2.2",
		"10.0.2.15/24x,10.0.2.2",
		"10.0.2/24,10.0.2.2",
		"10.0.2.15/24,10.0.3.2",
		"10.0.2.15/24,10.0.2.15",
		"10.0.2.15/24,10.0.2.2,",
		"10.0.2.15/24,10.0.2.2,nameserver",
		"10.0.2.15/24,10.0.2.2,10.0.2.3,10.0.2.4",
		"fe80::1/64,fe80::2",
		"10.0.2.15/99999999999999999999,10.0.2.2",
	};
	struct agent_net n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int err = agent_net_parse(bad[i], &n);

		if (err != -EINVAL)
			fprintf(stderr, "accepted %s\n", bad[i]);
		CHECK_EQ(err, -EINVAL);
	}
}

CHECK_MAIN(CASE(parse_good), CASE(parse_bad))
