// SPDX-License-Identifier: MIT
/*
 * bytes: byte strings (docs/protocol.md, "Byte strings"): a JSON string
 * when the bytes are UTF-8 text, else {"base64": "..."}.
 */

/** A path, argument or variable: text, or raw bytes. */
export type ByteString = string | Uint8Array;

/** toWire: s as the protocol carries it. */
export function toWire(s: ByteString): string | { base64: string } {
  return typeof s === "string" ? s : { base64: Buffer.from(s).toString("base64") };
}

/**
 * fromWire: a byte string from the peer as text: bytes that are not
 * UTF-8 are decoded with replacement characters; bytesFromWire keeps them.
 */
export function textFromWire(v: unknown): string {
  if (typeof v === "string") return v;
  return bytesFromWire(v).toString("utf8");
}

export function bytesFromWire(v: unknown): Buffer {
  if (typeof v === "string") return Buffer.from(v, "utf8");
  if (v && typeof v === "object" && typeof (v as { base64?: unknown }).base64 === "string")
    return Buffer.from((v as { base64: string }).base64, "base64");
  return Buffer.alloc(0);
}
