// SPDX-License-Identifier: MIT
/*
 * kvmbox: the command line's entry: the verbs and the usage text. The one
 * place that exits (every verb returns its status here).
 */
#define _GNU_SOURCE
#include "vmm/cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KVMBOX_VERSION "0.1.0"

void cli_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: kvmbox run [--kernel PATH] [--initrd PATH] [--cmdline STR] [--append STR]\n"
	    "                  [--cpus N] [--memory MiB] [--hugepages] [--console PATH|none]\n"
	    "                  [--console-max MiB]\n"
	    "                  [--disk PATH[,ro][,id=NAME]]... [--vsock PATH] [--cid N]\n"
	    "                  [--control PATH] [--rootfs PATH[,ro]|none]\n"
	    "                  [--rootfs-dir DIR[,OPTS]] [--volume HOSTDIR:GUESTPATH[:OPTS]]...\n"
	    "                  [--publish [HOSTIP:]HOSTPORT:GUESTPORT|PATH:GUESTPORT]...\n"
	    "                  [--net "
	    "none|user|passt|tap=NAME|tap-fd=N[,ip=CIDR][,gw=IP][,dns=IP]]\n"
	    "                  [--net-allow CIDR[:PORT]]... [--net-deny CIDR[:PORT]]...\n"
	    "                  [--net-policy public|all|none]\n"
	    "                  [--timings] [--timings-json PATH]\n"
	    "                  [-e K=V]... [-w DIR] [-u USER]\n"
	    "                  [--pull missing|always|never] [--insecure-registry HOST]...\n"
	    "                  [--auth-file FILE] [--store DIR]\n"
	    "                  [--no-command] [--upper DIR] [--seccomp kill|log|off]\n"
	    "                  [--jail DIR --uid U --gid G [--cpu-max QUOTA[/PERIOD]]\n"
	    "                   [--memory-max MiB] [--pids-max N]]\n"
	    "                  [IMAGE] [-- CMD ARGS...]\n"
	    "       kvmbox create --name NAME [--persistent] [--wait S] [run options] [IMAGE]\n"
	    "       kvmbox start [--wait S] NAME | kvmbox stop [--force] NAME\n"
	    "       kvmbox ls [--json] | kvmbox logs [--vmm] [-f] NAME | kvmbox rm [-f] NAME...\n"
	    "       kvmbox pull [--insecure-registry HOST]... [--auth-file FILE] REF\n"
	    "       kvmbox images | kvmbox rmi REF...   (kvmbox pull --help)\n"
	    "       kvmbox exec [-t] [-e K=V]... [-w DIR] [-u USER] [--timeout S]\n"
	    "                   SOCKET -- CMD ARGS...   (kvmbox exec --help)\n"
	    "       kvmbox status [--guest-wait S] SOCKET\n"
	    "       kvmbox metrics [--interval S] [--count N] [--guest-wait S] SOCKET\n"
	    "       kvmbox stop [--force] SOCKET\n"
	    "       kvmbox cp [-r] SRC DST   (one of them SOCKET:PATH; kvmbox cp --help)\n"
	    "       kvmbox fs ls|cat|stat|rm|mkdir [-r|-l|-p] SOCKET PATH\n"
	    "       kvmbox ports publish|list|close SOCKET ...   (kvmbox ports --help)\n"
	    "       kvmbox --version | --help\n"
	    "  (wherever SOCKET is taken, a sandbox's NAME is too: docs/sandboxes.md)\n"
	    "\n"
	    "  --kernel PATH        bzImage or uncompressed ELF vmlinux (x86-64); default\n"
	    "                       $KVMBOX_KERNEL, $KVMBOX_KERNEL_DIR/vmlinux, or\n"
	    "                       share/kvmbox/vmlinux beside kvmbox\n"
	    "  --initrd PATH        initramfs, loaded as high as the kernel allows\n"
	    "  --cmdline STR        kernel command line, replacing the default\n"
	    "  --append STR         added to the command line\n"
	    "  --cpus N             vCPUs, 1 to %d (default 1)\n"
	    "  --memory MiB         guest RAM, %d MiB to 1 TiB (default %d)\n"
	    "  --hugepages          back guest RAM with 2 MiB hugepages\n"
	    "  --console PATH       guest serial output to PATH instead of stdout (not a\n"
	    "                       symlink; a regular file is emptied first); none: a\n"
	    "                       quiet boot, the guest has no console (the default\n"
	    "                       with a command) and a kernel panic ends the run\n"
	    "                       with status 5 and its reason on stderr\n"
	    "  --console-max MiB    what --console PATH may take in all (default 64;\n"
	    "                       0: no limit); the rest is dropped\n"
	    "  --disk PATH[,ro][,id=NAME]\n"
	    "                       a raw image as virtio-blk (/dev/vda, vdb, ...),\n"
	    "                       read-only with ro, serial NAME (default: file name)\n"
	    "  --vsock PATH         virtio-vsock: host programs connect to the unix\n"
	    "                       socket PATH and write \"CONNECT <port>\\n\"; guest\n"
	    "                       connections to host port P go to the unix socket PATH_P\n"
	    "  --cid N              the guest's vsock CID, 3 to 2^32 - 2 (default 3)\n"
	    "  --control PATH       the control socket (docs/protocol.md): run commands\n"
	    "                       in the guest with kvmbox exec PATH -- CMD\n"
	    "  --rootfs PATH[,ro]   the guest agent's root file system, /dev/vda (default\n"
	    "                       with a command or --control and no --initrd:\n"
	    "                       share/kvmbox/rootfs.ext4, read-only; none: no disk)\n"
	    "  --rootfs-dir DIR[,OPTS]\n"
	    "                       the root file system is the host folder DIR, shared\n"
	    "                       over virtio-fs (instead of --rootfs)\n"
	    "  --volume HOSTDIR:GUESTPATH[:OPTS]\n"
	    "                       share HOSTDIR over virtio-fs; the agent mounts it at\n"
	    "                       GUESTPATH before the command runs (up to 8)\n"
	    "                       OPTS, comma-separated: ro; cache=auto (default: host\n"
	    "                       changes seen within 1 s) or cache=always (the guest\n"
	    "                       caches for a day: for folders only it changes)\n"
	    "  -p, --publish [HOSTIP:]HOSTPORT:GUESTPORT | PATH:GUESTPORT\n"
	    "                       relay connections to HOSTIP:HOSTPORT (default\n"
	    "                       127.0.0.1; HOSTPORT 0: any, said on stderr) or to the\n"
	    "                       unix socket PATH to the guest's 127.0.0.1:GUESTPORT,\n"
	    "                       through the agent; no network device needed\n"
	    "  --net MODE           virtio-net (docs/network.md): user (libslirp; the\n"
	    "                       guest is 10.0.2.15, the gateway 10.0.2.2 is the host's\n"
	    "                       loopback, 10.0.2.3 its resolver), passt (the same\n"
	    "                       through a passt process; resolver UDP only),\n"
	    "                       tap=NAME (a host tap, same addresses unless ip=,\n"
	    "                       gw=, dns= say), tap-fd=N (a tap opened by the\n"
	    "                       caller with IFF_NO_PI|IFF_VNET_HDR, as fd N), none\n"
	    "                       (default: user with a command or --control, else none)\n"
	    "  --net-allow CIDR[:PORT[-PORT]], --net-deny CIDR[:PORT[-PORT]]\n"
	    "                       egress rules on every frame the guest sends; IPv6 as\n"
	    "                       ADDR[/N] or [ADDR[/N]]:PORT; deny rules win\n"
	    "  --net-policy BASE    what no rule decides: public (default: public\n"
	    "                       addresses only, not the host's networks), all, none\n"
	    "  --timings            print the boot timeline and exit counts on stderr\n"
	    "  --timings-json PATH  write them as JSON to PATH\n"
	    "  -e K=V, -w DIR, -u USER\n"
	    "                       CMD's environment (added), folder and user\n"
	    "  IMAGE                the root is this OCI image (NAME[:TAG], REGISTRY/NAME,\n"
	    "                       oci:DIR[:TAG], docker-archive:FILE), its layers shared\n"
	    "                       read-only under a writable tmpfs layer; CMD runs\n"
	    "                       after its Entrypoint (default: its Cmd), with its Env,\n"
	    "                       WorkingDir and User unless -e, -w, -u say otherwise\n"
	    "  --pull WHEN          fetch IMAGE: missing (default), always, never\n"
	    "  --no-command         with IMAGE, run none of its commands: the VM waits\n"
	    "                       for kvmbox exec (what kvmbox create does)\n"
	    "  --upper DIR          with IMAGE, the writable layer is the host folder\n"
	    "                       DIR (kept across boots) instead of a tmpfs\n"
	    "  --jail DIR           (root) the VMM in new namespaces, its root a tmpfs on\n"
	    "                       DIR with only this VM's files, as uid U and gid G\n"
	    "                       (--uid, --gid), with no capabilities (docs/jail.md)\n"
	    "  --cpu-max QUOTA[/PERIOD], --memory-max MiB, --pids-max N\n"
	    "                       with --jail: cgroup v2 limits (cpu.max in us, default\n"
	    "                       period 100000; memory.max; pids.max)\n"
	    "  --seccomp MODE       each VMM thread's system-call allow-list: kill\n"
	    "                       (default: a call off the list kills the VMM), log\n"
	    "                       (allowed, logged by the kernel), off\n"
	    "  -- CMD ARGS...       run CMD in the guest through kvmbox-agent (default\n"
	    "                       initrd with a command or --control:\n"
	    "                       share/kvmbox/agent-initrd.gz beside kvmbox),\n"
	    "                       its output on ours, then stop; exit with CMD's\n"
	    "                       status (127: no such command)\n"
	    "\n"
	    "Exit status: 0 guest rebooted or powered off, 1 error, 2 usage,\n"
	    "3 guest triple fault, 4 KVM error, 5 guest kernel panic, 128+N stopped by\n"
	    "signal N.\n",
	    VM_MAX_CPUS, VM_MIN_MEM_MIB, CLI_DEFAULT_MEM_MIB);
}

/* The verbs: a new one is a line here, a usage line and its function. */
static const struct cli_verb {
	const char *name;
	int (*fn)(int argc, char **argv);
} cli_verbs[] = {
	{ "run", cli_run },           { "exec", ctl_cmd_exec },
	{ "status", ctl_cmd_status }, { "stop", sbx_cmd_stop },
	{ "cp", ctl_cmd_cp },         { "fs", ctl_cmd_fs },
	{ "pull", image_cmd_pull },   { "images", image_cmd_images },
	{ "rmi", image_cmd_rmi },     { "metrics", ctl_cmd_metrics },
	{ "ports", ctl_cmd_ports },   { "create", sbx_cmd_create },
	{ "start", sbx_cmd_start },   { "ls", sbx_cmd_ls },
	{ "logs", sbx_cmd_logs },     { "rm", sbx_cmd_rm },
};

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("kvmbox %s\n", KVMBOX_VERSION);
		return 0;
	}
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		cli_usage(stdout);
		return 0;
	}
	for (size_t i = 0; argc >= 2 && i < sizeof(cli_verbs) / sizeof(cli_verbs[0]); i++)
		if (strcmp(argv[1], cli_verbs[i].name) == 0)
			return cli_verbs[i].fn(argc - 1, argv + 1);
	cli_usage(stderr);
	return VM_EXIT_USAGE;
}
