/* SPDX-License-Identifier: MIT */
/*
 * client: the host side of docs/protocol.md, for kvmbox itself and for
 * programs that embed it: reach the guest agent through the VMM's vsock
 * unix socket ("CONNECT <port>\n" / "OK <n>\n") or a socket that speaks
 * frames from the start (the VMM's control socket), send requests, read
 * frames, and run one command with its output copied to file descriptors.
 *
 * Blocking I/O on one socket: meant for a thread or process of its own.
 */
#ifndef KVMBOX_PROTO_CLIENT_H
#define KVMBOX_PROTO_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/frame.h"

#define PROTO_AGENT_PORT 1024
/* The agent's port for published ports' streams (docs/protocol.md, "Published ports"). */
#define PROTO_RELAY_PORT 1025

struct proto_client {
	int fd;
	/* How long a wait for an answer may last, in ms; 0: for ever. Set it
	 * after proto_client_open/connect/adopt. proto_client_next gives up
	 * with -ETIMEDOUT when no frame came within it; proto_client_exec
	 * applies it until the command started (the command itself may run
	 * as long as it likes). */
	int wait_ms;
	struct proto_decoder dec;
	uint64_t next_id;
	uint8_t buf[65536];
	size_t have, off;
};

/*
 * proto_client_connect: connect to the vsock unix socket at path and open
 * a stream to guest port port. One try; 0 or -errno (-ECONNREFUSED when
 * the VMM or the guest refused: the agent may not be listening yet).
 */
__attribute__((warn_unused_result)) int proto_client_connect(struct proto_client *c,
                                                             const char *path, unsigned int port);

/*
 * proto_client_open: connect to a unix stream socket at path that speaks
 * frames directly (no CONNECT handshake): the VMM's control socket. One
 * try; 0 or -errno.
 */
__attribute__((warn_unused_result)) int proto_client_open(struct proto_client *c, const char *path);

/*
 * proto_client_adopt: speak frames on fd, a connected stream socket (one
 * end of a socketpair whose other end the VMM serves); c owns it then.
 */
void proto_client_adopt(struct proto_client *c, int fd);

/* proto_client_close: close the connection (also after a failed connect or open). */
void proto_client_close(struct proto_client *c);

/* proto_client_send: one frame (msg is consumed, body may be NULL); 0 or -errno. */
__attribute__((warn_unused_result)) int proto_client_send(struct proto_client *c, json_t *msg,
                                                          const void *body, size_t body_len);

/*
 * proto_client_next: the next frame; 0, -EPIPE at end of stream,
 * -ETIMEDOUT when none came within c->wait_ms, or -errno.
 */
__attribute__((warn_unused_result)) int proto_client_next(struct proto_client *c,
                                                          struct proto_frame *f);

/*
 * proto_client_call: one request and its answer. req (consumed; a
 * proto_msg_request object, its "id" replaced here by a fresh one) is
 * sent with body (NULL: none), then frames are read until the reply or
 * error with that id, or an error with id 0 (about the connection, which
 * ends every request on it); events and frames of other ids are skipped.
 * The whole wait is bounded by c->wait_ms (0: none).
 *
 * Returns 0 with the reply in *answer; for an error answer, its -errno
 * (proto_client_answer_errno) with the error message in *answer and why
 * "CODE: MESSAGE"; or, with *answer NULL, -ETIMEDOUT (no answer within
 * c->wait_ms), -EPIPE (the stream ended), the decoder's -EPROTO,
 * -EBADMSG or -EMSGSIZE (a malformed or oversized frame from the peer:
 * close c), -EMSGSIZE (the request itself is over the limits), -ENOMEM
 * or another -errno of the socket. answer may be NULL; otherwise
 * json_decref *answer.
 */
__attribute__((warn_unused_result)) int proto_client_call(struct proto_client *c, json_t *req,
                                                          const void *body, size_t body_len,
                                                          json_t **answer, struct proto_why *why);

/*
 * proto_client_answer_errno: the -errno for an error answer msg whose
 * envelope is env: the errno its error.errno names (fs_error,
 * port_error), -ECONNABORTED for id 0, -ENOENT not_found, -EHOSTUNREACH
 * unavailable, -EOPNOTSUPP unknown_op, -EINVAL bad_request, -E2BIG
 * too_large, else -EIO.
 */
struct proto_env;
int proto_client_answer_errno(const json_t *msg, const struct proto_env *env);

/*
 * What an exec may ask for besides argv (docs/protocol.md, exec). Start
 * from PROTO_EXEC_OPTS_INIT (or zero and set every fd): fd 0 is a valid
 * fd, so stdin_fd, tty_fd and resize_fd must say -1 for none. tty_fd and
 * resize_fd are looked at only with pty.
 *
 * With pty the command gets one pseudo-terminal as stdin, stdout and
 * stderr: all its output is copied to out_fd (err_fd is not used), with
 * the terminal's own conversions ("\r\n" for "\n", echo of the input).
 * The library only forwards bytes: putting the local terminal into raw
 * mode (cfmakeraw on stdin, restored afterwards) so that keys such as ^C,
 * ^Z and ^D reach the guest's line discipline is the caller's job. End of
 * file on stdin_fd sends exec.stdin eof, which the agent turns into the
 * VEOF character (^D) on the pty; no input can follow it.
 *
 * The window size: rows and cols give the first one; when either is 0
 * it is read from tty_fd (TIOCGWINSZ), and if that fails the agent's
 * default (24x80) applies. resize_fd, when it polls readable (a signalfd
 * for SIGWINCH, or the read end of a non-blocking pipe that a SIGWINCH
 * handler writes to), is drained and the size of tty_fd is sent as
 * exec.resize. A handler that interrupts the wait (EINTR) is harmless.
 *
 * signal_fd, when set, is a signalfd: each signal read from it once the
 * command runs is sent as exec.signal to the command's process group, as a
 * terminal sends ^C to its foreground job. A signal that comes before the
 * agent replied that the command started ends the call instead (-EINTR),
 * and closing the connection then makes the agent kill what it started.
 */
struct proto_exec_opts {
	uint64_t timeout_ms; /* 0: none */
	int stdin_fd;        /* forwarded to the command's stdin until EOF; -1: none */
	/* NULL-terminated "K=V"s added to the agent's default environment
	 * (PATH, HOME, TERM; a name set here replaces the default's); NULL: none. */
	const char *const *env;
	const char *cwd;         /* working directory; NULL: "/" */
	const char *user;        /* "uid:gid" or a user name; NULL: the agent's */
	bool pty;                /* run the command on a pseudo-terminal */
	unsigned int rows, cols; /* with pty: its first size, 1..65535; 0: tty_fd's */
	int tty_fd;              /* with pty: the terminal whose size is the command's; -1: none */
	int resize_fd;           /* with pty: readable when tty_fd changed size; -1: none */
	int signal_fd;           /* a signalfd whose signals are forwarded; -1: none */
};

#define PROTO_EXEC_OPTS_INIT                                                                       \
	{                                                                                          \
		.stdin_fd = -1, .tty_fd = -1, .resize_fd = -1, .signal_fd = -1                     \
	}

/*
 * proto_client_exec: run argv in the guest, copying its stdout
 * to out_fd and stderr to err_fd as it comes; opts may be NULL. argv,
 * env, cwd and user are byte strings (anything but NUL, as Unix has
 * them): the ones that are not UTF-8 go as {"base64"} (proto/bytes.h), so
 * the guest gets every byte. *status is
 * its exit code, or 128 + N for death by signal N. Returns 0, or -errno
 * with a reason in why (the agent's error message for a failed exec):
 * -ENOENT for a not_found error (no such program, cwd or user),
 * -EHOSTUNREACH for unavailable (the VMM cannot reach the agent), -EIO for
 * other error replies (why has the code), -EPIPE
 * when the stream ended, -EINTR when signal N came from signal_fd before
 * the command started (*status is then 128 + N), -ETIMEDOUT when the
 * agent did not say that the command started within c->wait_ms,
 * -EMSGSIZE when the request is over the protocol's JSON limit, -ECOMM
 * when out_fd or err_fd refused the output (why has the errno),
 * -ECONNABORTED for an error about the connection (id 0; why has it), other
 * -errno for local failures.
 * Input (stdin_fd) and resizes are sent while output is being read, so
 * neither side can block the other.
 */
__attribute__((warn_unused_result)) int proto_client_exec(struct proto_client *c, char *const *argv,
                                                          const struct proto_exec_opts *opts,
                                                          int out_fd, int err_fd, int *status,
                                                          struct proto_why *why);

/* proto_client_stop: ask the agent to end the VM; 0 or -errno. */
int proto_client_stop(struct proto_client *c);

#endif
