// A 128-bit SIMD loop on tfjs-wasm's own memory, for the one elementwise gradient whose stock
// composition is slow on wasm and whose JS loop was a quarter of an inverted-residual
// network's input-gradient step: ClipByValue's (ReLU6's), dy where lo ≤ x ≤ hi, else +0. The
// module is a few dozen bytes, assembled here (no assembler is a dependency) and checked by
// WebAssembly.validate; where it does not validate or instantiate, the JS loop does the work.

/** LEB128 of an unsigned integer. */
function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return out;
}

const section = (id: number, body: number[]) => [id, ...leb(body.length), ...body];
const name = (s: string) => [...leb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

// Opcodes (WebAssembly core and fixed-width SIMD).
const [I32, F32, V128, FUNC, BLOCK_VOID] = [0x7f, 0x7d, 0x7b, 0x60, 0x40];
const op = {
  block: 0x02,
  loop: 0x03,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  get: 0x20,
  set: 0x21,
  i32Const: 0x41,
  i32GeU: 0x4f,
  i32Add: 0x6a,
};
const simd = (code: number) => [0xfd, ...leb(code)];
const [V128_LOAD, V128_STORE, F32X4_SPLAT, F32X4_LE, F32X4_GE, V128_AND] = [0x00, 0x0b, 0x13, 0x45, 0x46, 0x4e];
const memarg = [2, 0]; // alignment hint 4 bytes, offset 0

/**
 * clip(dy, x, out, bytes, lo, hi): for each 16-byte block below `bytes`, out = dy & (x ≥ lo & x ≤ hi)
 * lane by lane (a NaN x compares false: +0). Pointers are byte offsets into the memory.
 */
function clipModule(shared: boolean): Uint8Array<ArrayBuffer> {
  const [dy, x, out, bytes, lo, hi, i, vlo, vhi] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const load = (ptr: number) => [op.get, ptr, op.get, i, op.i32Add, ...simd(V128_LOAD), ...memarg];
  const body = [
    ...[2, ...leb(1), I32, ...leb(2), V128], // locals: i; vlo, vhi
    ...[op.get, lo, ...simd(F32X4_SPLAT), op.set, vlo],
    ...[op.get, hi, ...simd(F32X4_SPLAT), op.set, vhi],
    ...[op.block, BLOCK_VOID, op.loop, BLOCK_VOID],
    ...[op.get, i, op.get, bytes, op.i32GeU, op.brIf, 1],
    ...[op.get, out, op.get, i, op.i32Add], // the store's address
    ...load(dy),
    ...[...load(x), op.get, vlo, ...simd(F32X4_GE)],
    ...[...load(x), op.get, vhi, ...simd(F32X4_LE)],
    ...simd(V128_AND), // x ≥ lo and x ≤ hi
    ...simd(V128_AND), // dy's bits, kept or cleared
    ...simd(V128_STORE),
    ...memarg,
    ...[op.get, i, op.i32Const, 16, op.i32Add, op.set, i, op.br, 0],
    ...[op.end, op.end, op.end],
  ];
  // A shared memory (tfjs' threaded build) must be imported as shared, with a maximum.
  const limits = shared ? [0x03, 0, ...leb(65536)] : [0x00, 0];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [1, FUNC, 6, I32, I32, I32, I32, F32, F32, 0]),
    ...section(2, [1, ...name('env'), ...name('memory'), 0x02, ...limits]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name('clip'), 0x00, 0]),
    ...section(10, [1, ...leb(body.length), ...body]),
  ]);
}

type ClipLoop = (dy: number, x: number, out: number, bytes: number, lo: number, hi: number) => void;
const instances = new WeakMap<WebAssembly.Memory, ClipLoop | null>();

/** The SIMD loop bound to `memory`, or null where the engine has no 128-bit SIMD. */
function clipLoopFor(memory: WebAssembly.Memory): ClipLoop | null {
  if (!instances.has(memory)) {
    let loop: ClipLoop | null = null;
    try {
      const bytes = clipModule(typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer);
      if (WebAssembly.validate(bytes)) {
        const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
        loop = instance.exports.clip as ClipLoop;
      }
    } catch {
      loop = null;
    }
    instances.set(memory, loop);
  }
  return instances.get(memory)!;
}

/** The WebAssembly memory of tfjs' wasm backend: exported by the single-threaded build, imported (shared) by the threaded one. */
export function wasmMemoryOf(backend: unknown): WebAssembly.Memory | undefined {
  const wasm = (backend as { wasm?: { asm?: { memory?: unknown }; wasmMemory?: unknown } }).wasm;
  const memory = wasm?.asm?.memory ?? wasm?.wasmMemory;
  return memory instanceof WebAssembly.Memory ? memory : undefined;
}

/**
 * ClipByValue's gradient over the whole 4-element blocks of views into `memory` (dy, x and out all
 * on it), by SIMD; returns how many elements it did (0 where it cannot), the rest left to the caller.
 */
export function simdClipGradient(memory: WebAssembly.Memory, dy: Float32Array, x: Float32Array, lo: number, hi: number, out: Float32Array): number {
  const loop = clipLoopFor(memory);
  if (!loop || dy.buffer !== memory.buffer || x.buffer !== memory.buffer || out.buffer !== memory.buffer) return 0;
  const whole = x.length & ~3;
  loop(dy.byteOffset, x.byteOffset, out.byteOffset, whole * 4, lo, hi);
  return whole;
}
