// SPDX-License-Identifier: MIT
/*
 * Unit tests of the guest agent, second part: large output, concurrent
 * commands, timeouts, signals, the pty, users, a client that leaves, the
 * kernel command line, and the client library's signal forwarding (the
 * rig: test_agent_exec.h).
 */
#define _GNU_SOURCE
#include "check.h"
#include "test_agent_exec.h"

TEST(large_output)
{
	const size_t total = 8u << 20;
	const char *line = "0123456789abcdef\n";
	uint64_t want = 1469598103934665603ull, got = 1469598103934665603ull;
	struct client c;
	struct result r = { 0 };
	size_t len = 0;
	bool slept = false;

	for (size_t i = 0; i < total; i++)
		want = fnv1a(want, (const uint8_t *)&line[i % 17], 1);
	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(send_json(&c,
	                   "{\"id\":1,\"type\":\"request\",\"op\":\"exec\",\"argv\":[\"sh\",\"-c\","
	                   "\"yes 0123456789abcdef | head -c 8388608\"]}",
	                   NULL, 0),
	         0);
	for (;;) {
		struct proto_frame f = { 0 };

		if (recv_frame(&c, &f) != 1)
			break;
		if (strcmp(str_of(f.msg, "event"), "exec.stdout") == 0) {
			CHECK(f.body_len <= PROTO_MAX_BODY);
			got = fnv1a(got, f.body, f.body_len);
			len += f.body_len;
		} else {
			result_take(&r, &f);
		}
		proto_frame_clear(&f);
		if (r.exited)
			break;
		if (len >= 1u << 20 && !slept) {
			usleep(200000); /* let the agent's queue fill: back-pressure */
			slept = true;
		}
	}
	CHECK(r.exited && r.code == 0);
	CHECK_EQ(len, total);
	CHECK_EQ(got, want);
	result_free(&r);
	CHECK_EQ(client_stop(&c), 0);
}

TEST(concurrent)
{
	struct result r[16] = { 0 };
	struct client c;
	char text[256];
	int exited = 0;

	CHECK_EQ(client_start(&c), 0);
	for (int i = 0; i < 16; i++) {
		snprintf(text, sizeof(text),
		         "{\"id\":%d,\"type\":\"request\",\"op\":\"exec\",\"argv\":[\"sh\",\"-c\","
		         "\"echo start $0; sleep 0.2; echo done $0; exit $0\",\"%d\"]}",
		         100 + i, i);
		CHECK_EQ(send_json(&c, text, NULL, 0), 0);
	}
	while (exited < 16) {
		struct proto_frame f = { 0 };
		int64_t id;

		if (recv_frame(&c, &f) != 1)
			break;
		id = json_integer_value(json_object_get(f.msg, "id"));
		CHECK(id >= 100 && id < 116);
		if (id >= 100 && id < 116 && result_take(&r[id - 100], &f))
			exited++;
		proto_frame_clear(&f);
	}
	CHECK_EQ(exited, 16);
	for (int i = 0; i < 16; i++) {
		char want[64];

		snprintf(want, sizeof(want), "start %d\ndone %d\n", i, i);
		CHECK(r[i].exited && r[i].code == i && r[i].pid > 0);
		CHECK(r[i].out && strcmp((char *)r[i].out, want) == 0);
		result_free(&r[i]);
	}
	CHECK_EQ(client_stop(&c), 0);
}

TEST(timeout)
{
	uint64_t start = mono_ms();
	struct client c;
	struct result r;

	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(run(&c, 1, "\"argv\":[\"sleep\",\"100\"],\"timeout_ms\":200", &r), 0);
	CHECK(r.exited && r.timed_out);
	CHECK_EQ(r.signal, SIGKILL);
	CHECK(mono_ms() - start < 10000);
	result_free(&r);
	CHECK_EQ(run(&c, 2, "\"argv\":[\"true\"],\"timeout_ms\":10000", &r), 0);
	CHECK(r.exited && !r.timed_out && r.code == 0);
	result_free(&r);
	CHECK_EQ(client_stop(&c), 0);
}

/* dead: pid is gone or a zombie within 2 s. */
static bool dead(long pid)
{
	for (int i = 0; i < 200; i++) {
		char path[64], buf[256], *p;
		FILE *f;
		size_t n;

		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		f = fopen(path, "r");
		if (!f)
			return true;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		p = strrchr(buf, ')');
		if (p && p[1] == ' ' && p[2] == 'Z')
			return true;
		usleep(10 * 1000);
	}
	return false;
}

/* Issue 14, item 7: a timeout ends descendants that left the group (setsid). */
TEST(timeout_kills_setsid_descendants)
{
	struct client c;
	struct result r;
	long pid = 0;

	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(run(&c, 1,
	             "\"argv\":[\"sh\",\"-c\",\"setsid sleep 101 </dev/null >/dev/null 2>&1 & "
	             "echo $!; sleep 102\"],\"timeout_ms\":500",
	             &r),
	         0);
	if (!(r.exited && r.timed_out))
		fprintf(stderr, "exited %d timed_out %d code %ld signal %ld err %s %s out %.*s\n",
		        r.exited, r.timed_out, (long)r.code, (long)r.signal, r.err_code, r.err_msg,
		        (int)r.out_len, r.out ? (char *)r.out : "");
	CHECK(r.exited && r.timed_out);
	CHECK(r.out && sscanf((char *)r.out, "%ld", &pid) == 1 && pid > 1);
	if (pid > 1) {
		CHECK(dead(pid));
		kill((pid_t)pid, SIGKILL); /* never leave one behind */
	}
	result_free(&r);
	CHECK_EQ(client_stop(&c), 0);
}

TEST(signal_delivery)
{
	struct client c;
	struct result r = { 0 };
	char type[64];

	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(start(&c, 3,
	               "\"argv\":[\"sleep\","
	               "\"100\"]",
	               &r),
	         0);
	CHECK(r.pid > 0);
	CHECK_EQ(request(&c,
	                 "{\"id\":4,\"type\":\"request\",\"op\":\"exec.signal\",\"exec_id\":3,"
	                 "\"signal\":15}",
	                 NULL, 0, type, sizeof(type)),
	         0);
	CHECK(strcmp(type, "reply") == 0);
	CHECK_EQ(gather(&c, 3, &r), 0);
	CHECK(r.exited && !r.timed_out);
	CHECK_EQ(r.signal, SIGTERM);
	result_free(&r);
	CHECK_EQ(request(&c,
	                 "{\"id\":5,\"type\":\"request\",\"op\":\"exec.signal\",\"exec_id\":3,"
	                 "\"signal\":15}",
	                 NULL, 0, type, sizeof(type)),
	         0);
	CHECK(strcmp(type, "error:not_found") == 0);
	CHECK_EQ(client_stop(&c), 0);
}

TEST(pty)
{
	struct client c;
	struct result r = { 0 };
	char type[64];

	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(
	    run(&c, 1,
	        "\"argv\":[\"sh\",\"-c\",\"tty; stty size\"],\"pty\":{\"rows\":33,\"cols\":101}",
	        &r),
	    0);
	CHECK(r.exited && r.code == 0);
	CHECK(r.out && strstr((char *)r.out, "/dev/pts/") && strstr((char *)r.out, "33 101"));
	CHECK_EQ(r.err_len, 0);
	result_free(&r);

	/* A resize reaches the running process. */
	CHECK_EQ(start(&c, 2,
	               "\"argv\":[\"sh\",\"-c\",\"read x; stty size\"],"
	               "\"pty\":{\"rows\":10,\"cols\":20}",
	               &r),
	         0);
	CHECK_EQ(request(&c,
	                 "{\"id\":3,\"type\":\"request\",\"op\":\"exec.resize\",\"exec_id\":2,"
	                 "\"rows\":40,\"cols\":120}",
	                 NULL, 0, type, sizeof(type)),
	         0);
	CHECK(strcmp(type, "reply") == 0);
	CHECK_EQ(send_json(&c,
	                   "{\"id\":4,\"type\":\"request\",\"op\":\"exec.stdin\",\"exec_id\":2}",
	                   "go\n", 3),
	         0);
	for (int i = 0; i < 100 && !r.exited; i++) {
		struct proto_frame f = { 0 };

		if (recv_frame(&c, &f) != 1)
			break;
		if (json_integer_value(json_object_get(f.msg, "id")) == 2)
			result_take(&r, &f);
		proto_frame_clear(&f);
	}
	CHECK(r.exited && r.code == 0);
	CHECK(r.out && strstr((char *)r.out, "40 120"));
	result_free(&r);
	CHECK_EQ(client_stop(&c), 0);
}

TEST(user)
{
	struct client c;
	struct result r;

	if (geteuid() != 0) {
		printf("user: skipped (not root)\n");
		return;
	}
	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(
	    run(&c, 1, "\"argv\":[\"sh\",\"-c\",\"id -u; id -g\"],\"user\":\"65534:65534\"", &r),
	    0);
	CHECK(r.exited && r.code == 0);
	CHECK(r.out && strcmp((char *)r.out, "65534\n65534\n") == 0);
	result_free(&r);
	CHECK_EQ(run(&c, 2, "\"argv\":[\"true\"],\"user\":\"kvmbox-no-such-user\"", &r), 0);
	CHECK(strcmp(r.err_code, "not_found") == 0);
	result_free(&r);
	CHECK_EQ(client_stop(&c), 0);
}

TEST(disconnect_kills)
{
	struct client c;
	struct result r = { 0 };
	uint64_t end;
	bool gone = false;

	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(start(&c, 1,
	               "\"argv\":[\"sh\","
	               "\"-c\",\"yes & sleep 100\"]",
	               &r),
	         0);
	CHECK(r.pid > 0);
	/* Leave output unread: the agent is mid-stream when the client goes. */
	usleep(50000);
	CHECK_EQ(client_stop(&c), 0);
	end = mono_ms() + WAIT_MS;
	while (r.pid > 0 && mono_ms() < end) {
		if (kill((pid_t)r.pid, 0) < 0 && errno == ESRCH) {
			gone = true;
			break;
		}
		usleep(5000);
	}
	CHECK(gone);
	if (r.pid > 0 && !gone)
		kill(-(pid_t)r.pid, SIGKILL);
	result_free(&r);
}

TEST(cmdline)
{
	struct agent_boot b;
	char buf[8];

	agent_boot_parse("console=ttyS0 kvmbox.hostname=box1 kvmbox.root=/dev/vda quiet", &b);
	CHECK(strcmp(b.hostname, "box1") == 0);
	CHECK(strcmp(b.root, "/dev/vda") == 0);
	CHECK(strcmp(b.rootfstype, "ext4") == 0);
	agent_boot_parse("xkvmbox.hostname=no kvmbox.rootfstype=virtiofs\n", &b);
	CHECK(strcmp(b.hostname, "kvmbox") == 0);
	CHECK(b.root[0] == '\0');
	CHECK(strcmp(b.rootfstype, "virtiofs") == 0);
	CHECK(b.rootflags == 0 && b.rootdata[0] == '\0');
	agent_boot_parse("kvmbox.rootflags=ro", &b);
	CHECK(b.rootflags == MS_RDONLY && b.rootdata[0] == '\0');
	agent_boot_parse("kvmbox.rootflags=,ro,,errors=remount-ro,rw,data=journal", &b);
	CHECK(b.rootflags == 0);
	CHECK(strcmp(b.rootdata, "errors=remount-ro,data=journal") == 0);
	agent_boot_parse("kvmbox.rootflags=rw,ro kvmbox.rootflags=ro,rwx", &b);
	CHECK(b.rootflags == MS_RDONLY && strcmp(b.rootdata, "rwx") == 0);
	/* An option too long for rootdata is dropped whole, not cut. */
	agent_boot_parse("kvmbox.rootflags=a,"
	                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx,b",
	                 &b);
	CHECK(strcmp(b.rootdata, "a,b") == 0);
	CHECK_ERR(agent_cmdline_param("a=1 a=22", "a", buf, sizeof(buf)), 0);
	CHECK(strcmp(buf, "22") == 0);
	CHECK_ERR(agent_cmdline_param("a=123456789", "a", buf, sizeof(buf)), -ENAMETOOLONG);
	CHECK_ERR(agent_cmdline_param("ab=1 a", "a", buf, sizeof(buf)), -ENOENT);
}

/*
 * The client library forwards signals (proto_exec_opts.signal_fd). A pipe
 * stands in for the signalfd: it yields the same signalfd_siginfo records,
 * written when the test chooses.
 */
static int put_siginfo(int fd, unsigned int signo)
{
	struct signalfd_siginfo si = { .ssi_signo = signo };

	return write(fd, &si, sizeof(si)) == (ssize_t)sizeof(si) ? 0 : -EIO;
}

/* Reads the command's output; once "go" came, sends the signal. */
struct signal_feeder {
	int out_rd, sig_wr;
	bool sent;
};

static void *signal_feeder_run(void *arg)
{
	struct signal_feeder *f = arg;
	char buf[256];
	size_t len = 0;
	ssize_t n;

	while ((n = read(f->out_rd, buf + len, sizeof(buf) - 1 - len)) > 0) {
		len += (size_t)n;
		buf[len] = '\0';
		if (!f->sent && strstr(buf, "go\n"))
			f->sent = put_siginfo(f->sig_wr, SIGUSR1) == 0;
		if (len == sizeof(buf) - 1)
			len = 0;
	}
	return NULL;
}

TEST(client_forwards_signals)
{
	static char *const argv[] = { "sh", "-c", "echo go; exec sleep 100", NULL };
	struct proto_exec_opts o = PROTO_EXEC_OPTS_INIT;
	struct signal_feeder feed = { 0 };
	struct proto_client pc = { .fd = -1 };
	struct proto_why why = { "" };
	struct client c;
	pthread_t th;
	int out[2], sig[2], status = -1;

	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(pipe(out), 0);
	CHECK_EQ(pipe2(sig, O_NONBLOCK), 0);
	feed = (struct signal_feeder){ .out_rd = out[0], .sig_wr = sig[1] };
	CHECK_EQ(pthread_create(&th, NULL, signal_feeder_run, &feed), 0);
	proto_client_adopt(&pc, c.fd);
	o.signal_fd = sig[0];
	o.timeout_ms = WAIT_MS; /* a signal that never arrives: 137, not a hang */
	CHECK_EQ(proto_client_exec(&pc, argv, &o, out[1], STDERR_FILENO, &status, &why), 0);
	close(out[1]);
	pthread_join(th, NULL);
	CHECK(feed.sent);
	/* exec.signal went to the process group: sleep died of SIGUSR1. */
	CHECK_EQ(status, 128 + SIGUSR1);
	close(out[0]);
	close(sig[0]);
	close(sig[1]);
	c.fd = -1; /* closed with pc */
	proto_client_close(&pc);
	CHECK_EQ(client_stop(&c), 0);
}

TEST(client_signal_before_start)
{
	static char *const argv[] = { "sleep", "100", NULL };
	struct proto_exec_opts o = PROTO_EXEC_OPTS_INIT;
	struct proto_client pc = { .fd = -1 };
	struct proto_why why = { "" };
	struct client c;
	int sig[2], status = -1;

	CHECK_EQ(client_start(&c), 0);
	CHECK_EQ(pipe2(sig, O_NONBLOCK), 0);
	CHECK_EQ(put_siginfo(sig[1], SIGINT), 0);
	proto_client_adopt(&pc, c.fd);
	o.signal_fd = sig[0];
	/* No exec_id to name yet: the call ends, as if SIGINT ended it. */
	CHECK_EQ(proto_client_exec(&pc, argv, &o, STDOUT_FILENO, STDERR_FILENO, &status, &why),
	         -EINTR);
	CHECK_EQ(status, 128 + SIGINT);
	CHECK(strstr(why.text, "before the command started") != NULL);
	close(sig[0]);
	close(sig[1]);
	c.fd = -1;
	proto_client_close(&pc);
	/* The server kills the sleep when the connection closes, and ends. */
	CHECK_EQ(client_stop(&c), 0);
}

CHECK_MAIN(CASE(cmdline), CASE(large_output), CASE(concurrent), CASE(timeout),
           CASE(timeout_kills_setsid_descendants), CASE(signal_delivery), CASE(pty), CASE(user),
           CASE(disconnect_kills), CASE(client_forwards_signals), CASE(client_signal_before_start))
