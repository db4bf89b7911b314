// SPDX-License-Identifier: MIT
/*
 * kill_tree: end a command and everything it started (exec.h).
 *
 * A process group is not enough: a descendant that called setsid() (a
 * daemon, `setsid sleep 100 &`) has left it and would outlive a timeout
 * or a closed connection. Each command is made a child subreaper before
 * execve (exec.c; prctl(2), PR_SET_CHILD_SUBREAPER, kept across execve),
 * so while it lives an orphaned descendant is re-parented to it rather
 * than to PID 1, and its whole tree can be found by parent links in /proc.
 */
#define _GNU_SOURCE
#include "guest-agent/exec.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Passes over /proc: a descendant that forks while we kill is found by the next. */
#define KILL_TREE_PASSES 8

struct kill_tree_proc {
	pid_t pid, ppid;
};

/* proc_ppid: the parent of pid from /proc/PID/stat (after the comm's ')'), or -1. */
static pid_t proc_ppid(const char *pid)
{
	char path[300], buf[512], *p;
	FILE *f;
	int ppid = -1;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return -1;
	return ppid;
}

/* kill_tree_list: every process with its parent; the count, or -errno. */
static long kill_tree_list(struct kill_tree_proc **out)
{
	DIR *d = opendir("/proc");
	struct kill_tree_proc *v = NULL, *nv;
	size_t n = 0, cap = 0;
	struct dirent *e;

	if (!d)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
		}
		v[n].pid = (pid_t)atoi(e->d_name);
		v[n].ppid = proc_ppid(e->d_name);
		n++;
	}
	closedir(d);
	*out = v;
	return (long)n;
}

/* kill_tree_pass: SIGKILL every descendant of root now; how many, or -errno. */
static long kill_tree_pass(pid_t root)
{
	struct kill_tree_proc *v = NULL;
	long n = kill_tree_list(&v), killed = 0;
	bool *in, grew = true;

	if (n <= 0)
		return n;
	in = calloc((size_t)n, sizeof(*in));
	if (!in) {
		free(v);
		return -ENOMEM;
	}
	/* Mark descendants until nothing new: parent links in any order. */
	while (grew) {
		grew = false;
		for (long i = 0; i < n; i++) {
			if (in[i] || v[i].ppid <= 0)
				continue;
			for (long j = 0; j < n; j++) {
				if (v[i].ppid == root || (in[j] && v[j].pid == v[i].ppid)) {
					in[i] = grew = true;
					break;
				}
			}
		}
	}
	for (long i = 0; i < n; i++)
		if (in[i] && v[i].pid > 1 && kill(v[i].pid, SIGKILL) == 0)
			killed++;
	free(in);
	free(v);
	return killed;
}

void agent_kill_tree(pid_t root)
{
	/* The descendants first, while root still holds them as their
	 * subreaper, then root and its group. Root is stopped meanwhile, so
	 * that it cannot see its children die and exit on its own: its end
	 * is SIGKILL, which timed_out reports. */
	kill(root, SIGSTOP);
	for (int i = 0; i < KILL_TREE_PASSES && kill_tree_pass(root) > 0; i++)
		;
	kill(-root, SIGKILL);
	kill(root, SIGKILL);
}
