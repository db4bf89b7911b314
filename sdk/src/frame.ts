// SPDX-License-Identifier: MIT
/*
 * frame: the protocol's frames (docs/protocol.md, "Frames"): a 12-byte
 * header (magic "KVB1", the JSON part's length, the body's length, both
 * little-endian u32), the JSON part, the body.
 */
import { ProtocolError } from "./errors.js";

export const MAGIC = 0x3142564b; // "KVB1" read as a little-endian u32
export const MAX_JSON = 65536;
export const MAX_BODY = 1048576;
const HEADER = 12;

/** One message: its JSON object and its body (empty when none). */
export interface Frame {
  msg: Record<string, unknown>;
  body: Buffer;
}

/** encodeFrame: msg and body as one frame; refuses what is over a limit. */
export function encodeFrame(msg: object, body?: Uint8Array): Buffer {
  const json = Buffer.from(JSON.stringify(msg), "utf8");
  const blen = body ? body.length : 0;

  if (json.length < 1 || json.length > MAX_JSON)
    throw new ProtocolError(`a message of ${json.length} bytes of JSON is over ${MAX_JSON}`, "too_large");
  if (blen > MAX_BODY)
    throw new ProtocolError(`a body of ${blen} bytes is over ${MAX_BODY}`, "too_large");
  const head = Buffer.alloc(HEADER);
  head.writeUInt32LE(MAGIC, 0);
  head.writeUInt32LE(json.length, 4);
  head.writeUInt32LE(blen, 8);
  return blen ? Buffer.concat([head, json, body!]) : Buffer.concat([head, json]);
}

/**
 * FrameDecoder: bytes in, in any pieces; whole frames out. The header is
 * checked before anything is buffered for the frame; an error is final,
 * as the next frame's start is lost (docs/protocol.md, "Framing errors").
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private have = 0;

  push(data: Buffer): Frame[] {
    const out: Frame[] = [];

    this.chunks.push(data);
    this.have += data.length;
    for (;;) {
      if (this.have < HEADER) break;
      const head = this.peek(HEADER);
      if (head.readUInt32LE(0) !== MAGIC)
        throw new ProtocolError("a frame without the magic KVB1", "bad_frame");
      const jlen = head.readUInt32LE(4);
      const blen = head.readUInt32LE(8);
      if (jlen === 0) throw new ProtocolError("a frame with an empty JSON part", "bad_frame");
      if (jlen > MAX_JSON || blen > MAX_BODY)
        throw new ProtocolError(`a frame over the limits (json ${jlen}, body ${blen})`, "too_large");
      if (this.have < HEADER + jlen + blen) break;
      const all = this.take(HEADER + jlen + blen);
      let msg: unknown;
      try {
        msg = JSON.parse(all.subarray(HEADER, HEADER + jlen).toString("utf8"));
      } catch (e) {
        throw new ProtocolError(`a frame whose JSON part does not parse: ${(e as Error).message}`, "bad_json");
      }
      if (typeof msg !== "object" || msg === null || Array.isArray(msg))
        throw new ProtocolError("a frame whose JSON part is not an object", "bad_json");
      out.push({ msg: msg as Record<string, unknown>, body: all.subarray(HEADER + jlen) });
    }
    return out;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0].subarray(0, n);
  }

  private take(n: number): Buffer {
    if (this.chunks[0].length < n) this.chunks = [Buffer.concat(this.chunks)];
    const first = this.chunks[0];
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.have -= n;
    return out;
  }
}
