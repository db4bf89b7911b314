/* SPDX-License-Identifier: MIT */
/*
 * ctl_cmd: the CLI's clients of a running microVM's control socket
 * (docs/protocol.md): `kvmbox exec`, `kvmbox status` and `kvmbox stop`.
 * Each returns the process's exit status.
 */
#ifndef KVMBOX_VMM_CTL_CMD_H
#define KVMBOX_VMM_CTL_CMD_H

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

#endif
