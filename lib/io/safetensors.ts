// safetensors.ts — the safetensors container (8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range, then raw little-endian data). latentkit writes float32 (F32) and float64 (F64)
// tensors and string metadata; reading checks every length, offset and dtype so a truncated or foreign file is refused clearly.
import * as fs from 'fs';
import { LatentkitError } from '../errors';
import { writeFileAtomic } from './atomic';

export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array | Float64Array;
}

function dtypeOf(data: Float32Array | Float64Array): 'F32' | 'F64' {
  return data.BYTES_PER_ELEMENT === 8 ? 'F64' : 'F32';
}

export interface SafetensorsFile {
  metadata: Record<string, string>;
  tensors: Map<string, NamedTensor>;
}

const MAX_HEADER_BYTES = 64 << 20;

function bad(file: string, why: string): never {
  throw new LatentkitError('LATENTKIT_BAD_CHECKPOINT', `${file} is not a readable safetensors checkpoint: ${why}`);
}

export function encodeSafetensors(tensors: NamedTensor[], metadata: Record<string, string>): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.data.byteLength;
    header[t.name] = { dtype: dtypeOf(t.data), shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8; // the format allows trailing spaces; 8-byte alignment of the data
  json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)]);
  const out = Buffer.alloc(8 + json.length + offset);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  let pos = 8 + json.length;
  for (const t of tensors) {
    const view = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    view.copy(out, pos); // x86 and arm64 are little-endian, as the format requires
    pos += view.length;
  }
  return out;
}

export function decodeSafetensors(buf: Buffer, file = 'the file'): SafetensorsFile {
  if (buf.length < 8) bad(file, `it has ${buf.length} bytes, fewer than the 8-byte header length`);
  const headerLen = buf.readBigUInt64LE(0);
  if (headerLen > BigInt(Math.min(MAX_HEADER_BYTES, buf.length - 8)))
    bad(file, `its header claims ${headerLen} bytes but the file has ${buf.length - 8} after the length field`);
  const n = Number(headerLen);
  let header: unknown;
  try {
    header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  } catch (e) {
    bad(file, `its header is not JSON (${(e as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) bad(file, 'its header is not a JSON object');
  const dataStart = 8 + n;
  const dataLen = buf.length - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, NamedTensor>();
  const ranges: Array<[number, number, string]> = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (entry && typeof entry === 'object')
        for (const [k, v] of Object.entries(entry as Record<string, unknown>)) if (typeof v === 'string') metadata[k] = v;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!e || typeof e !== 'object') bad(file, `tensor ${name} has no description`);
    if (e.dtype !== 'F32' && e.dtype !== 'F64') bad(file, `tensor ${name} has dtype ${String(e.dtype)}; latentkit reads F32 and F64`);
    const width = e.dtype === 'F64' ? 8 : 4;
    if (!Array.isArray(e.shape) || e.shape.length > 8 || !e.shape.every((s) => Number.isSafeInteger(s) && s >= 0))
      bad(file, `tensor ${name} has an invalid shape`);
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0))
      bad(file, `tensor ${name} has invalid data_offsets`);
    const [begin, end] = offs as number[];
    const count = (e.shape as number[]).reduce((a, b) => a * b, 1);
    if (end < begin || end - begin !== count * width) bad(file, `tensor ${name}'s byte range does not match its shape`);
    if (end > dataLen) bad(file, `tensor ${name} ends at byte ${end} but only ${dataLen} data bytes are present (truncated?)`);
    ranges.push([begin, end, name]);
  }
  // The tensors tile the data exactly: no overlap, no gap, nothing after (checked before anything is copied).
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let covered = 0;
  for (const [begin, end, name] of ranges) {
    if (begin !== covered) bad(file, `tensor ${name} starts at byte ${begin} where ${covered} was expected (tensors overlap or leave gaps)`);
    covered = end;
  }
  if (covered !== dataLen) bad(file, `its tensors cover ${covered} bytes but ${dataLen} data bytes are present`);
  for (const [begin, end, name] of ranges) {
    const e = (header as Record<string, { dtype: string; shape: number[] }>)[name];
    const bytes = buf.subarray(dataStart + begin, dataStart + end);
    const copy = e.dtype === 'F64' ? new Float64Array(bytes.length / 8) : new Float32Array(bytes.length / 4);
    Buffer.from(copy.buffer).set(bytes);
    tensors.set(name, { name, shape: e.shape, data: copy });
  }
  return { metadata, tensors };
}

export async function saveSafetensors(file: string, tensors: NamedTensor[], metadata: Record<string, string>): Promise<void> {
  await writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}

export async function loadSafetensors(file: string): Promise<SafetensorsFile> {
  let buf: Buffer;
  try {
    buf = await fs.promises.readFile(file);
  } catch (e) {
    throw new LatentkitError('LATENTKIT_BAD_CHECKPOINT', `cannot read checkpoint ${file}: ${(e as Error).message}`, { cause: e });
  }
  return decodeSafetensors(buf, file);
}
