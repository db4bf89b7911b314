// SPDX-License-Identifier: MIT
/*
 * ports: a guest's TCP ports published on the host (docs/protocol.md,
 * "Published ports"): the VMM's ops, which last as long as the VM.
 */
import type { Connection } from "./conn.js";

export interface PublishedPort {
  portId: number;
  guestPort: number;
  hostAddr?: string;
  hostPort?: number;
  hostPath?: string;
  /** ports.list only: connections handed to the guest, and refused. */
  connections?: number;
  refused?: number;
}

export interface PublishOptions {
  /** The host port (default 0: one the kernel picks). */
  hostPort?: number;
  /** A numeric address to listen on (default 127.0.0.1). */
  hostAddr?: string;
  /** A unix socket to listen on instead. */
  hostPath?: string;
}

function toPort(m: Record<string, unknown>): PublishedPort {
  const p: PublishedPort = { portId: Number(m.port_id), guestPort: Number(m.guest_port) };
  if (typeof m.host_addr === "string") p.hostAddr = m.host_addr;
  if (typeof m.host_port === "number") p.hostPort = m.host_port;
  if (typeof m.host_path === "string") p.hostPath = m.host_path;
  if (typeof m.connections === "number") p.connections = m.connections;
  if (typeof m.refused === "number") p.refused = m.refused;
  return p;
}

export class SandboxPorts {
  constructor(private readonly conn: () => Promise<Connection>) {}

  /** publish: the guest's 127.0.0.1:guestPort on the host. */
  async publish(guestPort: number, opts: PublishOptions = {}): Promise<PublishedPort> {
    const f: Record<string, unknown> = { guest_port: guestPort };
    if (opts.hostPath !== undefined) f.host_path = opts.hostPath;
    else {
      if (opts.hostAddr !== undefined) f.host_addr = opts.hostAddr;
      if (opts.hostPort !== undefined) f.host_port = opts.hostPort;
    }
    return toPort(await (await this.conn()).call("ports.publish", f));
  }

  /** list: the published ports, in the order they were published. */
  async list(): Promise<PublishedPort[]> {
    const r = await (await this.conn()).call("ports.list");
    return ((r.ports ?? []) as Array<Record<string, unknown>>).map(toPort);
  }

  /** close: stop listening on port portId (a PublishedPort or its id). */
  async close(port: number | PublishedPort): Promise<void> {
    const id = typeof port === "number" ? port : port.portId;
    await (await this.conn()).call("ports.close", { port_id: id });
  }
}
