// SPDX-License-Identifier: MIT
/*
 * control_metrics: the requests the VMM answers with what the VM uses
 * (docs/protocol.md, "status", "metrics", "metrics.cancel"): the VM's
 * fields, the VMM process's own (RSS, CPU time) and the guest's, which
 * the agent gives on the VMM's own stream (control_guest.c).
 *
 * A request that wants the guest's part is an "ask" of its connection:
 * it is answered when the agent's metrics come, or at its deadline
 * (guest_wait_ms) without them, with "guest_error" saying why, so that a
 * guest that does not answer never holds a status reply. A metrics stream
 * makes an ask every interval_ms until it is cancelled or its connection
 * ends; a sample whose predecessor still waits, or whose client has not
 * read what was queued (CONTROL_HIGH_WATER), is skipped. One timerfd
 * serves every deadline and every stream of every connection.
 */
#define _GNU_SOURCE
#include "vmm/control/control_int.h"

#include "proto/msg.h"
#include "vmm/timeline.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define CONTROL_VERSION "0.1.0"

static uint64_t control_now_ms(void)
{
	return timeline_now_ns() / 1000000u;
}

/* control_proc_kb: the "Name:   N kB" line of /proc/self/status text, in bytes; 0 if absent. */
static uint64_t control_proc_kb(const char *text, const char *name)
{
	const char *p = strstr(text, name);

	return p ? strtoull(p + strlen(name), NULL, 10) * 1024u : 0;
}

/*
 * control_vmm_usage: the VMM process's own use as "vmm" in msg: CPU time
 * of all its threads (getrusage(2)), its resident memory now and at peak
 * (proc(5), /proc/self/status: RssShmem is mostly the guest RAM the guest
 * has touched, a memfd; RssAnon the VMM's own heap). Where /proc cannot
 * be read (a jail without it), the memory fields but the peak are left
 * out. 0 or -ENOMEM.
 */
static int control_vmm_usage(json_t *msg)
{
	struct rusage ru = { 0 };
	char text[4096];
	ssize_t n = -1;
	json_t *o;
	FILE *f;

	getrusage(RUSAGE_SELF, &ru);
	o = json_pack("{s:I, s:I, s:I}", "user_ms",
	              (json_int_t)ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000,
	              "system_ms",
	              (json_int_t)ru.ru_stime.tv_sec * 1000 + ru.ru_stime.tv_usec / 1000,
	              "peak_rss_bytes", (json_int_t)ru.ru_maxrss * 1024);
	f = fopen("/proc/self/status", "re");
	if (f) {
		n = (ssize_t)fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
	}
	if (o && n > 0) {
		text[n] = '\0';
		if (json_object_set_new(
		        o, "rss_bytes",
		        json_integer((json_int_t)control_proc_kb(text, "VmRSS:"))) ||
		    json_object_set_new(
		        o, "rss_anon_bytes",
		        json_integer((json_int_t)control_proc_kb(text, "RssAnon:"))) ||
		    json_object_set_new(
		        o, "rss_file_bytes",
		        json_integer((json_int_t)control_proc_kb(text, "RssFile:"))) ||
		    json_object_set_new(
		        o, "rss_shmem_bytes",
		        json_integer((json_int_t)control_proc_kb(text, "RssShmem:"))) ||
		    json_object_set_new(o, "threads",
		                        json_integer(strstr(text, "Threads:")
		                                         ? atoll(strstr(text, "Threads:") + 8)
		                                         : 0))) {
			json_decref(o);
			o = NULL;
		}
	}
	return o && json_object_set_new(msg, "vmm", o) == 0 ? 0 : -ENOMEM;
}

/* control_status_fields: the status reply's fields but the guest's: the VM's, then the
 * process's. */
static int control_status_fields(struct control *ctl, json_t *msg)
{
	int err = ctl->host.ops->status(ctl->host.opaque, msg);

	if (!err)
		err = proto_msg_set_u64(msg, "pid", (uint64_t)getpid());
	if (!err)
		err = proto_msg_set_string(msg, "version", CONTROL_VERSION);
	return err ?: control_vmm_usage(msg);
}

/*
 * control_answer: answer a (of c) with the guest's part (its reply,
 * borrowed, untrusted) or why it has none. A guest part that makes the
 * message too large for a frame is dropped and said to be.
 */
static void control_answer(struct control_conn *c, const struct control_ask *a, const json_t *guest,
                           const char *why)
{
	json_t *msg = NULL, *g = NULL;
	int err = a->event ? proto_msg_event(&msg, a->id, "metrics") : proto_msg_reply(&msg, a->id);

	if (!err)
		err = control_status_fields(c->ctl, msg);
	if (!err && guest) {
		/* Its fields, not its envelope. */
		g = json_copy((json_t *)(uintptr_t)guest);
		if (g) {
			json_object_del(g, "id");
			json_object_del(g, "type");
		}
		err = g && json_object_set_new(msg, "guest", g) == 0 ? 0 : -ENOMEM;
	} else if (!err) {
		err = proto_msg_set_string(msg, "guest_error", why);
	}
	if (err) {
		json_decref(msg);
		control_error(c, a->id, err, "cannot build the metrics");
		return;
	}
	err = control_queue(&c->to_client, json_incref(msg), NULL, 0);
	if (err == -EMSGSIZE) {
		json_object_del(msg, "guest");
		err = proto_msg_set_string(msg, "guest_error",
		                           "the guest's metrics are over the JSON size limit");
		if (!err)
			err = control_queue(&c->to_client, json_incref(msg), NULL, 0);
	}
	json_decref(msg);
	if (err)
		control_kill(c);
}

/* control_metrics_arm: set the timerfd to the earliest deadline or sample of all connections. */
static void control_metrics_arm(struct control *ctl)
{
	struct itimerspec its = { 0 };
	uint64_t when = 0;

	for (unsigned int i = 0; i < ctl->nr_conns; i++) {
		const struct control_conn *c = ctl->conns[i];

		for (unsigned int k = 0; !c->dead && k < c->nr_asks; k++)
			if (!when || c->asks[k].deadline_ms < when)
				when = c->asks[k].deadline_ms;
		for (unsigned int k = 0; !c->dead && k < c->nr_streams; k++)
			if (!when || c->streams[k].next_ms < when)
				when = c->streams[k].next_ms;
	}
	if (when == ctl->metrics->timer_ms)
		return;
	ctl->metrics->timer_ms = when;
	/* CLOCK_MONOTONIC, as timeline_now_ns; an it_value of 0 disarms. */
	its.it_value.tv_sec = (time_t)(when / 1000u);
	its.it_value.tv_nsec = (long)(when % 1000u) * 1000000l + (when ? 1 : 0);
	timerfd_settime(ctl->metrics->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

void control_metrics_guest(struct control *ctl, const json_t *guest, const char *why)
{
	for (unsigned int i = 0; i < ctl->nr_conns; i++) {
		struct control_conn *c = ctl->conns[i];

		for (unsigned int k = 0; !c->dead && k < c->nr_asks; k++)
			control_answer(c, &c->asks[k], guest, why);
		c->nr_asks = 0;
		control_pump(c);
	}
	control_metrics_arm(ctl);
}

/* control_ask: a request for the metrics (event: a stream's sample) that waits at most wait_ms. */
static void control_ask(struct control_conn *c, uint64_t id, bool event, uint64_t wait_ms)
{
	struct control_ask a = { .id = id, .wait_ms = wait_ms, .event = event };
	uint64_t stuck = control_guest_waiting_ms(c->ctl);
	char why[128];

	if (!wait_ms) {
		control_answer(c, &a, NULL, "not asked for (guest_wait_ms 0)");
		return;
	}
	/* A guest that sat on the request in flight longer than this one
	 * would wait: answer at once rather than wait for nothing. Past
	 * CONTROL_GUEST_STALE_MS, control_guest_ask replaces the stream. */
	if (stuck > wait_ms) {
		snprintf(why, sizeof(why), "the guest agent has not answered for %llu ms",
		         (unsigned long long)stuck);
		control_answer(c, &a, NULL, why);
		if (stuck > CONTROL_GUEST_STALE_MS)
			control_guest_ask(c->ctl);
		return;
	}
	if (c->nr_asks == CONTROL_MAX_ASKS) {
		if (!event)
			control_error(c, id, -E2BIG,
			              "%d requests already wait for the guest's metrics",
			              CONTROL_MAX_ASKS);
		return;
	}
	a.deadline_ms = control_now_ms() + wait_ms;
	c->asks[c->nr_asks++] = a;
	control_guest_ask(c->ctl); /* may answer at once (no agent) */
	control_metrics_arm(c->ctl);
}

/* control_conn_tick: answer c's asks that are due, and take the samples that are. */
static void control_conn_tick(struct control_conn *c, uint64_t now)
{
	char why[128];

	for (unsigned int k = 0; !c->dead && k < c->nr_asks;) {
		struct control_ask a = c->asks[k];

		if (a.deadline_ms > now) {
			k++;
			continue;
		}
		c->asks[k] = c->asks[--c->nr_asks];
		snprintf(why, sizeof(why), "the guest agent did not answer within %llu ms",
		         (unsigned long long)a.wait_ms);
		control_answer(c, &a, NULL, why);
	}
	for (unsigned int k = 0; !c->dead && k < c->nr_streams; k++) {
		struct control_stream *s = &c->streams[k];
		bool waiting = false;

		if (s->next_ms > now)
			continue;
		s->next_ms += s->interval_ms;
		if (s->next_ms <= now)
			s->next_ms = now + s->interval_ms; /* fell behind: skip, do not catch up */
		for (unsigned int j = 0; j < c->nr_asks; j++)
			waiting |= c->asks[j].event && c->asks[j].id == s->id;
		if (!waiting && c->to_client.len < CONTROL_HIGH_WATER)
			control_ask(c, s->id, true, s->wait_ms);
	}
	control_pump(c);
}

/* control_timer_fired: the timerfd expired (a multishot poll). */
static void control_timer_fired(void *opaque, int res, bool more)
{
	struct control *ctl = opaque;
	uint64_t ticks, now = control_now_ms();

	(void)res, (void)more;
	if (read(ctl->metrics->timer_fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return;
	ctl->metrics->timer_ms = 0;
	/* Asks made in a tick go to the end of the list; conns do not move. */
	for (unsigned int i = 0; i < ctl->nr_conns; i++)
		if (!ctl->conns[i]->dead)
			control_conn_tick(ctl->conns[i], now);
	control_metrics_arm(ctl);
}

/* control_metrics_get: ctl's metrics state, made at the first use; 0 or -errno. */
static int control_metrics_get(struct control *ctl)
{
	struct control_metrics *m;
	int err;

	if (ctl->metrics)
		return 0;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (m->timer_fd < 0) {
		err = -errno;
		free(m);
		return err;
	}
	m->timer_op = (struct loop_op){ .cb = control_timer_fired, .opaque = ctl };
	err = loop_poll(ctl->host.loop, m->timer_fd, POLLIN, &m->timer_op);
	if (err) {
		close(m->timer_fd);
		free(m);
		return err;
	}
	ctl->metrics = m;
	return 0;
}

/* control_stream_find: c's stream started by request id, or -1. */
static int control_stream_find(const struct control_conn *c, uint64_t id)
{
	for (unsigned int k = 0; k < c->nr_streams; k++)
		if (c->streams[k].id == id)
			return (int)k;
	return -1;
}

/* control_cancel: metrics.cancel {"metrics_id"}: no event of it after the reply. */
static void control_cancel(struct control_conn *c, const struct proto_frame *f, uint64_t id)
{
	struct proto_why why = { "" };
	json_t *msg = NULL;
	uint64_t sid;
	int k;

	if (proto_msg_get_u64(f->msg, "metrics_id", &sid, PROTO_ID_MAX, 0, &why)) {
		control_error(c, id, -EINVAL, "%s", why.text);
		return;
	}
	k = control_stream_find(c, sid);
	if (k < 0) {
		control_error(c, id, -ENOENT, "no metrics stream %llu", (unsigned long long)sid);
		return;
	}
	c->streams[k] = c->streams[--c->nr_streams];
	for (unsigned int j = 0; j < c->nr_asks;)
		if (c->asks[j].event && c->asks[j].id == sid)
			c->asks[j] = c->asks[--c->nr_asks];
		else
			j++;
	if (proto_msg_reply(&msg, id) || control_queue(&c->to_client, msg, NULL, 0))
		control_kill(c);
	control_metrics_arm(c->ctl);
}

/* control_stream_start: metrics with interval_ms: reply {}, then a sample now and each interval. */
static void control_stream_start(struct control_conn *c, uint64_t id, uint64_t interval,
                                 uint64_t wait)
{
	json_t *msg = NULL;

	if (control_stream_find(c, id) >= 0) {
		control_error(c, id, -EINVAL, "metrics stream %llu is already running",
		              (unsigned long long)id);
		return;
	}
	if (c->nr_streams == CONTROL_MAX_STREAMS) {
		control_error(c, id, -E2BIG, "%d metrics streams already run on this connection",
		              CONTROL_MAX_STREAMS);
		return;
	}
	if (proto_msg_reply(&msg, id) || control_queue(&c->to_client, msg, NULL, 0)) {
		control_kill(c);
		return;
	}
	c->streams[c->nr_streams++] = (struct control_stream){
		.id = id,
		.interval_ms = (uint32_t)interval,
		.wait_ms = (uint32_t)(wait < interval ? wait : interval),
		.next_ms = control_now_ms() + interval,
	};
	control_ask(c, id, true, wait < interval ? wait : interval);
}

bool control_metrics_frame(struct control_conn *c, const struct proto_frame *f,
                           const struct proto_env *env)
{
	struct proto_why why = { "" };
	uint64_t wait = CONTROL_GUEST_WAIT_MS, interval = 0;
	bool metrics = strcmp(env->name, "metrics") == 0;
	int err;

	if (!metrics && strcmp(env->name, "status") != 0 && strcmp(env->name, "metrics.cancel"))
		return false;
	err = f->body_len ? -EINVAL : control_metrics_get(c->ctl);
	if (err) {
		control_error(c, env->id, err, err == -EINVAL ? "op %s takes no body" : "op %s: %s",
		              env->name, strerror(-err));
		return true;
	}
	if (strcmp(env->name, "metrics.cancel") == 0) {
		control_cancel(c, f, env->id);
		return true;
	}
	err = proto_msg_get_u64(f->msg, "guest_wait_ms", &wait, CONTROL_GUEST_WAIT_MAX_MS,
	                        PROTO_OPTIONAL, &why);
	if (!err && metrics)
		err = proto_msg_get_u64(f->msg, "interval_ms", &interval, CONTROL_METRICS_MAX_MS,
		                        PROTO_OPTIONAL, &why);
	if (!err && interval && interval < CONTROL_METRICS_MIN_MS) {
		proto_why_set(&why, "field \"interval_ms\" must be 0 or %d to %d",
		              CONTROL_METRICS_MIN_MS, CONTROL_METRICS_MAX_MS);
		err = -EINVAL;
	}
	if (err)
		control_error(c, env->id, err, "%s", why.text);
	else if (interval)
		control_stream_start(c, env->id, interval, wait);
	else
		control_ask(c, env->id, false, wait);
	return true;
}

void control_metrics_destroy(struct control *ctl)
{
	if (!ctl->metrics)
		return;
	control_guest_destroy(ctl);
	close(ctl->metrics->timer_fd);
	free(ctl->metrics);
	ctl->metrics = NULL;
}
