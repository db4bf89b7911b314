// SPDX-License-Identifier: MIT
/*
 * vm_disk_lock: disk images locked as QEMU locks them, so that two VMs (or
 * one VM given the same image twice) cannot both write a file system they
 * each believe is theirs alone: a shared lock for a read-only disk, an
 * exclusive one for a read-write disk, refused with the holder named.
 *
 * The locks are open file description locks (fcntl(2), F_OFD_SETLK): they
 * belong to the descriptor, not the process, so they conflict within one
 * process too, and they conflict with POSIX (F_SETLK, lockf) locks of other
 * programs. They are advisory: a program that takes none is not stopped.
 */
#define _GNU_SOURCE
#include "vmm/vm_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* holder_has_lock: whether /proc/PID/fdinfo/FD lists a lock (fs/locks.c, show_fd_locks). */
static bool holder_has_lock(const char *pid, const char *fd)
{
	char path[600], line[256];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/fdinfo/%s", pid, fd);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strncmp(line, "lock:", 5) == 0;
	fclose(f);
	return found;
}

/* holder_in: whether process pid has the file st open with a lock on it. */
static bool holder_in(const char *pid, const struct stat *st)
{
	char path[300];
	struct dirent *e;
	bool found = false;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%s/fd", pid);
	d = opendir(path);
	if (!d)
		return false;
	while (!found && (e = readdir(d)) != NULL) {
		struct stat fst;

		if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &fst, 0) < 0)
			continue;
		found = fst.st_dev == st->st_dev && fst.st_ino == st->st_ino &&
		        holder_has_lock(pid, e->d_name);
	}
	closedir(d);
	return found;
}

/*
 * vm_disk_holder: who holds a lock on the file st, into who (cap bytes):
 * "pid N (COMM)" from /proc, which F_OFD_GETLK cannot say (its l_pid is -1
 * for OFD locks), or "another process" when /proc does not tell (another
 * user's processes, another pid namespace).
 */
static void vm_disk_holder(const struct stat *st, char *who, size_t cap)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	char self[32];

	snprintf(who, cap, "another process");
	if (!d)
		return;
	snprintf(self, sizeof(self), "%d", (int)getpid());
	while ((e = readdir(d)) != NULL) {
		char path[300], comm[64] = "?";
		FILE *f;

		if (e->d_name[0] < '1' || e->d_name[0] > '9' || !holder_in(e->d_name, st))
			continue;
		if (strcmp(e->d_name, self) == 0) {
			snprintf(who, cap, "this kvmbox (the image is given twice)");
			break;
		}
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		f = fopen(path, "re");
		if (f) {
			if (fgets(comm, sizeof(comm), f))
				comm[strcspn(comm, "\n")] = '\0';
			fclose(f);
		}
		snprintf(who, cap, "pid %s (%s)", e->d_name, comm);
		break;
	}
	closedir(d);
}

int vm_disk_lock(int fd, bool read_only, char *who, size_t cap)
{
	/* The whole file: l_start 0, l_len 0 (to the end, however it grows). */
	struct flock fl = { .l_type = read_only ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET };
	struct stat st;

	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	if (errno != EAGAIN && errno != EACCES)
		return -errno;
	if (fstat(fd, &st) == 0)
		vm_disk_holder(&st, who, cap);
	else
		snprintf(who, cap, "another process");
	return -EAGAIN;
}
