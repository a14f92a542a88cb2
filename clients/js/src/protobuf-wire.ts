/**
 * Just enough of the protocol buffers wire format to take an ONNX model apart into fields and put a new
 * one together from byte ranges of the old, without decoding what is kept (weights are copied once, never
 * parsed): fields of a message, their numbers and payload ranges, and length-delimited re-encoding.
 */

export const VARINT = 0;
export const FIXED64 = 1;
export const LENGTH_DELIMITED = 2;
export const FIXED32 = 5;

/** One field of a message: `bytes` is the whole field (tag and all), `payload` a length-delimited body. */
export interface WireField {
  number: number;
  wireType: number;
  bytes: Uint8Array;
  payload: Uint8Array;
  value: number;
}

function readVarint(buffer: Uint8Array, position: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (;;) {
    if (position >= buffer.length) throw new Error("truncated protobuf varint");
    const byte = buffer[position++];
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, position];
    scale *= 128;
  }
}

/** Every field of the message in `buffer`, in order. */
export function fields(buffer: Uint8Array): WireField[] {
  const out: WireField[] = [];
  let position = 0;
  while (position < buffer.length) {
    const start = position;
    const [tag, afterTag] = readVarint(buffer, position);
    const wireType = tag % 8;
    const number = Math.floor(tag / 8);
    let payload = buffer.subarray(afterTag, afterTag);
    let value = 0;
    if (wireType === VARINT) [value, position] = readVarint(buffer, afterTag);
    else if (wireType === FIXED64) position = afterTag + 8;
    else if (wireType === FIXED32) position = afterTag + 4;
    else if (wireType === LENGTH_DELIMITED) {
      const [length, afterLength] = readVarint(buffer, afterTag);
      position = afterLength + length;
      payload = buffer.subarray(afterLength, position);
    } else throw new Error(`unsupported protobuf wire type ${wireType}`);
    if (position > buffer.length) throw new Error("truncated protobuf message");
    out.push({ number, wireType, bytes: buffer.subarray(start, position), payload, value });
  }
  return out;
}

const decoder = new TextDecoder();

/** The UTF-8 strings of the length-delimited fields numbered `number`. */
export function strings(message: WireField[], number: number): string[] {
  return message.filter((f) => f.number === number && f.wireType === LENGTH_DELIMITED).map((f) => decoder.decode(f.payload));
}

/** The first string field numbered `number`, or "". */
export function stringField(buffer: Uint8Array, number: number): string {
  return strings(fields(buffer), number)[0] ?? "";
}

function varintBytes(value: number): number[] {
  const bytes: number[] = [];
  while (value >= 0x80) {
    bytes.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  bytes.push(value);
  return bytes;
}

/** Pieces of an encoded message, concatenated only once at the end. */
export class MessageWriter {
  readonly parts: Uint8Array[] = [];
  length = 0;

  raw(bytes: Uint8Array): this {
    this.parts.push(bytes);
    this.length += bytes.length;
    return this;
  }

  /** A length-delimited field whose body is another writer's message. */
  message(number: number, body: MessageWriter): this {
    this.raw(Uint8Array.from([...varintBytes(number * 8 + LENGTH_DELIMITED), ...varintBytes(body.length)]));
    for (const part of body.parts) this.raw(part);
    return this;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const part of this.parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }
}
