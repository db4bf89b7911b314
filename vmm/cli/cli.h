// SPDX-License-Identifier: MIT
/*
 * cli/: the kvmbox command line, the top of the program: nothing includes
 * this folder, so it has no public header, and this is its private one.
 *
 *   main.c     the verbs (run, exec, status, stop) and the usage text;
 *              the one place that exits. A new verb is one line there.
 *   run.c      `kvmbox run`: its options and defaults, building the VM
 *   run_cmd.c  `kvmbox run -- CMD`: the thread that runs CMD in the guest
 *   run_console.c `kvmbox run --console`: the console's file, or a quiet boot
 *   run_jail.c `kvmbox run --jail`: what the VM needs in its jail, and when
 *              to enter it and drop the ids (vmm/confine/jail.h)
 *   ctl_cmd.c  `kvmbox exec|status|stop`: clients of a control socket
 *   metrics_cmd.c `kvmbox metrics`: a stream of samples of what the VM uses
 *   cp_cmd.c   `kvmbox cp`: files and folders in and out of the guest
 *   fs_cmd.c   `kvmbox fs ls|cat|stat|rm|mkdir`, and what cp shares
 *   ports_cmd.c `kvmbox ports publish|list|close` and `kvmbox run --publish`
 *   cli.c      what the verbs share in reading their arguments, and
 *              cli_socket: a sandbox's name where a SOCKET is taken
 *   sandbox_state.c  named sandboxes' state folders: names, the folder
 *              as the create lock, config.json, liveness by a lock
 *   sandbox_spawn.c  a sandbox's VMM started detached, and its waits
 *   sandbox_cmd.c    `kvmbox create|start|ls|logs`
 *   sandbox_rm.c     `kvmbox stop NAME` and `kvmbox rm`
 *
 * The CLI uses the VM (vmm/vm.h) and the protocol's client (proto/); the
 * VM knows nothing of it.
 */
#ifndef KVMBOX_VMM_CLI_CLI_H
#define KVMBOX_VMM_CLI_CLI_H

#include "oci/oci.h"
#include "proto/client.h"
#include "vmm/confine/jail.h"
#include "vmm/vm.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/*
 * cli: what the kvmbox commands (run, exec, status, stop) share in reading
 * their command lines.
 */

/*
 * image_cmd: kvmbox pull, images and rmi (image_cmd.c), and what kvmbox run
 * IMAGE shares with them: the store's options, and the pull.
 */
enum {
	IMAGE_OPT_INSECURE = 512, /* --insecure-registry HOST[:PORT] */
	IMAGE_OPT_AUTH_FILE,      /* --auth-file FILE */
	IMAGE_OPT_STORE,          /* --store DIR */
};
#define IMAGE_MAX_INSECURE 16
struct image_opts {
	const char *insecure[IMAGE_MAX_INSECURE + 1]; /* NULL-terminated */
	unsigned int nr_insecure;
	const char *auth_file, *store;
};
/* image_opt: getopt's c (one of IMAGE_OPT_*) into io; -ENOENT if not
 * one of them, -EINVAL after a message. */
int image_opt(struct image_opts *io, int c, const char *arg);
/* image_store_open, image_parse_ref, image_pull: the oci/ calls, with
 * their messages on stderr; 0 or -errno. */
int image_store_open(const struct image_opts *io, struct oci_store **st);
int image_parse_ref(const char *s, struct oci_ref *ref);
int image_pull(const struct image_opts *io, struct oci_store *st, const struct oci_ref *ref,
               const char *typed);
int image_cmd_pull(int argc, char **argv);
int image_cmd_images(int argc, char **argv);
int image_cmd_rmi(int argc, char **argv);

/* kvmbox run --pull: when IMAGE is fetched. */
enum run_pull { RUN_PULL_MISSING = 0, RUN_PULL_ALWAYS, RUN_PULL_NEVER };
#define RUN_OPT_PULL 600 /* getopt's value for --pull */
/* getopt's values for --net, --net-allow, --net-deny, --net-policy (run_net.c) */
enum { RUN_OPT_NET = 700, RUN_OPT_NET_ALLOW, RUN_OPT_NET_DENY, RUN_OPT_NET_POLICY };
/* getopt's values for --jail, --uid, --gid, --cpu-max, --memory-max, --pids-max (run_jail.c) */
enum {
	RUN_OPT_JAIL = 800,
	RUN_OPT_UID,
	RUN_OPT_GID,
	RUN_OPT_CPU_MAX,
	RUN_OPT_MEMORY_MAX,
	RUN_OPT_PIDS_MAX
};
#define RUN_MAX_ENV 4096

/* kvmbox run's options, as run.c and run_fs.c read them. */
struct run_opts {
	struct vm_config cfg;
	char *const *command; /* NULL: none, the guest runs its own init */
	char *kernel_buf, *initrd_buf, *tmpdir, *uds_buf, *rootfs_buf;
	char *rootfs;     /* --rootfs PATH[,ro] or "none"; NULL: the default */
	bool root_on_vda; /* the root disk is /dev/vda: tell the agent */
	bool root_on_fs;  /* --rootfs-dir: the root is virtio-fs "rootfs" */
	bool root_fs_ro;
	const char *share_guest[VM_MAX_SHARES]; /* a volume's guest path; NULL: the root */
	const char *append;
	const char *console_path;
	uint64_t console_max_mib; /* --console-max */
	bool console_max_set;
	const char *timings_json;
	bool timings;
	uint64_t cid; /* --cid; 0: not given */
	/* kvmbox run IMAGE (run_image.c) */
	const char *image; /* the operand as typed; NULL: none */
	struct image_opts image_opts;
	enum run_pull pull;
	struct oci_store *store; /* held while the VM runs */
	struct oci_image img;
	bool have_img;
	char **cmd_buf; /* the command the image's config and ours make */
	/* -e, -w, -u: the command's environment, folder and user (over the image's) */
	const char **env; /* NULL-terminated once nr_env > 0; grown per -e */
	unsigned int nr_env;
	const char *workdir, *user;
	const char **env_buf; /* the image's Env with -e over it */
	/* --publish SPEC: published on the VM's control server before it boots */
	struct control_port_spec publish[CONTROL_MAX_PORTS];
	const char *publish_arg[CONTROL_MAX_PORTS];
	char *publish_buf[CONTROL_MAX_PORTS]; /* what publish[] points into */
	unsigned int nr_publish;
	/* --net and the policy (run_net.c) */
	bool net_set, net_policy_set;
	/* --no-command: with IMAGE, run none of its commands (kvmbox create) */
	bool no_command;
	const char *upper;       /* --upper DIR: an image's writable layer on the host */
	uint32_t net_dns;        /* the guest's resolver for kvmbox.net=; 0: none */
	struct jail_config jail; /* --jail and its options (run_jail.c); dir NULL: none */
};

/* run_jail_opt: one of RUN_OPT_JAIL.. into o; -EINVAL after one message.
 * run_jail_parsed: at the end of run_parse: the jail's options agree, DIR
 * is a folder, we are root; -EINVAL after one message. */
__attribute__((warn_unused_result)) int run_jail_opt(struct run_opts *o, int c, const char *arg);
__attribute__((warn_unused_result)) int run_jail_parsed(const struct run_opts *o);
/* run_jail_binds: what o's VM needs in its jail into b[0..*n) (jail.h),
 * folders it made in owned (NULL-terminated, the caller frees each). */
__attribute__((warn_unused_result)) int
run_jail_binds(const struct run_opts *o, struct jail_bind *b, unsigned int *n, char **owned);
/* run_jail: with --jail, after run_defaults and with the stop signals
 * blocked: 0 in the jailed child, which goes on to build the VM; 1 in the
 * parent once the child ended, or -1 after one message; *status is then
 * what kvmbox run exits with. run_jail_drop: the uid and gid dropped once
 * the VM is built, before the guest runs (no-op without a jail). */
__attribute__((warn_unused_result)) int run_jail(struct run_opts *o, int *status);
__attribute__((warn_unused_result)) int run_jail_drop(const struct run_opts *o);

/* run_console_open: --console PATH or none into o->cfg; -errno after one
 * message. run_console_default: without --console, a command's run boots
 * quietly (the console on stdout otherwise); 0 or -errno after one message. */
__attribute__((warn_unused_result)) int run_console_open(struct run_opts *o);
__attribute__((warn_unused_result)) int run_console_default(struct run_opts *o);

/* run_net_opt: --net, --net-allow, --net-deny, --net-policy into o (arg
 * may be cut in place); -EINVAL after one message. */
__attribute__((warn_unused_result)) int run_net_opt(struct run_opts *o, int c, char *arg);
/* run_net_defaults: the default network, the guest's addresses, MAC and
 * the host's networks for the policy, and the count of virtio devices
 * checked with the network's; -EINVAL after one message. */
__attribute__((warn_unused_result)) int run_net_defaults(struct run_opts *o);
/* run_net_cmdline: " kvmbox.net=IP/N,GW[,DNS]" or "" (malloc'd); 0 or -ENOMEM. */
__attribute__((warn_unused_result)) int run_net_cmdline(const struct run_opts *o, char **out);

/* run_image_prepare: IMAGE's layers as the root (pulled as --pull says)
 * and its config's command, environment, folder and user under ours.
 * After one message: -EINVAL for a usage error (a bad reference, options
 * that do not go with an image), -EIO for the rest (the pull failed, the
 * image is missing). run_image_free undoes it. */
__attribute__((warn_unused_result)) int run_image_prepare(struct run_opts *o);
void run_image_free(struct run_opts *o);
/* run_image_opt: -e, -w, -u, --pull and the image options into o;
 * -EINVAL after a message. */
__attribute__((warn_unused_result)) int run_image_opt(struct run_opts *o, int c, const char *arg);
/* run_fs_add_image: the image's layers as the share the agent makes the root. */
__attribute__((warn_unused_result)) int run_fs_add_image(struct run_opts *o);

/*
 * ports_cmd: published ports (ports_cmd.c). cli_parse_publish reads
 * [HOSTIP:]HOSTPORT:GUESTPORT or PATH:GUESTPORT (s cut in place; spec
 * points into it); -EINVAL after one message naming prog.
 */
__attribute__((warn_unused_result)) int cli_parse_publish(const char *prog, char *s,
                                                          struct control_port_spec *spec);
/* run_parse_publish: kvmbox run --publish SPEC into o; -EINVAL after a message. */
__attribute__((warn_unused_result)) int run_parse_publish(struct run_opts *o, const char *arg);
/* run_publish: publish o's ports on vm's control server (after vm_create); -errno after a message.
 */
__attribute__((warn_unused_result)) int run_publish(struct run_opts *o, struct vm *vm);
void run_publish_free(struct run_opts *o);
/* kvmbox ports publish|list|close SOCKET ... */
int ctl_cmd_ports(int argc, char **argv);

/* run_fs_parse_volume: --volume HOSTDIR:GUESTPATH[:ro] (arg cut in place). */
__attribute__((warn_unused_result)) int run_fs_parse_volume(struct run_opts *o, char *arg);
/* run_fs_parse_rootfs_dir: --rootfs-dir DIR[,ro] (arg cut in place). */
__attribute__((warn_unused_result)) int run_fs_parse_rootfs_dir(struct run_opts *o, char *arg);
/* run_fs_cmdline: what the agent must hear of the shares: " kvmbox.root=...
 * kvmbox.volumes=..." or "" (malloc'd). 0 or -ENOMEM. */
__attribute__((warn_unused_result)) int run_fs_cmdline(const struct run_opts *o, char **out);

/* The default guest RAM of `kvmbox run`, in MiB. */
#define CLI_DEFAULT_MEM_MIB 128

/*
 * cli_share: <directory of this executable>/share/kvmbox/NAME if it
 * exists (malloc'd), else NULL: where the build puts the guest's kernel,
 * the agent's initramfs and the root image.
 */
char *cli_share(const char *name);

/* cli_usage: the whole usage text (main.c). */
void cli_usage(FILE *f);

/* kvmbox run [OPTIONS] [-- CMD ARGS...] (run.c); returns the exit status. */
int cli_run(int argc, char **argv);
/*
 * run_parse: kvmbox run's command line (argv[0] the verb) into o, which
 * keeps pointers into argv and cuts some of its strings in place. 0, 1
 * after --help, or -EINVAL after one message. Set optind to 0 first when
 * getopt ran before in this process.
 */
int run_parse(int argc, char **argv, struct run_opts *o);
/* run_opts_free: what run_parse and the defaults allocated in o. */
void run_opts_free(struct run_opts *o);

/*
 * cli_socket: the control socket that arg names where a SOCKET is taken:
 * arg itself when it holds a '/' or no sandbox has that name, else the
 * named sandbox's (sandbox_state). buf (PATH_MAX) holds it then.
 */
const char *cli_socket(const char *arg, char *buf);

/*
 * sandbox_state: named sandboxes (docs/sandboxes.md). Each has a folder
 * under the state root ($KVMBOX_SANDBOX_DIR, $XDG_RUNTIME_DIR/kvmbox, or
 * /tmp/kvmbox-UID), made by mkdir, which is the lock of `create`: the
 * files in it are SBX_* below.
 */
#define SBX_NAME_MAX 63
#define SBX_CONFIG   "config.json"
#define SBX_PID      "pid"
#define SBX_LOCK     "lock"
#define SBX_SOCK     "control.sock"
#define SBX_CONSOLE  "console.log"
#define SBX_VMM_LOG  "vmm.log"
#define SBX_ROOTFS   "rootfs.ext4"
#define SBX_UPPER    "upper"
#define SBX_MAX_ARGS 512

/* What `kvmbox create` saved, and `kvmbox start` boots again. */
struct sbx_config {
	char **argv; /* kvmbox run's options and IMAGE, NULL-terminated */
	char *image; /* IMAGE as typed; NULL: the default root */
	char *cwd;   /* where create ran: relative paths in argv are from there */
	char **env;  /* "K=V": the KVMBOX_* variables create saw, NULL-terminated */
	unsigned int cpus;
	uint64_t mem_mib;
	bool persistent;
	int64_t created; /* seconds since the epoch */
};

/* What a sandbox's folder says about it (sbx_probe). */
enum sbx_state {
	SBX_CREATING, /* no config yet: a create is under way */
	SBX_RUNNING,  /* its VMM holds the lock */
	SBX_STOPPED,  /* no VMM, stopped by kvmbox stop (or never started) */
	SBX_EXITED,   /* no VMM, which ended by itself and cleaned up */
	SBX_DEAD,     /* no VMM, which ended without cleaning up (killed) */
};

/* sbx_name_ok: [a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}; 0 or -EINVAL. */
int sbx_name_ok(const char *name);
/* sbx_root: the state root into buf (PATH_MAX), made (0700) when make is
 * set; it must be a folder of ours that no one else may write. 0 or
 * -errno (-ENOENT when missing and !make). quiet: no message. */
int sbx_root(char *buf, bool make, bool quiet);
/* sbx_path: ROOT/NAME[/FILE] into buf (PATH_MAX), file may be NULL;
 * nothing is made. 0 or -errno (-ENAMETOOLONG: the socket path is over
 * sun_path's 107 bytes). */
int sbx_path(const char *name, const char *file, char *buf);
/* sbx_join: DIR/FILE into buf (PATH_MAX); 0 or -ENAMETOOLONG. */
int sbx_join(char *buf, const char *dir, const char *file);
/* sbx_claim: make NAME's folder; -EEXIST when it is there (the race of
 * two creates is decided here), 0, or -errno after a message. */
int sbx_claim(const char *name);
/* sbx_remove: NAME's folder and all in it (renamed away first, so the
 * name is free at once); 0 or -errno. */
int sbx_remove(const char *name);
/* sbx_config_write, sbx_config_read: dir/config.json (written whole, by a
 * rename); 0 or -errno. sbx_config_free: what read allocated. */
int sbx_config_write(const char *dir, const struct sbx_config *c);
int sbx_config_read(const char *dir, struct sbx_config *c);
void sbx_config_free(struct sbx_config *c);
/* sbx_lock_take: in the process that becomes the VMM: dir/lock opened
 * (not close-on-exec: the lock must survive the exec) and write-locked
 * (fcntl F_SETLK, a lock of this process that execve keeps and its death
 * drops). The fd, or -EAGAIN when another holds it, or -errno. */
int sbx_lock_take(const char *dir);
/* sbx_holder: the pid that holds dir/lock in *pid: 1, 0 when none does,
 * or -errno. The lock, not the pid file, is the proof of life: a pid may
 * be reused, a lock dies with its process. */
int sbx_holder(const char *dir, pid_t *pid);
/* sbx_probe: dir's state, and its VMM's pid when running. */
enum sbx_state sbx_probe(const char *dir, pid_t *pid);
/* sbx_state_name: "running", "stopped", ... */
const char *sbx_state_name(enum sbx_state s);

/*
 * sandbox_spawn: a sandbox's VMM, `kvmbox run --control DIR/control.sock
 * --console DIR/console.log ARGV...` in a daemon (double fork, setsid,
 * stdin /dev/null, stdout and stderr to DIR/vmm.log) that holds DIR/lock
 * for its life. 0 once the exec happened, or -errno after a message.
 */
int sbx_spawn(const char *name, const char *dir, const struct sbx_config *c);
/* sbx_wait_ready: until the control socket's status says the guest is
 * ready (0), the VMM is gone (-ESRCH), or wait_s passed (-ETIMEDOUT). */
int sbx_wait_ready(const char *dir, unsigned int wait_s);
/* sbx_wait_exit: until no VMM holds the lock (0) or wait_s passed (-ETIMEDOUT). */
int sbx_wait_exit(const char *dir, unsigned int wait_s);
/* sbx_status: the control socket's status reply, quietly; 0 or -errno. */
int sbx_status(const char *dir, int wait_ms, json_t **reply);
/* sbx_tail: the last n lines of dir/file on f, each after prefix. */
void sbx_tail(const char *dir, const char *file, unsigned int n, const char *prefix, FILE *f);
/* sbx_kill: SIGKILL to the lock's holder (checked again through a pidfd, so
 * that a reused pid is never signalled); 0 or -errno. */
int sbx_kill(const char *dir);

/* sbx_lookup: NAME's folder into dir (PATH_MAX); -ENOENT after one
 * message naming prog when no sandbox has that name. */
int sbx_lookup(const char *prog, const char *name, char *dir);

/* The verbs (sandbox_cmd.c, sandbox_rm.c). */
int sbx_cmd_create(int argc, char **argv);
int sbx_cmd_start(int argc, char **argv);
int sbx_cmd_ls(int argc, char **argv);
int sbx_cmd_logs(int argc, char **argv);
int sbx_cmd_rm(int argc, char **argv);
/* sbx_cmd_stop: kvmbox stop NAME: stop it and wait for its VMM to end;
 * any other operand is kvmbox stop SOCKET (ctl_cmd_stop). */
int sbx_cmd_stop(int argc, char **argv);

/*
 * cli_parse_u64: s as a whole decimal number in [min, max] into *out; 0,
 * or -EINVAL after one line on stderr: "PROG: OPT S: expected a number
 * from MIN to MAX". No sign, no space, no suffix, no overflow.
 */
__attribute__((warn_unused_result)) int cli_parse_u64(const char *prog, const char *opt,
                                                      const char *s, uint64_t min, uint64_t max,
                                                      uint64_t *out);

/*
 * ctl_cmd: the CLI's clients of a running microVM's control socket
 * (docs/protocol.md): `kvmbox exec`, `kvmbox status` and `kvmbox stop`.
 * Each returns the process's exit status.
 */

/* Exit statuses of kvmbox exec besides the command's own (README.md). */
#define CTL_EXIT_FAILED    125 /* kvmbox exec itself failed: socket, protocol, agent */
#define CTL_EXIT_CANNOT    126 /* the command was found but could not be started */
#define CTL_EXIT_NOT_FOUND 127 /* no such command, cwd or user */

/* ctl_exec_status: the exit status for a failed proto_client_exec (-errno). */
int ctl_exec_status(int err);

/* kvmbox exec [-t] [-e K=V]... [-w DIR] [-u USER] [--timeout S] SOCKET -- CMD ARGS... */
int ctl_cmd_exec(int argc, char **argv);

/* kvmbox status SOCKET: the status reply as JSON on stdout. */
int ctl_cmd_status(int argc, char **argv);

/* kvmbox stop [--force] SOCKET */
int ctl_cmd_stop(int argc, char **argv);

/* kvmbox metrics [--interval S] [--count N] [--guest-wait S] SOCKET: samples as lines of JSON
 * (metrics_cmd.c). */
int ctl_cmd_metrics(int argc, char **argv);

/*
 * fs_cmd, cp_cmd: the guest's files through the control socket
 * (docs/protocol.md, "File operations").
 */
struct proto_fs_status;

/* kvmbox cp [-r] SRC DST, one of them SOCKET:PATH (cp_cmd.c). */
int ctl_cmd_cp(int argc, char **argv);

/* kvmbox fs ls|cat|stat|rm|mkdir SOCKET PATH (fs_cmd.c). */
int ctl_cmd_fs(int argc, char **argv);

/* cli_fs_open: connect to the control socket sock, one line on failure; 0 or -errno. */
int cli_fs_open(const char *prog, const char *sock, struct proto_client *c);

/*
 * cli_fs_fail: the one line for a failed file op: "PROG: SOCK:PATH: reason"
 * for the guest's side (PATH: st's, or guest), "PROG: LOCAL/ENTRY: reason"
 * for this side's, "PROG: SOCK: why" for the connection's.
 */
void cli_fs_fail(const char *prog, const char *sock, const char *guest, const char *local, int err,
                 const struct proto_fs_status *st, const struct proto_why *why);

/*
 * run_cmd: `kvmbox run ... -- CMD ARGS`: a thread that runs CMD in the
 * guest through the control socket's relay to the agent (vmm/control/control.h),
 * with its output on our stdout and stderr, then asks the agent to end the
 * VM.
 *
 * The thread holds one end of a socketpair whose other end is a control
 * connection, so it speaks docs/protocol.md exactly as a host program on
 * --control would (proto/client.h): the VMM grants itself nothing special,
 * and every `kvmbox run -- CMD` exercises the control socket's path.
 */

/* How long the agent may take to start the command: the VMM retries the
 * agent's port for 60 s while the guest boots (docs/protocol.md). */
#define RUN_CMD_START_WAIT_MS 90000
/* How long the guest may take to power off after the agent said it would. */
#define RUN_CMD_STOP_GRACE_MS 10000

struct run_cmd {
	struct vm *vm;
	char *const *argv;
	const char *const *env; /* K=V, NULL-terminated, or NULL */
	const char *cwd, *user; /* NULL: the agent's defaults */
	pthread_t thread;
	bool started;
	int status; /* CMD's status, or -1 when it did not run to the end */
	struct proto_why why;
	struct proto_client client;
};

/*
 * run_cmd_start: connect to the control socket and start the thread, on
 * the main thread before vm_run; 0 or -errno.
 */
__attribute__((warn_unused_result)) int run_cmd_start(struct run_cmd *rc, struct vm *vm,
                                                      char *const *argv);

/*
 * run_cmd_finish: after vm_run returned: unblock the thread if the VM ended
 * first, join it. Returns CMD's status, or -1 after one message saying why
 * it has none.
 */
int run_cmd_finish(struct run_cmd *rc);

#endif
