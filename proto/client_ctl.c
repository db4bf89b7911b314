// SPDX-License-Identifier: MIT
/*
 * client_ctl: the control socket's own ops from the host side
 * (kvmbox_client.h): status, metrics (one sample or a stream), stop and
 * ping, each one proto_client_call, the reply checked field by field
 * (docs/protocol.md, "status"): it comes from the VMM, but the guest's
 * part of it is the guest's word.
 */
#include "proto/kvmbox_client.h"
#include "proto/msg.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define CTL_U64_MAX ((uint64_t)INT64_MAX) /* JSON integers are signed 64-bit */

/* ctl_u64s: the optional integer fields keys[i] of o into *outs[i]; 0 or -EINVAL. */
static int ctl_u64s(const json_t *o, const char *const *keys, uint64_t *const *outs, size_t n,
                    struct proto_why *why)
{
	for (size_t i = 0; i < n; i++)
		if (proto_msg_get_u64(o, keys[i], outs[i], CTL_U64_MAX, PROTO_OPTIONAL, why))
			return -EINVAL;
	return 0;
}

/* ctl_str: the optional string field key of o into buf (cut to cap); 0 or -EINVAL. */
static int ctl_str(const json_t *o, const char *key, char *buf, size_t cap, unsigned int flags,
                   struct proto_why *why)
{
	const char *s = NULL;

	if (proto_msg_get_string(o, key, &s, flags, why))
		return -EINVAL;
	snprintf(buf, cap, "%s", s ? s : "");
	return 0;
}

/* ctl_vmm: the "vmm" object (optional) of r into s; 0 or -EINVAL. */
static int ctl_vmm(const json_t *r, struct proto_vm_status *s, struct proto_why *why)
{
	static const char *const keys[] = { "user_ms",         "system_ms",      "peak_rss_bytes",
		                            "rss_bytes",       "rss_anon_bytes", "rss_file_bytes",
		                            "rss_shmem_bytes", "threads" };
	uint64_t *const outs[] = { &s->vmm.user_ms,         &s->vmm.system_ms,
		                   &s->vmm.peak_rss_bytes,  &s->vmm.rss_bytes,
		                   &s->vmm.rss_anon_bytes,  &s->vmm.rss_file_bytes,
		                   &s->vmm.rss_shmem_bytes, &s->vmm.threads };
	const json_t *o = NULL;

	if (proto_msg_get_object(r, "vmm", &o, PROTO_OPTIONAL, why))
		return -EINVAL;
	return o ? ctl_u64s(o, keys, outs, sizeof(keys) / sizeof(keys[0]), why) : 0;
}

/* ctl_guest: the "guest" object (optional; the guest's word) of r into s; 0 or -EINVAL. */
static int ctl_guest(const json_t *r, struct proto_vm_status *s, struct proto_why *why)
{
	static const char *const keys[] = { "total_bytes", "free_bytes", "available_bytes",
		                            "used_bytes" };
	uint64_t *const outs[] = { &s->guest.mem_total_bytes, &s->guest.mem_free_bytes,
		                   &s->guest.mem_available_bytes, &s->guest.mem_used_bytes };
	static const char *const top[] = { "uptime_ms", "cpus" };
	uint64_t *const top_outs[] = { &s->guest.uptime_ms, &s->guest.cpus };
	const json_t *g = NULL, *m = NULL;

	if (proto_msg_get_object(r, "guest", &g, PROTO_OPTIONAL, why))
		return -EINVAL;
	if (!g)
		return 0;
	s->has_guest = true;
	if (ctl_u64s(g, top, top_outs, 2, why) ||
	    proto_msg_get_object(g, "memory", &m, PROTO_OPTIONAL, why))
		return -EINVAL;
	return m ? ctl_u64s(m, keys, outs, 4, why) : 0;
}

/*
 * proto_status_parse: a status reply (or metrics sample) r into s. Only
 * "state" is required; every other field is optional but, when there,
 * of its type. 0, or -EPROTO with why naming the field.
 */
static int proto_status_parse(const json_t *r, struct proto_vm_status *s, struct proto_why *why)
{
	static const char *const keys[] = { "uptime_ms", "vcpus", "memory_mib",
		                            "cid",       "exits", "pid" };
	uint64_t *const outs[] = { &s->uptime_ms, &s->vcpus, &s->memory_mib,
		                   &s->cid,       &s->exits, &s->pid };
	struct proto_why w = { "" };

	memset(s, 0, sizeof(*s));
	if (ctl_str(r, "state", s->state, sizeof(s->state), 0, &w) ||
	    ctl_u64s(r, keys, outs, sizeof(keys) / sizeof(keys[0]), &w) ||
	    ctl_str(r, "version", s->version, sizeof(s->version), PROTO_OPTIONAL, &w) ||
	    ctl_str(r, "guest_error", s->guest_error, sizeof(s->guest_error), PROTO_OPTIONAL, &w) ||
	    ctl_vmm(r, s, &w) || ctl_guest(r, s, &w)) {
		proto_why_set(why, "a status reply out of the protocol: %s", w.text);
		return -EPROTO;
	}
	s->ready = json_object_get(r, "ready_ms") != NULL;
	if (proto_msg_get_u64(r, "ready_ms", &s->ready_ms, CTL_U64_MAX, PROTO_OPTIONAL, &w)) {
		proto_why_set(why, "a status reply out of the protocol: %s", w.text);
		return -EPROTO;
	}
	return 0;
}

/* ctl_request: a new request for op; NULL: out of memory. */
static json_t *ctl_request(const char *op)
{
	json_t *req = NULL;

	return proto_msg_request(&req, 0, op) ? NULL : req;
}

/*
 * ctl_sample: op ("status" or "metrics", one sample) with guest_wait_ms
 * (-1: the default), its reply parsed into out and given in *raw.
 */
static int ctl_sample(struct proto_client *c, const char *op, int guest_wait_ms,
                      struct proto_vm_status *out, json_t **raw, struct proto_why *why)
{
	struct proto_vm_status scratch;
	json_t *req = ctl_request(op), *r = NULL;
	int err;

	if (raw)
		*raw = NULL;
	if (guest_wait_ms > 60000) {
		json_decref(req);
		proto_why_set(why, "guest_wait_ms %d: at most 60000", guest_wait_ms);
		return -EINVAL;
	}
	if (req && guest_wait_ms >= 0 &&
	    proto_msg_set_u64(req, "guest_wait_ms", (uint64_t)guest_wait_ms)) {
		json_decref(req);
		return -ENOMEM;
	}
	err = proto_client_call(c, req, NULL, 0, &r, why);
	if (!err)
		err = proto_status_parse(r, out ? out : &scratch, why);
	if (!err && raw)
		*raw = json_incref(r);
	json_decref(r);
	return err;
}

int proto_client_status(struct proto_client *c, int guest_wait_ms, struct proto_vm_status *out,
                        json_t **raw, struct proto_why *why)
{
	return ctl_sample(c, "status", guest_wait_ms, out, raw, why);
}

int proto_client_metrics(struct proto_client *c, int guest_wait_ms, struct proto_vm_status *out,
                         json_t **raw, struct proto_why *why)
{
	return ctl_sample(c, "metrics", guest_wait_ms, out, raw, why);
}

/*
 * ctl_watch_frame: one frame f of the stream whose request id is id:
 * given to fn when it is a sample. 0 to go on, 1 when fn stopped, or
 * -errno (an error answer ends the stream).
 */
static int ctl_watch_frame(const struct proto_frame *f, uint64_t id, proto_metrics_fn *fn,
                           void *opaque, struct proto_why *why)
{
	struct proto_vm_status s;
	struct proto_env env;
	int err;

	if (proto_msg_parse_env(f->msg, &env, NULL))
		return 0; /* the VMM checks what it sends: not ours to judge */
	if (env.type == PROTO_ERROR && (env.id == id || env.id == 0)) {
		proto_why_set(why, "%s: %s", env.err_code, env.err_msg);
		return proto_client_answer_errno(f->msg, &env);
	}
	if (env.id != id || env.type != PROTO_EVENT || strcmp(env.name, "metrics") != 0)
		return 0;
	err = proto_status_parse(f->msg, &s, why);
	return err ? err : fn(&s, f->msg, opaque);
}

int proto_client_metrics_watch(struct proto_client *c, unsigned int interval_ms, int guest_wait_ms,
                               proto_metrics_fn *fn, void *opaque, struct proto_why *why)
{
	struct proto_frame f = { 0 };
	json_t *req = ctl_request("metrics");
	uint64_t id = c->next_id; /* what proto_client_call gives req */
	int wait = c->wait_ms, err, stop = 0;

	if (interval_ms < 100 || interval_ms > 3600000 || guest_wait_ms > 60000) {
		json_decref(req);
		proto_why_set(why, "interval_ms %u (100..3600000) or guest_wait_ms %d (..60000)",
		              interval_ms, guest_wait_ms);
		return -EINVAL;
	}
	if (req && (proto_msg_set_u64(req, "interval_ms", interval_ms) ||
	            (guest_wait_ms >= 0 &&
	             proto_msg_set_u64(req, "guest_wait_ms", (uint64_t)guest_wait_ms)))) {
		json_decref(req);
		return -ENOMEM;
	}
	/* The reply ({}) comes first; the samples follow it. */
	err = proto_client_call(c, req, NULL, 0, NULL, why);
	if (err)
		return err;
	/* A sample is due every interval; the wait for one is that and more. */
	c->wait_ms = wait > 0 ? wait + (int)interval_ms : 0;
	while (!stop) {
		err = proto_client_next(c, &f);
		if (err) {
			proto_why_set(why, "waiting for a sample: %s",
			              err == -EPIPE ? "the connection closed" : strerror(-err));
			break;
		}
		stop = ctl_watch_frame(&f, id, fn, opaque, why);
		proto_frame_clear(&f);
	}
	c->wait_ms = wait;
	if (err)
		return err;
	/* Cancelled whatever stopped it, so that no sample comes after this
	 * call (after an error answer the stream is gone: not_found). */
	req = ctl_request("metrics.cancel");
	if (req && proto_msg_set_u64(req, "metrics_id", id)) {
		json_decref(req);
		req = NULL;
	}
	err = proto_client_call(c, req, NULL, 0, NULL, stop == 1 ? why : NULL);
	return stop == 1 ? err : stop;
}

int proto_client_vm_stop(struct proto_client *c, bool force, struct proto_why *why)
{
	json_t *req = ctl_request("stop");
	int err;

	if (req && force && proto_msg_set_bool(req, "force", true)) {
		json_decref(req);
		return -ENOMEM;
	}
	err = proto_client_call(c, req, NULL, 0, NULL, why);
	/* The VM may end before its answer leaves: the stream ending is success too. */
	if (err == -EPIPE || err == -ECONNRESET) {
		proto_why_set(why, "%s", "");
		return 0;
	}
	return err;
}

int proto_client_ping(struct proto_client *c, struct proto_why *why)
{
	return proto_client_call(c, ctl_request("ping"), NULL, 0, NULL, why);
}
