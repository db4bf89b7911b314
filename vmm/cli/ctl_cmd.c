// SPDX-License-Identifier: MIT
/*
 * ctl_cmd: kvmbox exec, status and stop (ctl_cmd.h), on proto/client.
 *
 * exec -t puts our terminal in raw mode, so that ^C, ^Z, ^D and the arrow
 * keys reach the guest's line discipline and the shell there, and follows
 * our window size with a signalfd for SIGWINCH; the mode is restored on
 * every way out. Signals sent to kvmbox exec go on to the command
 * (ctl_forwarded), so that it can be interrupted or stopped like a local
 * one.
 */
#define _GNU_SOURCE
#include "proto/client.h"
#include "proto/msg.h"
#include "vmm/cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#define CTL_MAX_ENV 4096
/* How long the clients wait for an answer by default, in seconds: status
 * is the VMM's own (its loop answers at once, or it is stuck); exec's start
 * and a plain stop go to the agent, which the VMM waits for up to 60 s
 * while the guest boots (docs/protocol.md), so a little longer. */
#define CTL_WAIT_VMM_S   10
#define CTL_WAIT_AGENT_S 90
#define CTL_WAIT_MAX_S   86400

int ctl_exec_status(int err)
{
	switch (err) {
	case -ENOENT:
		return CTL_EXIT_NOT_FOUND;
	case -EIO:
		return CTL_EXIT_CANNOT;
	default:
		return CTL_EXIT_FAILED;
	}
}

static void ctl_exec_usage(FILE *f)
{
	fprintf(f,
	        "usage: kvmbox exec [-t] [-e K=V]... [-w DIR] [-u USER] [--timeout SECONDS]\n"
	        "                   [--wait SECONDS] SOCKET -- CMD ARGS...\n"
	        "\n"
	        "  Run CMD in the microVM whose control socket is SOCKET (kvmbox run\n"
	        "  --control SOCKET), or in the sandbox named SOCKET (kvmbox create). Its\n"
	        "  stdout and stderr are ours, and so is its stdin\n"
	        "  unless that is a terminal (with -t: always). Exit status: CMD's, or\n"
	        "  128+N when signal N killed it; 125 kvmbox exec failed, 126 CMD could\n"
	        "  not be started, 127 CMD (or DIR, or USER) does not exist. SIGINT,\n"
	        "  SIGQUIT, SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 are passed on to CMD.\n"
	        "\n"
	        "  -t, --tty            run CMD on a pseudo-terminal the size of ours\n"
	        "  -e, --env K=V        set K in the environment (repeatable), over the\n"
	        "                       microVM's: its run's -e and its image's Env, then\n"
	        "                       HOME, PATH and TERM\n"
	        "  -w, --workdir DIR    working directory (default: the run's -w, the\n"
	        "                       image's WorkingDir, or /)\n"
	        "  -u, --user USER      a user name or uid:gid (default: the run's -u,\n"
	        "                       the image's User, or root)\n"
	        "      --timeout S      kill CMD (SIGKILL) after S seconds\n"
	        "      --wait S         give up when CMD has not started after S seconds\n"
	        "                       (default %d; 0: wait for ever)\n",
	        CTL_WAIT_AGENT_S);
}

/* ctl_open: connect to the control socket, with one line on failure. */
static int ctl_open(struct proto_client *c, const char *path)
{
	int err = proto_client_open(c, path);

	if (err)
		fprintf(stderr, "kvmbox: control socket %s: %s\n", path, strerror(-err));
	return err;
}

/*
 * ctl_signalfd: block the n signals sigs (the mask before in *old) and
 * return a signalfd that reads them, or -1 when that fails, which leaves
 * the mask as it was: the signals keep their usual effect.
 */
static int ctl_signalfd(const int *sigs, size_t n, sigset_t *old)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	for (size_t i = 0; i < n; i++)
		sigaddset(&set, sigs[i]);
	if (sigprocmask(SIG_BLOCK, &set, old) < 0)
		return -1;
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		sigprocmask(SIG_SETMASK, old, NULL);
	return fd;
}

/* ctl_signalfd_close: undo ctl_signalfd (nothing for fd -1). */
static void ctl_signalfd_close(int fd, const sigset_t *old)
{
	if (fd < 0)
		return;
	close(fd);
	sigprocmask(SIG_SETMASK, old, NULL);
}

/* A terminal in raw mode for exec -t, restored by ctl_tty_restore. */
struct ctl_tty {
	bool raw;
	struct termios saved;
	int winch_fd;
	sigset_t winch_old;
};

static void ctl_tty_raw(struct ctl_tty *t)
{
	static const int winch = SIGWINCH;
	struct termios raw;

	t->winch_fd = -1;
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &t->saved) < 0)
		return;
	raw = t->saved;
	cfmakeraw(&raw);
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
		t->raw = true;
	t->winch_fd = ctl_signalfd(&winch, 1, &t->winch_old);
}

static void ctl_tty_restore(struct ctl_tty *t)
{
	if (t->raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
	ctl_signalfd_close(t->winch_fd, &t->winch_old);
	t->raw = false;
	t->winch_fd = -1;
}

/*
 * The signals kvmbox exec forwards to the command, as docker exec and
 * ssh do: ^C and ^\ from a terminal without -t, kill(1), a closed
 * terminal, and the two left to applications.
 */
static const int ctl_forwarded[] = { SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2 };

int ctl_cmd_exec(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "tty", no_argument, NULL, 't' },
		{ "env", required_argument, NULL, 'e' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "wait", required_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct proto_exec_opts opts = PROTO_EXEC_OPTS_INIT;
	uint64_t wait_s = CTL_WAIT_AGENT_S;
	struct proto_client client = { .fd = -1 };
	struct proto_why why = { "" };
	struct ctl_tty tty = { .winch_fd = -1 };
	sigset_t sigs;
	const char **env = NULL, *path;
	char sock[PATH_MAX];
	size_t nr_env = 0;
	int c, err, status = CTL_EXIT_FAILED;
	uint64_t secs;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:te:w:u:h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			opts.pty = true;
			break;
		case 'e':
			if (!strchr(optarg, '=') || nr_env == CTL_MAX_ENV) {
				fprintf(stderr, "kvmbox exec: -e %s: expected K=V (at most %d)\n",
				        optarg, CTL_MAX_ENV);
				goto out;
			}
			env = realloc(env, (nr_env + 2) * sizeof(*env));
			if (!env)
				goto out;
			env[nr_env++] = optarg;
			env[nr_env] = NULL;
			break;
		case 'w':
			opts.cwd = optarg;
			break;
		case 'u':
			opts.user = optarg;
			break;
		case 'T':
			/* A week at most: the agent takes milliseconds in 64 bits. */
			if (cli_parse_u64("kvmbox exec", "--timeout", optarg, 0, 604800, &secs))
				goto out;
			opts.timeout_ms = secs * 1000u;
			break;
		case 'W':
			if (cli_parse_u64("kvmbox exec", "--wait", optarg, 0, CTL_WAIT_MAX_S,
			                  &wait_s))
				goto out;
			break;
		case 'h':
			ctl_exec_usage(stdout);
			status = 0;
			goto out;
		case ':':
			fprintf(stderr, "kvmbox exec: %s needs a value\n", argv[optind - 1]);
			goto usage;
		default:
			fprintf(stderr, "kvmbox exec: unrecognized option %s\n", argv[optind - 1]);
			goto usage;
		}
	}
	/* SOCKET [--] CMD ARGS...: what follows "--" is the command's own. */
	if (optind >= argc) {
		fprintf(stderr, "kvmbox exec: needs SOCKET and a command\n");
		goto usage;
	}
	path = cli_socket(argv[optind++], sock);
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		optind++;
	if (optind >= argc) {
		fprintf(stderr, "kvmbox exec: needs SOCKET and a command\n");
		goto usage;
	}
	opts.env = env;
	if (opts.pty || !isatty(STDIN_FILENO))
		opts.stdin_fd = STDIN_FILENO;
	if (ctl_open(&client, path))
		goto out;
	client.wait_ms = (int)(wait_s * 1000);
	if (opts.pty) {
		ctl_tty_raw(&tty);
		opts.tty_fd = tty.raw ? STDIN_FILENO : -1;
		opts.resize_fd = tty.winch_fd;
	}
	/* When this fails the signals end kvmbox exec instead, and the agent
	 * kills the command when the connection closes. */
	opts.signal_fd =
	    ctl_signalfd(ctl_forwarded, sizeof(ctl_forwarded) / sizeof(ctl_forwarded[0]), &sigs);
	err = proto_client_exec(&client, argv + optind, &opts, STDOUT_FILENO, STDERR_FILENO,
	                        &status, &why);
	ctl_signalfd_close(opts.signal_fd, &sigs);
	ctl_tty_restore(&tty);
	if (err == -EINTR) {
		/* A signal before the command started: ended by it, quietly. */
	} else if (err) {
		status = ctl_exec_status(err);
		fprintf(stderr, "kvmbox exec: %s\n", why.text[0] ? why.text : strerror(-err));
	}
	goto out;
usage:
	status = 2;
	ctl_exec_usage(stderr);
out:
	proto_client_close(&client);
	free(env);
	return status;
}

/*
 * ctl_request: send op (with force when set, and guest_wait_ms unless it
 * is -1) and wait for its answer; the reply object in *reply. 0, or 1
 * after a message.
 */
static int ctl_request(const char *path, const char *op, bool force, int64_t guest_wait_ms,
                       uint64_t wait_s, json_t **reply)
{
	struct proto_client client = { .fd = -1 };
	struct proto_env env;
	json_t *req = NULL, *answer = NULL;
	int err;

	*reply = NULL;
	if (ctl_open(&client, path))
		return 1;
	client.wait_ms = (int)(wait_s * 1000);
	err = proto_msg_request(&req, 1, op);
	if (!err && force)
		err = proto_msg_set_bool(req, "force", true);
	if (!err && guest_wait_ms >= 0)
		err = proto_msg_set_u64(req, "guest_wait_ms", (uint64_t)guest_wait_ms);
	if (!err)
		err = proto_client_call(&client, req, NULL, 0, &answer, NULL);
	else
		json_decref(req);
	proto_client_close(&client);
	if (answer && err) {
		/* An error answer: ours, or about the connection (id 0: the
		 * VMM's client limit, say). */
		if (proto_msg_parse_env(answer, &env, NULL) == 0)
			fprintf(stderr, "kvmbox %s: %s: %s\n", op, env.err_code, env.err_msg);
		json_decref(answer);
		return 1;
	}
	/* The agent powers off right after its reply, which may not make it
	 * out first: for stop, the stream ending is the answer too. */
	if (err == -EPIPE && strcmp(op, "stop") == 0)
		return 0;
	if (err == -ETIMEDOUT) {
		fprintf(stderr, "kvmbox %s: no answer from %s within %llu s (--wait)\n", op, path,
		        (unsigned long long)wait_s);
		return 1;
	}
	if (err) {
		fprintf(stderr, "kvmbox %s: %s\n", op,
		        err == -EPIPE ? "the VMM closed the connection" : strerror(-err));
		return 1;
	}
	*reply = answer;
	return 0;
}

/*
 * ctl_socket_arg: [--force] [--wait S] [--guest-wait S] SOCKET, the
 * options in any order (--force only where force is given, --guest-wait
 * where guest_wait_s is); NULL after a message.
 */
static const char *ctl_socket_arg(int argc, char **argv, const char *cmd, bool *force,
                                  uint64_t *wait_s, int64_t *guest_wait_s, char *sock)
{
	char opt[32];
	uint64_t v;
	int i = 1;

	snprintf(opt, sizeof(opt), "kvmbox %s", cmd);
	for (; i < argc; i++) {
		if (force && strcmp(argv[i], "--force") == 0) {
			*force = true;
		} else if (strcmp(argv[i], "--wait") == 0 && i + 1 < argc) {
			if (cli_parse_u64(opt, "--wait", argv[++i], 0, CTL_WAIT_MAX_S, wait_s))
				return NULL;
		} else if (guest_wait_s && strcmp(argv[i], "--guest-wait") == 0 && i + 1 < argc) {
			/* docs/protocol.md, status: guest_wait_ms is at most 60 s. */
			if (cli_parse_u64(opt, "--guest-wait", argv[++i], 0, 60, &v))
				return NULL;
			*guest_wait_s = (int64_t)v;
		} else {
			break;
		}
	}
	if (argc - i != 1 || argv[i][0] == '-') {
		fprintf(stderr, "usage: kvmbox %s%s [--wait SECONDS]%s SOCKET\n", cmd,
		        force ? " [--force]" : "", guest_wait_s ? " [--guest-wait SECONDS]" : "");
		return NULL;
	}
	return cli_socket(argv[i], sock);
}

int ctl_cmd_status(int argc, char **argv)
{
	uint64_t wait_s = CTL_WAIT_VMM_S;
	int64_t guest_s = -1;
	char sock[PATH_MAX];
	const char *path = ctl_socket_arg(argc, argv, "status", NULL, &wait_s, &guest_s, sock);
	json_t *reply;

	if (!path)
		return 2;
	/* The VMM answers once the guest did, or its wait is over. */
	if (wait_s && guest_s >= 0 && wait_s < (uint64_t)guest_s + CTL_WAIT_VMM_S)
		wait_s = (uint64_t)guest_s + CTL_WAIT_VMM_S;
	if (ctl_request(path, "status", false, guest_s < 0 ? -1 : guest_s * 1000, wait_s, &reply))
		return 1;
	json_object_del(reply, "type");
	json_object_del(reply, "id");
	json_dumpf(reply, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	putchar('\n');
	json_decref(reply);
	return 0;
}

int ctl_cmd_stop(int argc, char **argv)
{
	bool force = false;
	uint64_t wait_s = CTL_WAIT_AGENT_S;
	char sock[PATH_MAX];
	const char *path = ctl_socket_arg(argc, argv, "stop", &force, &wait_s, NULL, sock);
	json_t *reply;

	if (!path)
		return 2;
	if (ctl_request(path, "stop", force, -1, wait_s, &reply))
		return 1;
	json_decref(reply); /* NULL when the stream ended instead */
	return 0;
}
