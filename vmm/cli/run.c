// SPDX-License-Identifier: MIT
/*
 * run: `kvmbox run`: its options and their defaults (the default kernel,
 * the agent's initramfs and root disk beside the binary, a private vsock
 * socket), then the VM built, run and torn down, and, with `-- CMD`, the
 * command run in it (run_cmd.c). A new `kvmbox run` option is a case in
 * run_parse and a line of cli_usage (main.c).
 */
#define _GNU_SOURCE
#include "vmm/cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RUN_MAX_MEM_MIB (1ull << 20) /* 1 TiB */

enum {
	OPT_APPEND = 256,
	OPT_TIMINGS_JSON,
	OPT_HUGEPAGES,
	OPT_CONSOLE,
	OPT_DISK,
	OPT_VSOCK,
	OPT_CID,
	OPT_CONTROL,
	OPT_ROOTFS,
	OPT_VOLUME,
	OPT_ROOTFS_DIR,
	OPT_CONSOLE_MAX,
	OPT_PUBLISH,
	OPT_NO_COMMAND,
	OPT_UPPER,
	OPT_SECCOMP,
};

/*
 * run_parse_disk: PATH[,ro][,id=NAME] into the next disk slot. The string
 * is argv's, cut in place at the commas. -EINVAL after one message.
 */
static int run_parse_disk(char *arg, struct vm_config *cfg)
{
	struct blk_params *d;
	char *opt, *save = NULL;

	if (cfg->nr_disks == VM_MAX_DISKS) {
		fprintf(stderr, "kvmbox: --disk: at most %d disks\n", VM_MAX_DISKS);
		return -EINVAL;
	}
	d = &cfg->disks[cfg->nr_disks];
	d->path = strtok_r(arg, ",", &save);
	if (!d->path) {
		fprintf(stderr, "kvmbox: --disk needs a path\n");
		return -EINVAL;
	}
	while ((opt = strtok_r(NULL, ",", &save)) != NULL) {
		if (strcmp(opt, "ro") == 0) {
			d->read_only = true;
		} else if (strncmp(opt, "id=", 3) == 0 && opt[3] && strlen(opt + 3) <= 20) {
			d->id = opt + 3;
		} else {
			fprintf(stderr,
			        "kvmbox: --disk %s: unknown option %s (ro, id=NAME of at most "
			        "20 bytes)\n",
			        d->path, opt);
			return -EINVAL;
		}
	}
	cfg->nr_disks++;
	return 0;
}

int run_parse(int argc, char **argv, struct run_opts *o)
{
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "append", required_argument, NULL, OPT_APPEND },
		{ "cpus", required_argument, NULL, 'n' },
		{ "memory", required_argument, NULL, 'm' },
		{ "hugepages", no_argument, NULL, OPT_HUGEPAGES },
		{ "console", required_argument, NULL, OPT_CONSOLE },
		{ "console-max", required_argument, NULL, OPT_CONSOLE_MAX },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "vsock", required_argument, NULL, OPT_VSOCK },
		{ "cid", required_argument, NULL, OPT_CID },
		{ "control", required_argument, NULL, OPT_CONTROL },
		{ "rootfs", required_argument, NULL, OPT_ROOTFS },
		{ "volume", required_argument, NULL, OPT_VOLUME },
		{ "rootfs-dir", required_argument, NULL, OPT_ROOTFS_DIR },
		{ "publish", required_argument, NULL, 'p' },
		{ "timings", no_argument, NULL, 't' },
		{ "timings-json", required_argument, NULL, OPT_TIMINGS_JSON },
		{ "env", required_argument, NULL, 'e' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ "pull", required_argument, NULL, RUN_OPT_PULL },
		{ "insecure-registry", required_argument, NULL, IMAGE_OPT_INSECURE },
		{ "auth-file", required_argument, NULL, IMAGE_OPT_AUTH_FILE },
		{ "store", required_argument, NULL, IMAGE_OPT_STORE },
		{ "net", required_argument, NULL, RUN_OPT_NET },
		{ "net-allow", required_argument, NULL, RUN_OPT_NET_ALLOW },
		{ "net-deny", required_argument, NULL, RUN_OPT_NET_DENY },
		{ "net-policy", required_argument, NULL, RUN_OPT_NET_POLICY },
		{ "no-command", no_argument, NULL, OPT_NO_COMMAND },
		{ "upper", required_argument, NULL, OPT_UPPER },
		{ "jail", required_argument, NULL, RUN_OPT_JAIL },
		{ "uid", required_argument, NULL, RUN_OPT_UID },
		{ "gid", required_argument, NULL, RUN_OPT_GID },
		{ "cpu-max", required_argument, NULL, RUN_OPT_CPU_MAX },
		{ "memory-max", required_argument, NULL, RUN_OPT_MEMORY_MAX },
		{ "pids-max", required_argument, NULL, RUN_OPT_PIDS_MAX },
		{ "seccomp", required_argument, NULL, OPT_SECCOMP },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t v;
	int c;

	o->cfg.nr_cpus = 1;
	o->cfg.mem_mib = CLI_DEFAULT_MEM_MIB;
	/* KVMBOX_SECCOMP (kill, log, off, or trap for debugging): the default
	 * of --seccomp, so that a whole test suite can run in one mode. */
	if (getenv("KVMBOX_SECCOMP") &&
	    confine_parse_mode(getenv("KVMBOX_SECCOMP"), &o->cfg.seccomp)) {
		fprintf(stderr, "kvmbox: KVMBOX_SECCOMP=%s: give kill, log, off or trap\n",
		        getenv("KVMBOX_SECCOMP"));
		return -EINVAL;
	}
	o->cfg.console_fd = STDOUT_FILENO;
	net_policy_init(&o->cfg.net.policy, NULL);
	opterr = 0; /* our own one-line messages, naming kvmbox */
	while ((c = getopt_long(argc, argv, "+:e:w:u:p:", longopts, NULL)) != -1) {
		switch (c) {
		case 'e':
		case 'w':
		case 'u':
		case RUN_OPT_PULL:
		case IMAGE_OPT_INSECURE:
		case IMAGE_OPT_AUTH_FILE:
		case IMAGE_OPT_STORE:
			if (run_image_opt(o, c, optarg))
				return -EINVAL;
			break;
		case RUN_OPT_NET:
		case RUN_OPT_NET_ALLOW:
		case RUN_OPT_NET_DENY:
		case RUN_OPT_NET_POLICY:
			if (run_net_opt(o, c, optarg))
				return -EINVAL;
			break;
		case RUN_OPT_JAIL ... RUN_OPT_PIDS_MAX:
			if (run_jail_opt(o, c, optarg))
				return -EINVAL;
			break;
		case 'k':
			o->cfg.kernel_path = optarg;
			break;
		case 'i':
			o->cfg.initrd_path = optarg;
			break;
		case 'c':
			o->cfg.cmdline = optarg;
			break;
		case OPT_APPEND:
			o->append = optarg;
			break;
		case OPT_HUGEPAGES:
			o->cfg.hugepages = true;
			break;
		case OPT_CONSOLE:
			o->console_path = optarg;
			break;
		case OPT_CONSOLE_MAX:
			if (cli_parse_u64("kvmbox", "--console-max", optarg, 0, UINT64_MAX >> 20,
			                  &v))
				return -EINVAL;
			o->console_max_mib = v;
			o->console_max_set = true;
			break;
		case OPT_VSOCK:
			if (!optarg[0]) {
				fprintf(stderr, "kvmbox: --vsock needs a path\n");
				return -EINVAL;
			}
			o->cfg.vsock.uds_path = optarg;
			break;
		case OPT_CID:
			if (cli_parse_u64("kvmbox", "--cid", optarg, 3, UINT32_MAX - 1, &o->cid))
				return -EINVAL;
			break;
		case OPT_CONTROL:
			if (!optarg[0]) {
				fprintf(stderr, "kvmbox: --control needs a path\n");
				return -EINVAL;
			}
			o->cfg.control_path = optarg;
			break;
		case OPT_ROOTFS:
			o->rootfs = optarg;
			break;
		case OPT_DISK:
			if (run_parse_disk(optarg, &o->cfg))
				return -EINVAL;
			break;
		case OPT_VOLUME:
			if (run_fs_parse_volume(o, optarg))
				return -EINVAL;
			break;
		case OPT_ROOTFS_DIR:
			if (run_fs_parse_rootfs_dir(o, optarg))
				return -EINVAL;
			break;
		case 'p':
			if (run_parse_publish(o, optarg))
				return -EINVAL;
			break;
		case OPT_NO_COMMAND:
			o->no_command = true;
			break;
		case OPT_UPPER:
			if (!optarg[0]) {
				fprintf(stderr, "kvmbox: --upper needs a host folder\n");
				return -EINVAL;
			}
			o->upper = optarg;
			break;
		case OPT_SECCOMP:
			if (confine_parse_mode(optarg, &o->cfg.seccomp) ||
			    o->cfg.seccomp == CONFINE_TRAP) {
				fprintf(stderr, "kvmbox: --seccomp %s: give kill, log or off\n",
				        optarg);
				return -EINVAL;
			}
			break;
		case 't':
			o->timings = o->cfg.count_insns = true;
			break;
		case OPT_TIMINGS_JSON:
			o->timings_json = optarg;
			o->cfg.count_insns = true;
			break;
		case 'n':
			if (cli_parse_u64("kvmbox", "--cpus", optarg, 1, VM_MAX_CPUS, &v))
				return -EINVAL;
			o->cfg.nr_cpus = (unsigned int)v;
			break;
		case 'm':
			if (cli_parse_u64("kvmbox", "--memory", optarg, VM_MIN_MEM_MIB,
			                  RUN_MAX_MEM_MIB, &v))
				return -EINVAL;
			o->cfg.mem_mib = v;
			break;
		case 'h':
			cli_usage(stdout);
			return 1; /* done: main exits 0 */
		case ':':
			fprintf(stderr, "kvmbox: %s needs a value\n", argv[optind - 1]);
			return -EINVAL;
		default:
			fprintf(stderr, "kvmbox: unrecognized option %s (see kvmbox --help)\n",
			        argv[optind - 1]);
			return -EINVAL;
		}
	}
	/*
	 * What follows the options: after "--", a command to run in the
	 * default root; else an image, then its command (after a "--" or
	 * not), as `docker run IMAGE CMD` takes it.
	 */
	if (optind < argc && strcmp(argv[optind - 1], "--") != 0) {
		o->image = argv[optind++];
		if (optind < argc && strcmp(argv[optind], "--") == 0)
			optind++;
	}
	if (optind < argc)
		o->command = argv + optind;
	if ((o->no_command || o->upper) && (!o->image || o->command)) {
		fprintf(stderr, "kvmbox: --no-command and --upper go with an IMAGE and no CMD\n");
		return -EINVAL;
	}
	o->cfg.vsock.guest_cid = o->cid ? o->cid : 3;
	return run_jail_parsed(o);
}

/*
 * run_cmdline: the default or given command line, with the root disk or
 * folder and the volumes for the agent (guest-agent/init.h, volumes.h) and
 * then --append, which can override them. Ours stay among the kernel's
 * parameters, in front of a "--" in either part (what follows it is
 * init's), and the arguments for init after one "--" keep their order.
 */
static char *run_cmdline(const struct run_opts *o, const char *base)
{
	const char *app = o->append ? o->append : "";
	size_t b_rest, a_rest, b = boot_cmdline_dashes(base, &b_rest),
	                       a = boot_cmdline_dashes(app, &a_rest);
	bool dashes = b < b_rest || a < a_rest;
	char *s, *fs, *net = NULL;

	if (run_fs_cmdline(o, &fs))
		return NULL;
	if (run_net_cmdline(o, &net) ||
	    asprintf(&s, "%.*s%s%s%s %.*s%s%s%s", (int)b, base,
	             o->root_on_vda ? " kvmbox.root=/dev/vda" : "", fs, net, (int)a, app,
	             dashes ? " --" : "", base + b_rest, app + a_rest) < 0)
		s = NULL;
	free(fs);
	free(net);
	return s;
}

/*
 * run_private_vsock: the vsock device that the agent needs (a command, a
 * control socket or --cid asks for one) listens on a private socket when
 * --vsock names none. -EINVAL after one message.
 */
static int run_private_vsock(struct run_opts *o)
{
	char tmpl[] = "/tmp/kvmbox-XXXXXX";

	if (o->cfg.vsock.uds_path ||
	    (!o->command && !o->cfg.control_path && !o->cid && !o->nr_publish))
		return 0;
	if (!mkdtemp(tmpl) || !(o->tmpdir = strdup(tmpl)) ||
	    asprintf(&o->uds_buf, "%s/vsock", tmpl) < 0) {
		fprintf(stderr, "kvmbox: cannot make a private directory: %s\n", strerror(errno));
		return -EINVAL;
	}
	o->cfg.vsock.uds_path = o->uds_buf;
	return 0;
}

/*
 * run_add_root: path as the first disk (/dev/vda, before every --disk),
 * serial "rootfs", and kvmbox.root=/dev/vda for the agent. -EINVAL after
 * one message.
 */
static int run_add_root(struct run_opts *o, const char *path, bool read_only)
{
	struct vm_config *cfg = &o->cfg;

	if (cfg->nr_disks == VM_MAX_DISKS) {
		fprintf(stderr, "kvmbox: --rootfs and --disk: at most %d disks\n", VM_MAX_DISKS);
		return -EINVAL;
	}
	memmove(&cfg->disks[1], &cfg->disks[0], cfg->nr_disks * sizeof(cfg->disks[0]));
	cfg->disks[0] = (struct blk_params){ .path = path, .read_only = read_only, .id = "rootfs" };
	cfg->nr_disks++;
	o->root_on_vda = true;
	return 0;
}

/* run_parse_rootfs: --rootfs PATH[,ro] (cut in place). -EINVAL after one message. */
static int run_parse_rootfs(struct run_opts *o)
{
	char *comma = strchr(o->rootfs, ',');
	bool ro = false;

	if (comma) {
		*comma = '\0';
		if (strcmp(comma + 1, "ro") != 0) {
			fprintf(stderr, "kvmbox: --rootfs %s: unknown option %s (ro)\n", o->rootfs,
			        comma + 1);
			return -EINVAL;
		}
		ro = true;
	}
	if (!o->rootfs[0]) {
		fprintf(stderr, "kvmbox: --rootfs needs a path\n");
		return -EINVAL;
	}
	return run_add_root(o, o->rootfs, ro);
}

/*
 * run_defaults: the kernel ($KVMBOX_KERNEL, $KVMBOX_KERNEL_DIR/vmlinux, or
 * share/kvmbox/vmlinux beside the executable) when --kernel is missing;
 * a private vsock socket where one is needed; with a command, also the
 * agent's initramfs and a quiet boot. -EINVAL after one message.
 */
static int run_defaults(struct run_opts *o)
{
	const char *env = getenv("KVMBOX_KERNEL"), *dir = getenv("KVMBOX_KERNEL_DIR");

	if (!o->cfg.kernel_path && env && *env)
		o->cfg.kernel_path = env;
	if (!o->cfg.kernel_path && dir && *dir && asprintf(&o->kernel_buf, "%s/vmlinux", dir) > 0)
		o->cfg.kernel_path = o->kernel_buf;
	if (!o->cfg.kernel_path)
		o->cfg.kernel_path = o->kernel_buf = cli_share("vmlinux");
	if (!o->cfg.kernel_path) {
		fprintf(stderr, "kvmbox: no kernel: give --kernel, or set KVMBOX_KERNEL_DIR to "
		                "tools/build-kernel's output\n");
		return -EINVAL;
	}
	if (run_private_vsock(o))
		return -EINVAL;
	/* The agent is the guest's init when a command or a control socket
	 * needs it and no other initrd was given; it switches into the root
	 * disk, by default the project's image, shared read-only. */
	if (!o->cfg.initrd_path && (o->command || o->cfg.control_path || o->nr_publish)) {
		o->cfg.initrd_path = o->initrd_buf = cli_share("agent-initrd.gz");
		if (!o->cfg.initrd_path) {
			fprintf(stderr, "kvmbox: no agent initramfs beside kvmbox (share/kvmbox/"
			                "agent-initrd.gz): give --initrd\n");
			return -EINVAL;
		}
		if (!o->rootfs && !o->root_on_fs && !o->have_img) {
			o->rootfs_buf = cli_share("rootfs.ext4");
			if (!o->rootfs_buf) {
				fprintf(stderr, "kvmbox: no root file system beside kvmbox "
				                "(share/kvmbox/rootfs.ext4): give --rootfs\n");
				return -EINVAL;
			}
			if (run_add_root(o, o->rootfs_buf, true))
				return -EINVAL;
		}
	}
	if (o->rootfs && o->root_on_fs) {
		fprintf(stderr, "kvmbox: --rootfs and --rootfs-dir: give one root\n");
		return -EINVAL;
	}
	if (o->rootfs && strcmp(o->rootfs, "none") != 0 && run_parse_rootfs(o))
		return -EINVAL;
	if (run_net_defaults(o)) /* the last device: it also counts them all */
		return -EINVAL;
	return run_console_default(o);
}

/*
 * run_private_forget: once the vsock device listens, its private socket
 * and folder are no longer needed by name (our own command and the control
 * socket reach the device without them, and nobody else was told the
 * path): remove both now, so that a kvmbox killed with SIGKILL leaves
 * nothing behind in /tmp.
 */
static void run_private_forget(struct run_opts *o)
{
	if (!o->tmpdir)
		return;
	unlink(o->uds_buf);
	rmdir(o->tmpdir);
	free(o->tmpdir);
	o->tmpdir = NULL;
}

void run_opts_free(struct run_opts *o)
{
	run_image_free(o);
	run_publish_free(o);
	if (o->tmpdir)
		rmdir(o->tmpdir);
	free(o->kernel_buf);
	free(o->initrd_buf);
	free(o->tmpdir);
	free(o->uds_buf);
	free(o->rootfs_buf);
}

int cli_run(int argc, char **argv)
{
	struct run_opts o = { 0 };
	struct vm *vm;
	char *cmdline = NULL;
	sigset_t block;
	int status = VM_EXIT_ERROR, json_fd = -1, err;

	static struct run_cmd rc;

	status = run_parse(argc, argv, &o);
	if (status)
		return status > 0 ? 0 : VM_EXIT_USAGE;
	status = VM_EXIT_ERROR;
	if (o.console_path && run_console_open(&o))
		return VM_EXIT_ERROR;
	if (o.image) {
		err = run_image_prepare(&o);

		if (err) {
			run_opts_free(&o);
			return err == -EINVAL ? VM_EXIT_USAGE : VM_EXIT_ERROR;
		}
	}
	if (run_defaults(&o)) {
		run_opts_free(&o);
		return VM_EXIT_USAGE;
	}
	/* Outputs are opened before the boot: a path that cannot be written
	 * is refused now, not found out after the guest ran. */
	if (o.timings_json) {
		json_fd = open(o.timings_json, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (json_fd < 0) {
			fprintf(stderr, "kvmbox: --timings-json %s: %s\n", o.timings_json,
			        strerror(errno));
			run_opts_free(&o);
			return VM_EXIT_ERROR;
		}
	}
	o.cfg.console_input = !o.command && isatty(STDIN_FILENO);
	/* Signals: the stop signals go to a signalfd, the kick to vCPU threads
	 * only; block them all before any thread exists so all inherit it. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (vcpu_signals_init() < 0)
		return VM_EXIT_ERROR;
	/* --jail: from here on, the parent only waits (run_jail.c). */
	if (o.jail.dir && run_jail(&o, &status) != 0) {
		run_opts_free(&o);
		if (json_fd >= 0)
			close(json_fd);
		return status;
	}

	/* The run's env, folder and user serve every exec, not only its own
	 * command: kvmbox exec into an image's VM sees the image's Env. */
	o.cfg.exec_env = (const char *const *)(o.env_buf ? o.env_buf : o.nr_env ? o.env : NULL);
	o.cfg.exec_cwd = o.workdir;
	o.cfg.exec_user = o.user;
	vm = malloc(sizeof(*vm));
	if (!vm) {
		fprintf(stderr, "kvmbox: out of memory\n");
		return VM_EXIT_ERROR;
	}
	err = vm_init(vm, &o.cfg);
	if (err) {
		fprintf(stderr, "kvmbox: cannot set the VM up: %s\n", strerror(-err));
		goto out;
	}
	cmdline = run_cmdline(&o, vm->cfg.cmdline);
	if (!cmdline) {
		fprintf(stderr, "kvmbox: out of memory\n");
		goto out;
	}
	vm->cfg.cmdline = cmdline;
	if (vm_load(vm) || vm_create(vm))
		goto out;
	run_private_forget(&o);
	if (run_publish(&o, vm) || run_jail_drop(&o))
		goto out;
	rc.env = o.env_buf ? o.env_buf : o.nr_env ? o.env : NULL;
	rc.cwd = o.workdir;
	rc.user = o.user;
	if (o.command && run_cmd_start(&rc, vm, o.command)) {
		fprintf(stderr, "kvmbox: cannot start the command thread\n");
		goto out;
	}
	status = vm_run(vm);
	if (o.command) {
		int cmd = run_cmd_finish(&rc);

		/* The command's status; if it has none, the VM's, or 1. */
		status = cmd >= 0 ? cmd : status ? status : VM_EXIT_ERROR;
	}
	if (o.timings)
		timeline_print(&vm->tl, stderr);
	if (json_fd >= 0) {
		err = timeline_write_json(&vm->tl, json_fd);

		if (!err && close(json_fd) < 0)
			err = -errno;
		json_fd = -1;
		if (err) {
			/* The run's output is incomplete: not a success. */
			fprintf(stderr, "kvmbox: --timings-json %s: %s\n", o.timings_json,
			        strerror(-err));
			if (!status)
				status = VM_EXIT_ERROR;
		}
	}
out:
	vm_destroy(vm);
	free(vm);
	free(cmdline);
	run_opts_free(&o);
	if (json_fd >= 0)
		close(json_fd);
	return status;
}
