// SPDX-License-Identifier: MIT
/*
 * Unit tests of named sandboxes' state (vmm/cli/sandbox_state.c): the
 * name rules, the state root's checks, the create race (two processes,
 * one folder), config.json's round trip, and liveness by the lock: a pid
 * file alone proves nothing, a lock kept across exec does, and a killed
 * holder leaves a dead sandbox; and cli_socket's reading of a NAME.
 */
#define _GNU_SOURCE
#include "check.h"
#include "vmm/cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A fresh state root for each test, under $TMPDIR. */
static char test_root[PATH_MAX];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* clean_root: the last test's root, and the root-check test's links. */
static void clean_root(void)
{
	char link[PATH_MAX + 8];

	if (!test_root[0])
		return;
	chmod(test_root, 0700);
	snprintf(link, sizeof(link), "%s.lnk", test_root);
	unlink(link);
	nftw(test_root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	test_root[0] = '\0';
}

static void fresh_root(void)
{
	static bool registered;
	const char *tmp = getenv("TMPDIR");

	if (!registered)
		registered = atexit(clean_root) == 0;
	clean_root();

	snprintf(test_root, sizeof(test_root), "%s/sbx-test-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(test_root))
		abort();
	setenv("KVMBOX_SANDBOX_DIR", test_root, 1);
}

static void touch(const char *dir, const char *file)
{
	char path[PATH_MAX];
	int fd;

	if (sbx_join(path, dir, file))
		abort();
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	if (fd >= 0)
		close(fd);
}

TEST(names)
{
	char long_ok[SBX_NAME_MAX + 1], too_long[SBX_NAME_MAX + 2];

	memset(long_ok, 'a', SBX_NAME_MAX);
	long_ok[SBX_NAME_MAX] = '\0';
	memset(too_long, 'b', SBX_NAME_MAX + 1);
	too_long[SBX_NAME_MAX + 1] = '\0';
	CHECK_ERR(sbx_name_ok("a"), 0);
	CHECK_ERR(sbx_name_ok("Web-1.test_2"), 0);
	CHECK_ERR(sbx_name_ok("0x"), 0);
	CHECK_ERR(sbx_name_ok(long_ok), 0);
	CHECK_ERR(sbx_name_ok(too_long), -EINVAL);
	CHECK_ERR(sbx_name_ok(""), -EINVAL);
	CHECK_ERR(sbx_name_ok(".hidden"), -EINVAL);
	CHECK_ERR(sbx_name_ok(".."), -EINVAL);
	CHECK_ERR(sbx_name_ok("-a"), -EINVAL);
	CHECK_ERR(sbx_name_ok("_a"), -EINVAL);
	CHECK_ERR(sbx_name_ok("a/b"), -EINVAL);
	CHECK_ERR(sbx_name_ok("a b"), -EINVAL);
	CHECK_ERR(sbx_name_ok("a:b"), -EINVAL);
	CHECK_ERR(sbx_name_ok("caf\xc3\xa9"), -EINVAL);
}

TEST(root_checks)
{
	char root[PATH_MAX], link[PATH_MAX + 8];
	struct stat st;

	fresh_root();
	CHECK_ERR(sbx_root(root, true, true), 0);
	CHECK(strcmp(root, test_root) == 0);
	/* Writable by others: refused, as a /tmp folder someone else made. */
	chmod(test_root, 0777);
	CHECK_ERR(sbx_root(root, true, true), -EPERM);
	chmod(test_root, 0700);
	/* A symbolic link: refused. */
	snprintf(link, sizeof(link), "%s.lnk", test_root);
	CHECK_ERR(symlink(test_root, link), 0);
	setenv("KVMBOX_SANDBOX_DIR", link, 1);
	CHECK_ERR(sbx_root(root, true, true), -EPERM);
	unlink(link);
	/* Made when missing, 0700. */
	snprintf(link, sizeof(link), "%s/sub", test_root);
	setenv("KVMBOX_SANDBOX_DIR", link, 1);
	CHECK_ERR(sbx_root(root, false, true), -ENOENT);
	CHECK_ERR(sbx_root(root, true, true), 0);
	CHECK(stat(link, &st) == 0 && (st.st_mode & 0777) == 0700);
}

TEST(socket_path_limit)
{
	char name[SBX_NAME_MAX + 1], path[PATH_MAX], deep[PATH_MAX];

	fresh_root();
	memset(name, 'n', SBX_NAME_MAX);
	name[SBX_NAME_MAX] = '\0';
	/* A root so deep that ROOT/NAME/control.sock passes sun_path. */
	if (snprintf(deep, sizeof(deep), "%s/", test_root) < 0)
		abort();
	memset(deep + strlen(deep), 'd', 100);
	deep[strlen(test_root) + 101] = '\0';
	setenv("KVMBOX_SANDBOX_DIR", deep, 1);
	CHECK_ERR(sbx_root(path, true, true), 0);
	CHECK_ERR(sbx_path(name, NULL, path), -ENAMETOOLONG);
	CHECK_ERR(sbx_path("short", NULL, path), -ENAMETOOLONG);
	setenv("KVMBOX_SANDBOX_DIR", test_root, 1);
	CHECK_ERR(sbx_path("short", SBX_SOCK, path), 0);
}

/* Eight processes claim one name at once: exactly one wins. */
TEST(create_race)
{
	enum { N = 8 };
	pid_t kids[N];
	int go[2], wins = 0, exists = 0;

	fresh_root();
	CHECK_ERR(pipe(go), 0);
	for (int i = 0; i < N; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			char c;
			int err;

			close(go[1]);
			/* All wait for the pipe's end of file, then race. */
			while (read(go[0], &c, 1) > 0)
				;
			err = sbx_claim("race");
			_exit(err == 0 ? 0 : err == -EEXIST ? 1 : 2);
		}
	}
	close(go[0]);
	close(go[1]);
	for (int i = 0; i < N; i++) {
		int st;

		waitpid(kids[i], &st, 0);
		wins += WIFEXITED(st) && WEXITSTATUS(st) == 0;
		exists += WIFEXITED(st) && WEXITSTATUS(st) == 1;
	}
	CHECK_EQ(wins, 1);
	CHECK_EQ(exists, N - 1);
	CHECK_ERR(sbx_claim("race"), -EEXIST);
}

TEST(config_round_trip)
{
	char *argv[] = { "--cpus", "2", "--memory", "256", "busybox", NULL };
	char *env[] = { "KVMBOX_KERNEL_DIR=/k", NULL };
	struct sbx_config in = { .argv = argv,
		                 .image = "busybox",
		                 .cwd = "/work",
		                 .env = env,
		                 .cpus = 2,
		                 .mem_mib = 256,
		                 .persistent = true,
		                 .created = 1767225600 },
	                  out;
	char dir[PATH_MAX];

	fresh_root();
	CHECK_ERR(sbx_claim("cfg"), 0);
	CHECK_ERR(sbx_path("cfg", NULL, dir), 0);
	CHECK_ERR(sbx_config_read(dir, &out), -ENOENT);
	CHECK_ERR(sbx_config_write(dir, &in), 0);
	CHECK_ERR(sbx_config_read(dir, &out), 0);
	for (int i = 0; argv[i]; i++)
		CHECK(out.argv[i] && strcmp(out.argv[i], argv[i]) == 0);
	CHECK(out.argv[5] == NULL);
	CHECK(out.image && strcmp(out.image, "busybox") == 0);
	CHECK(strcmp(out.cwd, "/work") == 0);
	CHECK(out.env[0] && strcmp(out.env[0], env[0]) == 0 && !out.env[1]);
	CHECK_EQ(out.cpus, 2);
	CHECK_EQ(out.mem_mib, 256);
	CHECK(out.persistent);
	CHECK_EQ(out.created, 1767225600);
	sbx_config_free(&out);
	/* The default root: image null. */
	in.image = NULL;
	in.persistent = false;
	CHECK_ERR(sbx_config_write(dir, &in), 0);
	CHECK_ERR(sbx_config_read(dir, &out), 0);
	CHECK(out.image == NULL && !out.persistent);
	sbx_config_free(&out);
	/* A config that is not ours is refused, not half read. */
	{
		char path[PATH_MAX];
		FILE *f;

		CHECK_ERR(sbx_join(path, dir, SBX_CONFIG), 0);
		f = fopen(path, "w");
		fputs("{\"argv\": [1, 2]}", f);
		fclose(f);
		CHECK_ERR(sbx_config_read(dir, &out), -EINVAL);
	}
}

/* A child that takes the lock and execs a sleep: the lock survives exec. */
static pid_t lock_holder(const char *dir)
{
	int ready[2];
	pid_t kid;
	char c;

	if (pipe(ready) < 0)
		abort();
	kid = fork();
	if (kid == 0) {
		int fd = sbx_lock_take(dir);

		close(ready[0]);
		if (fd < 0)
			_exit(1);
		close(ready[1]);
		execl("/bin/sleep", "sleep", "60", (char *)NULL);
		_exit(1);
	}
	close(ready[1]);
	/* The pipe ends once the child took the lock and reached exec. */
	while (read(ready[0], &c, 1) > 0)
		;
	close(ready[0]);
	return kid;
}

TEST(liveness)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct sbx_config c = { .argv = (char *[]){ NULL }, .cwd = "/", .env = (char *[]){ NULL } };
	pid_t pid = 0, kid;
	FILE *f;

	fresh_root();
	CHECK_ERR(sbx_claim("live"), 0);
	CHECK_ERR(sbx_path("live", NULL, dir), 0);
	CHECK_EQ(sbx_probe(dir, &pid), SBX_CREATING);
	CHECK_ERR(sbx_config_write(dir, &c), 0);
	CHECK_EQ(sbx_probe(dir, &pid), SBX_STOPPED);
	/* A stale pid file naming a live process (our parent) and a socket
	 * left behind, but no lock: a dead sandbox, not a running one. */
	CHECK_ERR(sbx_join(path, dir, SBX_PID), 0);
	f = fopen(path, "w");
	fprintf(f, "%d\n", (int)getppid());
	fclose(f);
	touch(dir, SBX_LOCK);
	CHECK_EQ(sbx_holder(dir, &pid), 0);
	CHECK_EQ(sbx_probe(dir, &pid), SBX_EXITED);
	touch(dir, SBX_SOCK);
	CHECK_EQ(sbx_probe(dir, &pid), SBX_DEAD);
	/* A holder, across its exec: running, with its pid. */
	kid = lock_holder(dir);
	CHECK_EQ(sbx_holder(dir, &pid), 1);
	CHECK_EQ(pid, kid);
	CHECK_EQ(sbx_probe(dir, &pid), SBX_RUNNING);
	/* A second VMM for the same sandbox cannot take it. */
	CHECK_ERR(sbx_lock_take(dir), -EAGAIN);
	CHECK_EQ(sbx_holder(dir, &pid), 1);
	/* kill -9: the lock goes with the process; the socket stays: dead. */
	CHECK_ERR(sbx_kill(dir), 0);
	waitpid(kid, NULL, 0);
	CHECK_EQ(sbx_holder(dir, &pid), 0);
	CHECK_EQ(sbx_probe(dir, &pid), SBX_DEAD);
	CHECK_ERR(sbx_kill(dir), 0); /* nobody to kill: nothing done */
}

TEST(remove_tree)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct stat st;

	fresh_root();
	CHECK_ERR(sbx_claim("gone"), 0);
	CHECK_ERR(sbx_path("gone", NULL, dir), 0);
	touch(dir, SBX_CONSOLE);
	CHECK_ERR(sbx_join(path, dir, SBX_UPPER), 0);
	CHECK_ERR(mkdir(path, 0700), 0);
	touch(path, "deep");
	CHECK_ERR(sbx_remove("gone"), 0);
	CHECK(stat(dir, &st) < 0 && errno == ENOENT);
	CHECK_ERR(sbx_remove("gone"), -ENOENT);
	/* The name is free again. */
	CHECK_ERR(sbx_claim("gone"), 0);
}

/* cli_socket: a sandbox's name becomes its socket; anything else stays. */
TEST(socket_arg)
{
	char buf[PATH_MAX], want[PATH_MAX];

	fresh_root();
	CHECK_ERR(sbx_claim("web"), 0);
	CHECK_ERR(sbx_path("web", SBX_SOCK, want), 0);
	CHECK(strcmp(cli_socket("web", buf), want) == 0);
	CHECK(strcmp(cli_socket("./web", buf), "./web") == 0);
	CHECK(strcmp(cli_socket("/tmp/vm.sock", buf), "/tmp/vm.sock") == 0);
	CHECK(strcmp(cli_socket("nosuch", buf), "nosuch") == 0);
	CHECK(strcmp(cli_socket(".web", buf), ".web") == 0);
}

CHECK_MAIN(CASE(names), CASE(root_checks), CASE(socket_path_limit), CASE(create_race),
           CASE(config_round_trip), CASE(liveness), CASE(remove_tree), CASE(socket_arg))
