// SPDX-License-Identifier: MIT
/*
 * test_confine: each thread kind's seccomp filter bites (vmm/confine/):
 * in a forked child with that kind's filter in kill mode, a call the kind
 * needs still works and one it must never make kills the process with
 * SIGSYS. And the mode names parse.
 */
#define _GNU_SOURCE
#include "tests/unit/check.h"
#include "vmm/confine/confine.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum forbidden {
	BAD_EXECVE,
	BAD_OPENAT,
	BAD_SOCKET_INET,
	BAD_PTRACE,
	BAD_MMAP_EXEC,
	BAD_IOCTL,
	BAD_CLONE_PROCESS,
};

/*
 * run_child: fork; the child confines itself as kind, writes one byte to
 * a pipe with an allowed call (and does what the kind needs: ok_fn), then
 * makes the forbidden call. Returns the child's wait status; *said is
 * whether the allowed part got through.
 */
static int run_child(enum confine_kind kind, const struct confine_needs *needs, int (*ok_fn)(void),
                     enum forbidden bad, bool *said)
{
	int p[2], status = 0;
	char c = 0;
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		struct confine conf;
		struct confine_needs n = *needs;
		char *const argv[] = { "/bin/true", NULL };

		close(p[0]);
		n.tgid = getpid();
		if (confine_build(&conf, CONFINE_KILL, &n) || confine_enter(&conf, kind))
			_exit(90);
		if (ok_fn() < 0)
			_exit(91);
		if (write(p[1], "y", 1) != 1)
			_exit(92);
		switch (bad) {
		case BAD_EXECVE:
			execve(argv[0], argv, NULL);
			break;
		case BAD_OPENAT:
			(void)openat(AT_FDCWD, "/etc/hostname", O_RDONLY);
			break;
		case BAD_SOCKET_INET:
			(void)socket(AF_INET, SOCK_STREAM, 0);
			break;
		case BAD_PTRACE:
			(void)ptrace(PTRACE_TRACEME, 0, NULL, NULL);
			break;
		case BAD_MMAP_EXEC:
			(void)mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
			           -1, 0);
			break;
		case BAD_IOCTL:
			(void)ioctl(0, FIONBIO, &(int){ 1 });
			break;
		case BAD_CLONE_PROCESS:
			(void)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, 0);
			break;
		}
		_exit(93); /* survived: the filter did not bite */
	}
	close(p[1]);
	*said = read(p[0], &c, 1) == 1 && c == 'y';
	close(p[0]);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

static int ok_none(void)
{
	return 0;
}

/* malloc of a large block: mmap and munmap as glibc does them. */
static int ok_malloc(void)
{
	void *p = malloc(4u << 20);

	if (!p)
		return -1;
	((volatile char *)p)[0] = 1;
	free(p);
	return 0;
}

/* The fs worker opens files beneath its share. */
static int ok_open(void)
{
	int fd = openat(AT_FDCWD, "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* The main thread makes unix sockets and TCP listeners. */
static int ok_sockets(void)
{
	int u = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int t = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (u >= 0)
		close(u);
	if (t >= 0)
		close(t);
	/* INET6 may be missing in a namespace: EAFNOSUPPORT is no SIGSYS. */
	return u >= 0 && (t >= 0 || errno == EAFNOSUPPORT) ? 0 : -1;
}

static void check_bites(int *failed, enum confine_kind kind, int (*ok_fn)(void), enum forbidden bad)
{
	const struct confine_needs needs = { .fs_shares = true };
	bool said = false;
	int status = run_child(kind, &needs, ok_fn, bad, &said);

	if (!said || !WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS)
		fprintf(stderr, "kind %s, forbidden call %d: said %d, status %#x\n",
		        confine_kind_name(kind), bad, said, status);
	CHECK(said);
	CHECK(WIFSIGNALED(status));
	CHECK_EQ(WTERMSIG(status), SIGSYS);
}

TEST(main_thread_bites)
{
	check_bites(failed, CONFINE_MAIN, ok_sockets, BAD_EXECVE);
	check_bites(failed, CONFINE_MAIN, ok_malloc, BAD_PTRACE);
	check_bites(failed, CONFINE_MAIN, ok_none, BAD_MMAP_EXEC);
	check_bites(failed, CONFINE_MAIN, ok_open, BAD_CLONE_PROCESS);
}

TEST(vcpu_thread_bites)
{
	check_bites(failed, CONFINE_VCPU, ok_malloc, BAD_OPENAT);
	check_bites(failed, CONFINE_VCPU, ok_none, BAD_IOCTL);
	check_bites(failed, CONFINE_VCPU, ok_none, BAD_EXECVE);
}

TEST(fs_worker_bites)
{
	check_bites(failed, CONFINE_FS_WORKER, ok_open, BAD_SOCKET_INET);
	check_bites(failed, CONFINE_FS_WORKER, ok_malloc, BAD_EXECVE);
}

TEST(client_thread_bites)
{
	check_bites(failed, CONFINE_CLIENT, ok_malloc, BAD_OPENAT);
	check_bites(failed, CONFINE_CLIENT, ok_none, BAD_SOCKET_INET);
}

/* Off: no filter, so the same forbidden call returns (the child exits 93). */
TEST(off_mode_filters_nothing)
{
	int status = 0;
	pid_t pid = fork();

	if (pid == 0) {
		struct confine conf;
		const struct confine_needs n = { .tgid = getpid() };

		if (confine_build(&conf, CONFINE_OFF, &n) || confine_enter(&conf, CONFINE_VCPU))
			_exit(90);
		close(openat(AT_FDCWD, "/", O_RDONLY | O_DIRECTORY));
		_exit(93);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 93);
}

TEST(modes_parse)
{
	enum confine_mode m = CONFINE_OFF;

	CHECK_ERR(confine_parse_mode("kill", &m), 0);
	CHECK_EQ(m, CONFINE_KILL);
	CHECK_ERR(confine_parse_mode("log", &m), 0);
	CHECK_EQ(m, CONFINE_LOG);
	CHECK_ERR(confine_parse_mode("off", &m), 0);
	CHECK_EQ(m, CONFINE_OFF);
	CHECK_ERR(confine_parse_mode("Kill", &m), -EINVAL);
	CHECK_ERR(confine_parse_mode("", &m), -EINVAL);
}

CHECK_MAIN({ "main_thread_bites", main_thread_bites }, { "vcpu_thread_bites", vcpu_thread_bites },
           { "fs_worker_bites", fs_worker_bites }, { "client_thread_bites", client_thread_bites },
           { "off_mode_filters_nothing", off_mode_filters_nothing }, { "modes_parse", modes_parse })
