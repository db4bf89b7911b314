// SPDX-License-Identifier: MIT
/*
 * guest-agent/server_exec: the server's side of running processes
 * (server.h): the exec, exec.stdin, exec.signal and exec.resize ops, a
 * process's output streams and stdin queue, and the report of its exit.
 * Starting the process itself (fork, pty, execve) is exec.c's; reaping it
 * is the loop's (server.c).
 */
#define _GNU_SOURCE
#include "guest-agent/exec.h"
#include "guest-agent/server_int.h"
#include "proto/msg.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* proc_find: conn's live process started by request id, or NULL. */
static struct agent_proc *proc_find(struct agent_conn *c, uint64_t id)
{
	for (struct agent_proc *p = c->procs; p; p = p->next)
		if (p->id == id && !p->done)
			return p;
	return NULL;
}

void agent_proc_free(struct agent_server *srv, struct agent_proc *p)
{
	agent_watch_close(srv, &p->in);
	agent_watch_close(srv, &p->out);
	agent_watch_close(srv, &p->err);
	proto_buf_free(&p->inq);
	free(p);
}

/* proc_report_exit: send exec.exit and mark p done (its fds are closed). */
static void proc_report_exit(struct agent_proc *p)
{
	struct agent_server *srv = p->conn->srv;
	json_t *m = NULL;
	int err;

	agent_watch_close(srv, &p->in);
	agent_watch_close(srv, &p->out);
	agent_watch_close(srv, &p->err);
	p->done = true;
	err = proto_msg_event(&m, p->id, "exec.exit");
	if (!err && WIFSIGNALED(p->status))
		err = proto_msg_set_i64(m, "signal", WTERMSIG(p->status))
		          ?: proto_msg_set_bool(m, "timed_out", p->timed_out);
	else if (!err)
		err = proto_msg_set_i64(m, "code", WEXITSTATUS(p->status));
	if (err) {
		json_decref(m);
		m = NULL;
	}
	agent_conn_send(p->conn, m, NULL, 0);
}

/* agent_proc_maybe_finish: report the exit once the process ended and its output did. */
void agent_proc_maybe_finish(struct agent_proc *p, uint64_t now)
{
	if (!p->reaped || p->done)
		return;
	if ((p->out.fd < 0 && p->err.fd < 0) ||
	    (now >= p->linger && p->conn->out.len < AGENT_CONN_HIGH))
		proc_report_exit(p);
}

/* agent_proc_read: one read of a process's output fd into an event. */
void agent_proc_read(struct agent_proc *p, struct agent_watch *w)
{
	_Static_assert(AGENT_READ_CHUNK <= PROTO_MAX_BODY, "an output chunk fits a body");
	uint8_t data[AGENT_READ_CHUNK];
	json_t *m = NULL;
	ssize_t n = read(w->fd, data, sizeof(data));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* EOF, or EIO from a pty master whose slave is closed everywhere. */
		agent_watch_close(p->conn->srv, w);
		return;
	}
	if (p->reaped)
		p->linger = agent_now_ms() + AGENT_LINGER_MS;
	if (proto_msg_event(&m, p->id, w->kind == AGENT_W_ERR ? "exec.stderr" : "exec.stdout") != 0)
		m = NULL;
	agent_conn_send(p->conn, m, data, (size_t)n);
}

/* agent_proc_write_stdin: write what is queued for the process's stdin. */
void agent_proc_write_stdin(struct agent_proc *p)
{
	while (p->in.fd >= 0 && p->inq.len) {
		ssize_t n = write(p->in.fd, p->inq.data + p->inq.head, p->inq.len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			/* The reader is gone (EPIPE): what is queued cannot arrive. */
			proto_buf_consume(&p->inq, p->inq.len);
			agent_watch_close(p->conn->srv, &p->in);
			return;
		}
		proto_buf_consume(&p->inq, (size_t)n);
	}
	if (!p->inq.len && p->in_eof && !p->pty)
		agent_watch_close(p->conn->srv, &p->in);
}

/*
 * agent_proc_kill: SIGKILL a process that has not ended, its group and its
 * descendants, setsid() ones included (a timeout, a closed connection).
 */
void agent_proc_kill(struct agent_proc *p)
{
	if (!p->reaped)
		agent_kill_tree(p->pid);
}

/* exec_start: spawn req for request id on c and answer {"pid"}. */
static int exec_start(struct agent_conn *c, uint64_t id, const struct agent_exec_req *req,
                      struct proto_why *why)
{
	struct agent_child ch;
	struct agent_proc *p;
	int err;

	if (c->srv->opts.refuse_exec) {
		proto_why_set(why, "%s", c->srv->opts.refuse_exec);
		return -EIO;
	}
	if (c->srv->opts.exec_filter) {
		err = c->srv->opts.exec_filter((const char *const *)req->argv, c->srv->opts.opaque);
		if (err) {
			proto_why_set(why, "exec of %s refused", req->argv[0]);
			return err;
		}
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	err = agent_exec_spawn(req, &ch, why);
	if (err) {
		free(p);
		return err;
	}
	*p = (struct agent_proc){
		.next = c->procs,
		.conn = c,
		.id = id,
		.pid = ch.pid,
		.pty = req->pty,
		.in = { .kind = AGENT_W_IN, .fd = ch.in_fd, .owner = p },
		.out = { .kind = AGENT_W_OUT, .fd = ch.out_fd, .owner = p },
		.err = { .kind = AGENT_W_ERR, .fd = ch.err_fd, .owner = p },
	};
	if (req->timeout_ms)
		p->deadline = agent_now_ms() + req->timeout_ms;
	c->procs = p;
	c->nprocs++;
	agent_conn_reply(c, id, json_pack("{sI}", "pid", (json_int_t)ch.pid));
	return 0;
}

int agent_op_exec(struct agent_conn *c, uint64_t id, const json_t *msg, const struct proto_frame *f,
                  struct proto_why *why)
{
	struct agent_exec_req req;
	int err;

	(void)f;
	if (proc_find(c, id)) {
		proto_why_set(why, "exec %llu is still running", (unsigned long long)id);
		return -EINVAL;
	}
	if (c->nprocs >= AGENT_MAX_PROCS) {
		proto_why_set(why, "too many processes (%u)", AGENT_MAX_PROCS);
		return -E2BIG;
	}
	err = agent_exec_parse(msg, &req, why);
	if (err)
		return err;
	err = exec_start(c, id, &req, why);
	agent_exec_req_free(&req);
	return err;
}

/* exec_target: the running process named by the "exec_id" field of msg. */
static int exec_target(struct agent_conn *c, const json_t *msg, struct agent_proc **out,
                       struct proto_why *why)
{
	uint64_t xid;
	int err = proto_msg_get_u64(msg, "exec_id", &xid, PROTO_ID_MAX, 0, why);

	if (err)
		return err;
	*out = proc_find(c, xid);
	if (!*out || (*out)->reaped) {
		proto_why_set(why, "no running exec %llu", (unsigned long long)xid);
		return -ENOENT;
	}
	return 0;
}

int agent_op_stdin(struct agent_conn *c, uint64_t id, const json_t *msg,
                   const struct proto_frame *f, struct proto_why *why)
{
	struct agent_proc *p;
	bool eof = false;
	int err = exec_target(c, msg, &p, why);

	if (!err)
		err = proto_msg_get_bool(msg, "eof", &eof, PROTO_OPTIONAL, why);
	if (err)
		return err;
	if (p->in.fd < 0 || p->in_eof) {
		proto_why_set(why, "exec %llu has no open stdin", (unsigned long long)p->id);
		return -EINVAL;
	}
	err = proto_buf_append(&p->inq, f->body, f->body_len);
	if (!err && eof && p->pty)
		err = proto_buf_append(&p->inq, "\x04", 1); /* VEOF: the line discipline's EOF */
	if (err)
		return err;
	p->in_eof = eof;
	agent_proc_write_stdin(p);
	agent_conn_reply(c, id, NULL);
	return 0;
}

int agent_op_signal(struct agent_conn *c, uint64_t id, const json_t *msg,
                    const struct proto_frame *f, struct proto_why *why)
{
	struct agent_proc *p;
	uint64_t sig;
	bool group = false;
	int err = exec_target(c, msg, &p, why);

	(void)f;
	if (!err)
		err = proto_msg_get_u64(msg, "signal", &sig, 64, 0, why);
	if (!err)
		err = proto_msg_get_bool(msg, "group", &group, PROTO_OPTIONAL, why);
	if (err)
		return err;
	if (sig < 1) {
		proto_why_set(why, "field \"signal\" must be 1 to 64");
		return -EINVAL;
	}
	if (kill(group ? -p->pid : p->pid, (int)sig) < 0) {
		proto_why_set(why, "kill: %s", strerror(errno));
		return -errno;
	}
	agent_conn_reply(c, id, NULL);
	return 0;
}

int agent_op_resize(struct agent_conn *c, uint64_t id, const json_t *msg,
                    const struct proto_frame *f, struct proto_why *why)
{
	struct agent_proc *p;
	uint64_t rows, cols;
	int err = exec_target(c, msg, &p, why);

	(void)f;
	if (!err)
		err = proto_msg_get_u64(msg, "rows", &rows, 65535, 0, why);
	if (!err)
		err = proto_msg_get_u64(msg, "cols", &cols, 65535, 0, why);
	if (err)
		return err;
	if (!p->pty || !rows || !cols) {
		proto_why_set(why, p->pty ? "rows and cols must be 1 or more" : "exec has no pty");
		return -EINVAL;
	}
	err = agent_exec_resize(p->out.fd, (uint16_t)rows, (uint16_t)cols);
	if (err) {
		proto_why_set(why, "TIOCSWINSZ: %s", strerror(-err));
		return err;
	}
	agent_conn_reply(c, id, NULL);
	return 0;
}
