// SPDX-License-Identifier: MIT
/*
 * Unit tests of the jail's pure parts (vmm/confine/jail_plan.c): --uid,
 * --gid and --cpu-max read, jail_check's refusals, paths normalized, the
 * bind plan (sorted, covered entries dropped, a read-write path kept under
 * a read-only folder, nothing under /proc, the host's root refused), the
 * cgroup path from /proc/self/cgroup, controller lists; and the CLI's list
 * of what a VM needs in its jail (vmm/cli/run_jail.c).
 */
#define _GNU_SOURCE
#include "check.h"
#include "vmm/cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

TEST(ids)
{
	uint32_t v = 0;

	CHECK_ERR(jail_parse_id("--uid", "1000", &v), 0);
	CHECK_EQ(v, 1000);
	CHECK_ERR(jail_parse_id("--gid", "4294967294", &v), 0);
	CHECK_EQ(v, 4294967294u);
	CHECK_ERR(jail_parse_id("--uid", "0", &v), -EINVAL);
	CHECK_ERR(jail_parse_id("--gid", "0", &v), -EINVAL);
	CHECK_ERR(jail_parse_id("--uid", "4294967295", &v), -EINVAL);
	CHECK_ERR(jail_parse_id("--uid", "nobody", &v), -EINVAL);
	CHECK_ERR(jail_parse_id("--uid", "-1", &v), -EINVAL);
	CHECK_ERR(jail_parse_id("--uid", " 5", &v), -EINVAL);
	CHECK_ERR(jail_parse_id("--uid", "5x", &v), -EINVAL);
	CHECK_ERR(jail_parse_id("--uid", "", &v), -EINVAL);
}

TEST(cpu_max)
{
	struct jail_limits l = { 0 };

	CHECK_ERR(jail_parse_cpu_max("50000", &l), 0);
	CHECK_EQ(l.cpu_quota_us, 50000);
	CHECK_EQ(l.cpu_period_us, 100000);
	CHECK_ERR(jail_parse_cpu_max("200000/50000", &l), 0);
	CHECK_EQ(l.cpu_quota_us, 200000);
	CHECK_EQ(l.cpu_period_us, 50000);
	CHECK_ERR(jail_parse_cpu_max("999", &l), -EINVAL);
	CHECK_ERR(jail_parse_cpu_max("1000/999", &l), -EINVAL);
	CHECK_ERR(jail_parse_cpu_max("1000/1000001", &l), -EINVAL);
	CHECK_ERR(jail_parse_cpu_max("max", &l), -EINVAL);
	CHECK_ERR(jail_parse_cpu_max("1000/", &l), -EINVAL);
	CHECK_ERR(jail_parse_cpu_max("/1000", &l), -EINVAL);
	CHECK(jail_limits_any(&l));
}

TEST(checks)
{
	struct jail_config c = { 0 };
	char file[] = "/tmp/test_jail_XXXXXX";
	int fd = mkstemp(file);

	CHECK(fd >= 0);
	CHECK_ERR(jail_check(&c), 0); /* no jail, nothing asked */
	c.uid_set = true;
	CHECK_ERR(jail_check(&c), -EINVAL); /* --uid without --jail */
	c = (struct jail_config){ .lim.pids = 5 };
	CHECK_ERR(jail_check(&c), -EINVAL); /* a limit without --jail */
	c = (struct jail_config){ .dir = "/tmp", .uid_set = true };
	CHECK_ERR(jail_check(&c), -EINVAL); /* no --gid */
	c.gid_set = true;
	c.dir = "tmp";
	CHECK_ERR(jail_check(&c), -EINVAL); /* relative */
	c.dir = "/nonexistent/jail";
	CHECK_ERR(jail_check(&c), -EINVAL);
	c.dir = file;
	CHECK_ERR(jail_check(&c), -EINVAL); /* not a folder */
	c.dir = "/";
	CHECK_ERR(jail_check(&c), -EINVAL);
	c.dir = "/tmp";
	CHECK_ERR(jail_check(&c), geteuid() == 0 ? 0 : -EPERM);
	close(fd);
	unlink(file);
}

static int norm(const char *cwd, const char *path, const char *want)
{
	char out[PATH_MAX];

	return jail_path_norm(cwd, path, out, sizeof(out)) == 0 && strcmp(out, want) == 0;
}

TEST(paths)
{
	char tiny[4];

	CHECK(norm("/w", "a/b", "/w/a/b"));
	CHECK(norm("/w", "/x//y/./z/", "/x/y/z"));
	CHECK(norm("/w/v", "../d.img", "/w/d.img"));
	CHECK(norm("/w", "../../..", "/"));
	CHECK(norm("/w", ".", "/w"));
	CHECK(norm("/", "sock", "/sock"));
	CHECK_ERR(jail_path_norm("/w", "abcdef", tiny, sizeof(tiny)), -ENAMETOOLONG);
}

TEST(plan)
{
	struct jail_bind b[] = {
		{ .src = "disk.img" },
		{ .src = "/a/b", .flags = JAIL_RO },
		{ .src = "/a", .flags = JAIL_RO },
		{ .src = "/a/b/c" },
		{ .src = "/a/b" },
		{ .src = "/a-b", .flags = JAIL_RO },
		{ .src = "/proc", .flags = JAIL_PROC },
		{ .src = "/proc/self/fd/3", .flags = JAIL_RO },
		{ .src = "/c" },
		{ .src = "/c/./d", .flags = JAIL_RO },
		{ .src = "/w/disk.img", .flags = JAIL_RO },
	};
	static const struct {
		const char *path;
		unsigned int flags;
	} want[] = {
		{ "/a", JAIL_RO }, { "/a-b", JAIL_RO },    { "/a/b", 0 },
		{ "/c", 0 },       { "/proc", JAIL_PROC }, { "/w/disk.img", 0 },
	};
	unsigned int n = sizeof(b) / sizeof(b[0]);

	CHECK_ERR(jail_plan(b, &n, "/w"), 0);
	CHECK_EQ(n, sizeof(want) / sizeof(want[0]));
	for (unsigned int i = 0; i < n && i < sizeof(want) / sizeof(want[0]); i++) {
		CHECK(strcmp(b[i].path, want[i].path) == 0);
		CHECK_EQ(b[i].flags, want[i].flags);
	}
	jail_plan_free(b, n);

	struct jail_bind root[] = { { .src = "/k" }, { .src = "/x/.." } };
	n = 2;
	CHECK_ERR(jail_plan(root, &n, "/w"), -EXDEV);
	jail_plan_free(root, n);
}

static int cgpath(const char *self, const char *want)
{
	char out[JAIL_CG_PATH];

	return jail_cgroup_path(self, "/sys/fs/cgroup", 42, out, sizeof(out)) == 0 &&
	       strcmp(out, want) == 0;
}

TEST(cgroups)
{
	char out[JAIL_CG_PATH];

	CHECK(cgpath("0::/\n", "/sys/fs/cgroup/kvmbox-42"));
	CHECK(cgpath("12:pids:/x\n1:name=systemd:/y\n0::/user.slice/a.scope\n",
	             "/sys/fs/cgroup/user.slice/a.scope/kvmbox-42"));
	CHECK(cgpath("0::/sys.slice", "/sys/fs/cgroup/sys.slice/kvmbox-42"));
	CHECK_ERR(jail_cgroup_path("1:cpu:/\n", "/m", 1, out, sizeof(out)), -ENOENT);
	CHECK_ERR(jail_cgroup_path("", "/m", 1, out, sizeof(out)), -ENOENT);
	CHECK_ERR(jail_cgroup_path("0::/a/../b\n", "/m", 1, out, sizeof(out)), -EINVAL);
	CHECK_ERR(jail_cgroup_path("0::relative\n", "/m", 1, out, sizeof(out)), -EINVAL);
	CHECK_ERR(jail_cgroup_path("0::\n", "/m", 1, out, sizeof(out)), -EINVAL);
	CHECK_ERR(jail_cgroup_path("0::/x\n", "/m", 1, out, 8), -ENAMETOOLONG);

	CHECK(jail_cgroup_has("cpuset cpu io memory pids\n", "cpu"));
	CHECK(jail_cgroup_has("cpuset cpu io memory pids\n", "pids"));
	CHECK(jail_cgroup_has("memory", "memory"));
	CHECK(!jail_cgroup_has("cpuset io memory\n", "cpu"));
	CHECK(!jail_cgroup_has("cpuset io\n", "pids"));
	CHECK(!jail_cgroup_has("", "memory"));
}

/* has: b[0..n) holds path with flags. */
static int has(const struct jail_bind *b, unsigned int n, const char *path, unsigned int flags)
{
	for (unsigned int i = 0; i < n; i++)
		if (strcmp(b[i].path ? b[i].path : b[i].src, path) == 0 && b[i].flags == flags)
			return 1;
	return 0;
}

TEST(cli_binds)
{
	static struct run_opts o; /* large: not on the stack */
	static const char *const grafts[] = { "/store/l1", "/store/l2" };
	struct jail_bind b[JAIL_MAX_BINDS];
	char *owned[2 * JAIL_MAX_BINDS + 1] = { 0 };
	unsigned int n = 0;

	memset(&o, 0, sizeof(o));
	o.cfg.kernel_path = "/k/vmlinux";
	o.cfg.initrd_path = "/k/initrd.gz";
	o.cfg.disks[0] = (struct blk_params){ .path = "/d/root.ext4", .read_only = true };
	o.cfg.disks[1] = (struct blk_params){ .path = "b.img" };
	o.cfg.nr_disks = 2;
	o.cfg.shares[0] = (struct vfs_params){
		.path = "/s/img", .read_only = true, .grafts = grafts, .nr_grafts = 2
	};
	o.cfg.shares[1] = (struct vfs_params){ .path = "/s/vol" };
	o.cfg.nr_shares = 2;
	o.cfg.vsock.uds_path = "/tmp/x/v.sock";
	o.cfg.control_path = "c.sock";
	o.publish[0] = (struct control_port_spec){ .host_path = "/run/p/http.sock" };
	o.publish[1] = (struct control_port_spec){ .host_port = 8080 };
	o.nr_publish = 2;
	CHECK_ERR(run_jail_binds(&o, b, &n, owned), 0);
	CHECK(has(b, n, "/k/vmlinux", JAIL_RO) && has(b, n, "/k/initrd.gz", JAIL_RO));
	CHECK(has(b, n, "/d/root.ext4", JAIL_RO) && has(b, n, "b.img", 0));
	CHECK(has(b, n, "/s/img", JAIL_RO) && has(b, n, "/s/vol", 0));
	CHECK(has(b, n, "/store/l1", JAIL_RO) && has(b, n, "/store/l2", JAIL_RO));
	CHECK(has(b, n, "/tmp/x", 0) && has(b, n, ".", 0) && has(b, n, "/run/p", 0));
	CHECK(has(b, n, "/dev/kvm", 0) && has(b, n, "/dev/null", 0) &&
	      has(b, n, "/dev/urandom", JAIL_RO) && has(b, n, "/proc", JAIL_PROC));
	CHECK(!has(b, n, "/etc/resolv.conf", JAIL_RO)); /* no user-mode network */
	CHECK_EQ(n, 15);
	/* Planned from /w: "." (c.sock's folder) is /w and covers b.img. */
	CHECK_ERR(jail_plan(b, &n, "/w"), 0);
	CHECK(has(b, n, "/w", 0) && !has(b, n, "/w/b.img", 0));
	CHECK_EQ(n, 14);
	jail_plan_free(b, n);
	for (unsigned int i = 0; owned[i]; i++)
		free(owned[i]);
}

TEST(cli_opts)
{
	static struct run_opts o;

	memset(&o, 0, sizeof(o));
	CHECK_ERR(run_jail_opt(&o, RUN_OPT_JAIL, "/srv/jail"), 0);
	CHECK_ERR(run_jail_opt(&o, RUN_OPT_JAIL, ""), -EINVAL);
	CHECK_ERR(run_jail_opt(&o, RUN_OPT_UID, "1000"), 0);
	CHECK_ERR(run_jail_opt(&o, RUN_OPT_GID, "100"), 0);
	CHECK_ERR(run_jail_opt(&o, RUN_OPT_MEMORY_MAX, "512"), 0);
	CHECK_ERR(run_jail_opt(&o, RUN_OPT_MEMORY_MAX, "0"), -EINVAL);
	CHECK_ERR(run_jail_opt(&o, RUN_OPT_PIDS_MAX, "64"), 0);
	CHECK_ERR(run_jail_opt(&o, RUN_OPT_PIDS_MAX, "lots"), -EINVAL);
	CHECK_ERR(run_jail_opt(&o, RUN_OPT_CPU_MAX, "25000/50000"), 0);
	CHECK(o.jail.uid == 1000 && o.jail.gid == 100 && o.jail.uid_set && o.jail.gid_set);
	CHECK(o.jail.lim.memory_mib == 512 && o.jail.lim.pids == 64);
	CHECK(o.jail.lim.cpu_quota_us == 25000 && o.jail.lim.cpu_period_us == 50000);
	CHECK(strcmp(o.jail.dir, "/srv/jail") == 0);
}

CHECK_MAIN(CASE(ids), CASE(cpu_max), CASE(checks), CASE(paths), CASE(plan), CASE(cgroups),
           CASE(cli_binds), CASE(cli_opts))
