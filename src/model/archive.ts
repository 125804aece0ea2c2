// Unpacks a model bundle (zip, tar.gz, tar) safely: regular files and directories only, no
// absolute or `..` paths, no links, and a cap on entries and on bytes written, checked before and
// while writing (a zip's declared sizes are verified as it streams).
import { createWriteStream, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import yauzl from 'yauzl';
import { InputError } from '../errors.js';
import { modelFileIn } from './read.js';

export interface ArchiveLimits {
  maxEntries: number;
  maxBytes: number;
}

export type ArchiveKind = 'zip' | 'tar.gz' | 'tar';

export function archiveKind(name: string): ArchiveKind | undefined {
  const n = name.toLowerCase();
  if (n.endsWith('.zip')) return 'zip';
  if (n.endsWith('.tar.gz') || n.endsWith('.tgz')) return 'tar.gz';
  if (n.endsWith('.tar')) return 'tar';
  return undefined;
}

/** A safe relative path inside the archive, or an error naming the archive and the entry. */
function entryPath(archive: string, name: string): string {
  const clean = name.replace(/\\/g, '/');
  if (clean.startsWith('/') || /^[A-Za-z]:/.test(clean)) throw new InputError(archive, `entry '${name}' has an absolute path; refusing to unpack`);
  if (clean.split('/').includes('..')) throw new InputError(archive, `entry '${name}' escapes the archive ('..'); refusing to unpack`);
  return clean;
}

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, autoClose: true, validateEntrySizes: true }, (err, zip) => (err ? reject(err) : resolve(zip))),
  );
}

async function unpackZip(file: string, dest: string, limits: ArchiveLimits): Promise<void> {
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(file);
  } catch (err) {
    throw new InputError(file, `is not a readable zip archive (${(err as Error).message})`);
  }
  let entries = 0;
  let bytes = 0;
  await new Promise<void>((resolve, reject) => {
    const fail = (err: unknown) => {
      zip.close();
      reject(err instanceof InputError ? err : new InputError(file, `could not be unpacked (${(err as Error).message})`));
    };
    zip.on('error', fail);
    zip.on('end', resolve);
    zip.on('entry', (entry: yauzl.Entry) => {
      try {
        const rel = entryPath(file, entry.fileName);
        if (++entries > limits.maxEntries) throw new InputError(file, `holds more than ${limits.maxEntries} entries; refusing to unpack`);
        const mode = (entry.externalFileAttributes >>> 16) & 0o170000;
        if (mode === 0o120000) throw new InputError(file, `entry '${entry.fileName}' is a symbolic link; refusing to unpack`);
        const target = path.join(dest, rel);
        if (rel.endsWith('/')) {
          mkdirSync(target, { recursive: true });
          zip.readEntry();
          return;
        }
        bytes += entry.uncompressedSize;
        if (bytes > limits.maxBytes) throw new InputError(file, `expands to more than ${limits.maxBytes} bytes; refusing to unpack`);
        mkdirSync(path.dirname(target), { recursive: true });
        zip.openReadStream(entry, (err, stream) => {
          if (err) return fail(err);
          pipeline(stream, createWriteStream(target, { flags: 'wx' })).then(() => zip.readEntry(), fail);
        });
      } catch (err) {
        fail(err);
      }
    });
    zip.readEntry();
  });
}

const TAR_FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory']);

async function unpackTar(file: string, dest: string, limits: ArchiveLimits): Promise<void> {
  // A listing pass validates every entry before anything is written.
  let entries = 0;
  let bytes = 0;
  let problem: InputError | undefined;
  try {
    await tar.t({
      file,
      strict: true,
      onReadEntry: (entry) => {
        if (problem) return;
        try {
          entryPath(file, entry.path);
          if (!TAR_FILE_TYPES.has(entry.type)) throw new InputError(file, `entry '${entry.path}' is a ${entry.type}; only files and directories are unpacked`);
          if (++entries > limits.maxEntries) throw new InputError(file, `holds more than ${limits.maxEntries} entries; refusing to unpack`);
          bytes += entry.size ?? 0;
          if (bytes > limits.maxBytes) throw new InputError(file, `expands to more than ${limits.maxBytes} bytes; refusing to unpack`);
        } catch (err) {
          problem = err as InputError;
        }
      },
    });
  } catch (err) {
    throw new InputError(file, `is not a readable tar archive (${(err as Error).message})`);
  }
  if (problem) throw problem;
  if (entries === 0) throw new InputError(file, 'is an empty or unreadable tar archive');
  await tar.x({ file, cwd: dest, strict: true, preservePaths: false, filter: (_p, entry) => TAR_FILE_TYPES.has((entry as tar.ReadEntry).type) });
}

/** Unpacks `file` into the new directory `dest`. */
export async function unpackArchive(file: string, kind: ArchiveKind, dest: string, limits: ArchiveLimits): Promise<void> {
  mkdirSync(dest, { recursive: true });
  if (kind === 'zip') await unpackZip(file, dest, limits);
  else await unpackTar(file, dest, limits);
}

/** The directory holding the model (model.json or .onnx): the root, or the one directory (up to two levels down) that has it. */
export function findModelDirectory(root: string, what: string): string {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (modelFileIn(dir)) found.push(dir);
    if (depth === 0) return;
    for (const name of readdirSync(dir)) {
      const child = path.join(dir, name);
      if (statSync(child).isDirectory()) walk(child, depth - 1);
    }
  };
  walk(root, 2);
  if (found.length === 0) throw new InputError(what, 'holds no model (expected a tfjs model.json plus its weight shards, or one .onnx file)');
  if (found.length > 1 && !found.includes(root))
    throw new InputError(what, `holds ${found.length} models (${found.map((f) => path.relative(root, f) || '.').join(', ')}); bundle one model per asset`);
  return found.includes(root) ? root : found[0];
}
