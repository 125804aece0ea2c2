// Experiment behind docs/detection.md's "Residual networks' mask inversion" (issue 19): on MNIST
// ResNets a clean model's digit 8 needs a mask of 13–18 px and a backdoor's target 4–13 px, and the
// mask statistic ln(median / smallest) cannot tell them apart within the clean networks' spread.
// Does the *form* of the smallest mask, or a mask made of b×b blocks (`--block`: single pixels on a
// strided network's grid then cost b² pixels), tell a planted trigger from a natural one? Each
// model's masks (the scan's mask inversion: 16 epochs, the first 128 of the eval's probes, seed 0)
// are cached in .cache/experiments/mask-form/b<block>/<model>.json with the probes' per-pixel
// variance, each class's trigger's ASR moved by 1–2 px, and its ASR per source class;
// `--analyse` prints the statistic and the form measures per model and their AUROCs per group.
// Run `npm run eval` first (it writes the probes).
//   tsx scripts/experiments/mask-form.ts [--block 1|2|4] [--shard i/n] [--split tuning] [--analyse] [NAME…]
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import { loadModel } from '../../src/model/load.js';
import { reconstructMasks } from '../../src/scan/mask-inversion.js';
import { auroc, roleOf, unusable, type Role } from '../eval-summary.js';
import { cardOf, EVAL_ROWS, evalProbes, identityOf, maskStatisticOf, measureShard, readRecords, zooCards } from './records.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { shard: { type: 'string' }, analyse: { type: 'boolean' }, split: { type: 'string', default: 'tuning' }, block: { type: 'string', default: '1' } },
});
const BLOCK = Number(values.block);
const CACHE = `.cache/experiments/mask-form/b${BLOCK}`;

interface MaskRecord {
  name: string;
  role: Role;
  family: string;
  target: number | null;
  arch: string;
  domain: string;
  K: number;
  H: number;
  W: number;
  l1: number[];
  asr: number[];
  /** Masks [K][H·W], three decimals. */
  masks: number[][];
  /** The probes' per-pixel variance (mean over channels), [H·W]. */
  variance: number[];
  /** ASR of each class's trigger (mask and pattern) moved by `shift` px, by shift in SHIFTS order. */
  shiftedAsr: number[][];
  /** Each class's trigger, unmoved: its ASR on the probes of each source class (the model's answer on the clean probe), null under 5 probes or for the class itself. */
  sourceAsr: Array<Array<number | null>>;
  seconds: number;
}

/** How far each class's recovered trigger is moved, mask and pattern together (zero-filled). */
const SHIFTS: Array<[number, number]> = [
  [0, 0],
  [1, 0],
  [-1, 0],
  [0, 1],
  [0, -1],
  [2, 0],
  [0, 2],
  [1, 1],
];

/** t moved by (dy, dx) pixels in its H and W axes, zeros shifted in. */
function shifted(t: tf.Tensor3D, dy: number, dx: number): tf.Tensor3D {
  return tf.tidy(() => {
    const [H, W] = t.shape;
    const padded = tf.pad(t, [
      [Math.max(dy, 0), Math.max(-dy, 0)],
      [Math.max(dx, 0), Math.max(-dx, 0)],
      [0, 0],
    ]);
    return tf.slice(padded, [Math.max(-dy, 0), Math.max(-dx, 0), 0], [H, W, t.shape[2]]) as tf.Tensor3D;
  });
}

const ARCH_COST: Record<string, number> = { mlp: 0, cnn: 1, 'bn-cnn': 1, dwsep: 2, resnet: 3, invres: 3 };

function candidates(): string[] {
  if (positionals.length) return positionals;
  const splits = values.split!.split(',');
  return zooCards()
    .filter((c) => c.head !== 'multi-label' && c.outputs > 2 && !unusable(c) && splits.includes(roleOf(c)))
    .sort((a, b) => a.outputs - b.outputs || (ARCH_COST[a.arch] ?? 9) - (ARCH_COST[b.arch] ?? 9))
    .map((c) => c.name);
}

async function measure(name: string): Promise<MaskRecord> {
  const card = cardOf(name);
  const { model } = await loadModel(`zoo/${name}`);
  const [H, W, C] = model.inputShape;
  const { x, count } = evalProbes(EVAL_ROWS, card.domain);
  const variance = tf.tidy(() =>
    Array.from(
      tf
        .moments(tf.tensor4d(x, [count, H, W, C]), 0)
        .variance.mean(-1)
        .dataSync(),
    ),
  );
  const t0 = performance.now();
  const result = await reconstructMasks(model, { x, count, height: H, width: W, channels: C, source: 'eval probes' }, { seed: 0, block: BLOCK });
  const seconds = (performance.now() - t0) / 1000;
  const K = model.numClasses;
  const used = Math.min(count, result.options.maxImages);
  const probes = tf.tensor4d(x.subarray(0, used * H * W * C), [used, H, W, C]);
  const shiftedAsr: number[][] = [];
  const sourceAsr: Array<Array<number | null>> = [];
  const sources = (await tf.tidy(() => model.logits(probes).argMax(-1)).data()) as Int32Array;
  for (let c = 0; c < K; c++) {
    const m = tf.tensor3d(result.masks.subarray(c * H * W, (c + 1) * H * W), [H, W, 1]);
    const p = tf.tensor3d(result.patterns.subarray(c * H * W * C, (c + 1) * H * W * C), [H, W, C]);
    const row: number[] = [];
    for (const [dy, dx] of SHIFTS) {
      const logits = tf.tidy(() => {
        const ms = shifted(m, dy, dx);
        const ps = shifted(p, dy, dx);
        return model.logits(tf.add(tf.mul(tf.sub(1, ms), probes), tf.mul(ms, ps)) as tf.Tensor4D);
      });
      const top = (await logits.argMax(-1).data()) as Int32Array;
      logits.dispose();
      if (dy === 0 && dx === 0)
        sourceAsr.push(
          [...Array(K).keys()].map((s) => {
            const mine = [...sources.keys()].filter((i) => sources[i] === s);
            return s === c || mine.length < 5 ? null : Math.round((1000 * mine.filter((i) => top[i] === c).length) / mine.length) / 1000;
          }),
        );
      row.push(Math.round((1000 * top.filter((v) => v === c).length) / used) / 1000);
    }
    m.dispose();
    p.dispose();
    shiftedAsr.push(row);
  }
  probes.dispose();
  return {
    ...identityOf(card),
    domain: card.domain ?? 'mnist',
    K,
    H,
    W,
    l1: result.perClass.map((p) => p.maskL1),
    asr: result.perClass.map((p) => p.asr),
    masks: [...Array(K).keys()].map((c) => Array.from(result.masks.subarray(c * H * W, (c + 1) * H * W), (v) => Math.round(1000 * v) / 1000)),
    variance: variance.map((v) => Math.round(1e5 * v) / 1e5),
    shiftedAsr,
    sourceAsr,
    seconds,
  };
}

/** The form of class c's mask: where it lies, whether it survives a 1-px move, how evenly it moves the sources. */
function formOf(r: MaskRecord, c: number) {
  const meanVar = r.variance.reduce((a, v) => a + v, 0) / r.variance.length;
  const m = r.masks[c];
  const mass = Math.max(
    m.reduce((a, v) => a + v, 0),
    1e-9,
  );
  const onePixel = r.shiftedAsr[c].slice(1, 5);
  return {
    // The probes' variance under the mask against the image's mean: above 1 on the images' content.
    content: m.reduce((a, v, i) => a + v * r.variance[i], 0) / mass / meanVar,
    // The ASR left after a 1-px move (mean of the four), as a share of the unmoved trigger's.
    kept: onePixel.reduce((a, v) => a + v, 0) / onePixel.length / Math.max(r.shiftedAsr[c][0], 1e-3),
    // Records written before the per-source ASRs were kept have none (NaN).
    worstSource: r.sourceAsr ? Math.min(...r.sourceAsr[c].filter((v): v is number => v !== null)) : NaN,
  };
}

if (!values.analyse) {
  await measureShard(CACHE, candidates(), values.shard, measure, (name, r) => `${name} [${r.role}] ${r.family}: ${r.seconds.toFixed(1)} s`);
} else {
  const records = readRecords<MaskRecord>(CACHE);
  const rows = records.map((r) => {
    const stat = maskStatisticOf(r.l1, r.asr, [r.H, r.W]);
    return { r, stat, form: formOf(r, stat.class) };
  });
  for (const { r, stat, form } of rows)
    console.log(
      [
        r.role.slice(0, 4),
        r.name.padEnd(42),
        r.family.padEnd(15),
        String(r.target ?? '-').padStart(2),
        String(stat.class).padStart(2),
        r.l1[stat.class].toFixed(1).padStart(6),
        `statistic ${stat.value.toFixed(2)}`,
        `content ${form.content.toFixed(2)}`,
        `kept ${form.kept.toFixed(2)}`,
        `worst source ${form.worstSource.toFixed(2)}`,
      ].join('  '),
    );
  // Each measure oriented so that larger should mean backdoored.
  const measures: Array<[string, (x: (typeof rows)[number]) => number]> = [
    ['statistic', (x) => x.stat.value],
    ['−content', (x) => -x.form.content],
    ['kept', (x) => x.form.kept],
    ['worst source', (x) => x.form.worstSource],
  ];
  const kindOf = (arch: string) => (['resnet', 'invres'].includes(arch) ? 'residual' : arch === 'dwsep' ? 'depthwise' : 'plain');
  const groups = new Set(rows.map(({ r }) => `${r.role} ${kindOf(r.arch)}`));
  for (const group of groups) {
    const inGroup = rows.filter(({ r }) => `${r.role} ${kindOf(r.arch)}` === group);
    const [bd, clean] = [inGroup.filter(({ r }) => r.family !== 'clean'), inGroup.filter(({ r }) => r.family === 'clean')];
    for (const [name, f] of measures) {
      const top = Math.max(...clean.map(f));
      console.log(
        `${group} (${bd.length} backdoored, ${clean.length} clean) ${name}: AUROC ${auroc(bd.map(f), clean.map(f)).toFixed(3)}, ${bd.filter((x) => f(x) > top).length} backdoored above every clean one`,
      );
    }
  }
}
