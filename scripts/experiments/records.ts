// What the experiments over zoo models (pair-masks.ts, mask-form.ts, trigger-features.ts) share:
// the zoo's cards, a model's identity in a record, the sharded, cached measuring loop, reading the
// cache back, and the scan's mask statistic (src/core/verdict.ts) on a record's per-class masks.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CALIBRATION } from '../../src/core/calibration.js';
import { maskStatistic } from '../../src/core/verdict.js';
import { readNpy } from '../../src/data/npy.js';
import { selectBackend } from '../../src/engine/backend.js';
import { MemoryLogger } from '../../src/logger.js';
import { DEFAULT_MASK_INVERSION } from '../../src/scan/mask-inversion.js';
import { roleOf } from '../eval-summary.js';
import type { ZooCard } from '../zoo.js';

export const cardOf = (name: string) => JSON.parse(readFileSync(`zoo/${name}/zoo-card.json`, 'utf8')) as ZooCard;

/** Every trained zoo model's card, by name. */
export const zooCards = (): ZooCard[] =>
  readdirSync('zoo')
    .filter((n) => existsSync(`zoo/${n}/zoo-card.json`))
    .sort()
    .map(cardOf);

/** Who a record is about: the model, its split, its attack (`clean` for none) and architecture. */
export function identityOf(card: ZooCard) {
  return {
    name: card.name,
    role: roleOf(card),
    family: card.attack?.family ?? 'clean',
    target: card.attack?.target ?? null,
    arch: card.arch,
  };
}

/**
 * Measures shard `i/n` (`shard`, default 1/1) of `names` on the auto backend, each model once: its
 * record is cached as `<cache>/<name>.json` and skipped when there. `line` says what was done.
 */
export async function measureShard<R>(
  cache: string,
  names: readonly string[],
  shard: string | undefined,
  measure: (name: string) => Promise<R>,
  line: (name: string, record: R, seconds: number) => string,
): Promise<void> {
  await selectBackend({ choice: 'auto', logger: new MemoryLogger() });
  mkdirSync(cache, { recursive: true });
  const [i, k] = (shard ?? '1/1').split('/').map(Number);
  for (const name of names.filter((_, j) => j % k === i - 1)) {
    const file = path.join(cache, `${name}.json`);
    if (existsSync(file)) continue;
    const t0 = performance.now();
    const record = await measure(name);
    writeFileSync(file, JSON.stringify(record));
    console.log(line(name, record, (performance.now() - t0) / 1000));
  }
}

/** The records cached under `cache`. */
export const readRecords = <R>(cache: string): R[] =>
  readdirSync(cache)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(path.join(cache, f), 'utf8')) as R);

/** The mask statistic of these classes' masks on an H×W image, and the class it points at. */
export function maskStatisticOf(l1: readonly number[], asr: readonly number[], [H, W]: [number, number]): { value: number; class: number } {
  const evidence = {
    options: { asrTarget: DEFAULT_MASK_INVERSION.asrTarget },
    perClass: l1.map((maskL1, c) => ({ class: c, maskL1, asr: asr[c], share: 0, testable: true })),
    classesReached: asr.filter((a) => a >= DEFAULT_MASK_INVERSION.asrTarget).length,
    inconclusive: false,
  };
  const s = maskStatistic(evidence, [H, W, 1], CALIBRATION.statistics);
  return { value: s.value, class: s.target ?? -1 };
}

/** The rows folder of `npm run eval`'s cache (its probes are in the sibling `probes`). */
export const EVAL_ROWS = '.cache/eval/rows';

/** The per-class masks (pixels) of the eval's cached scan of a model, from its rows folder (at the scan's 90 %). */
export function evalMasks(rows: string, name: string): number[] {
  const cached = JSON.parse(readFileSync(`${rows}/${name}.json`, 'utf8')) as {
    report: { scans: Array<{ method: string; perClass: Array<{ maskL1: number }> }> };
  };
  return cached.report.scans.find((s) => s.method === 'mask-inversion')!.perClass.map((p) => p.maskL1);
}

/** The eval's probe images of a domain, kept beside its rows folder: flat float32 values and their count. */
export function evalProbes(rows: string, domain: string | undefined): { x: Float32Array; count: number } {
  const npy = readNpy(`${rows}/../probes/${domain ?? 'mnist'}/x.npy`);
  return { x: npy.data as Float32Array, count: npy.shape[0] };
}
