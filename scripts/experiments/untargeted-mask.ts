// Experiment for issue 19's all-to-all blind spot (docs/detection.md, "An untargeted mask"): the
// per-class mask inversion looks for one patch that sends most images to one class, which an
// all-to-all backdoor (y → y + 1) does not have. An untargeted mask, one patch that takes most
// images away from the class the model gives them (to any other), does: it is the planted patch.
// The untargeted mask is the scan's own (reconstructMasks with no class rows); the targeted masks
// are read from the eval's cached 256-probe scans (`npm run eval` first). It prints the first
// statistic measured, ln(median per-class mask / untargeted mask), and the one the scan now uses,
// ln(smallest per-class mask / untargeted mask), whose threshold comes from the eval's rows (the
// median form did not carry over to 43 classes: docs/detection.md). Records cached in
// .cache/experiments/untargeted-mask.
// `--asr-target t` inverts the untargeted mask to take only a share t of the probes off their class
// (the targeted masks stay at the scan's 90 %), cached apart; `--rows` names the eval cache the
// targeted masks are read from.
// `--same-level` (with --asr-target) inverts the per-class masks at t as well, in the same run.
//   tsx scripts/experiments/untargeted-mask.ts [--shard i/n] [--asr-target t [--same-level]] [--rows .cache/eval/rows] [--analyse] NAME…|--all
import { parseArgs } from 'node:util';
import { loadModel } from '../../src/model/load.js';
import { reconstructMasks } from '../../src/scan/mask-inversion.js';
import { median } from '../../src/scan/robust.js';
import { auroc, thresholdLevel, unusable } from '../eval-summary.js';
import { cardOf, EVAL_ROWS, evalMasks, evalProbes, identityOf, measureShard, readRecords, zooCards } from './records.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    shard: { type: 'string' },
    analyse: { type: 'boolean' },
    all: { type: 'boolean' },
    'asr-target': { type: 'string' },
    rows: { type: 'string', default: EVAL_ROWS },
    /** With --asr-target: invert the per-class masks at that target too, in the same run, instead of reading the eval's at 90 %. */
    'same-level': { type: 'boolean' },
  },
});
const ASR_TARGET = values['asr-target'] === undefined ? undefined : Number(values['asr-target']);
const SAME_LEVEL = ASR_TARGET !== undefined && values['same-level'] === true;
const CACHE = `.cache/experiments/untargeted-mask${ASR_TARGET === undefined ? '' : `/asr${ASR_TARGET}${SAME_LEVEL ? '-same' : ''}`}`;

interface UntargetedRecord extends ReturnType<typeof identityOf> {
  /** Smallest untargeted mask (pixels) moving ≥ 90 % (or --asr-target) of the probes off their class; the image area when none did. */
  untargetedL1: number;
  untargetedAsr: number;
  /** The eval scan's targeted masks, per class. */
  targetedL1: number[];
  area: number;
  seconds: number;
}

async function measure(name: string): Promise<UntargetedRecord> {
  const card = cardOf(name);
  const { model } = await loadModel(`zoo/${name}`);
  const [H, W, C] = model.inputShape;
  const { x, count } = evalProbes(values.rows, card.domain);
  const probe = { x, count, height: H, width: W, channels: C, source: 'eval probes' };
  // The scan's own untargeted row alone (no class rows): the targeted masks come from the eval's scans.
  const { untargeted, perClass, seconds } = await reconstructMasks(model, probe, {
    ...(SAME_LEVEL ? {} : { classes: [] }),
    untargeted: true,
    ...(ASR_TARGET === undefined ? {} : { asrTarget: ASR_TARGET }),
  });
  model.dispose();
  const targeted = SAME_LEVEL ? perClass.map((p) => p.maskL1) : evalMasks(values.rows, name);
  return {
    ...identityOf(card),
    untargetedL1: untargeted!.maskL1,
    untargetedAsr: untargeted!.asr,
    targetedL1: targeted,
    area: H * W,
    seconds,
  };
}

const candidates = () =>
  values.all
    ? zooCards()
        .filter((c) => c.head !== 'multi-label' && c.outputs > 2 && !unusable(c))
        .map((c) => c.name)
    : positionals;

if (!values.analyse)
  await measureShard(
    CACHE,
    candidates(),
    values.shard,
    measure,
    (name, r) =>
      `${name} [${r.role}] ${r.family}: untargeted ${r.untargetedL1.toFixed(1)} px, smallest targeted ${Math.min(...r.targetedL1).toFixed(1)} px, ${r.seconds.toFixed(1)} s`,
  );

/** The first form measured: ln(median per-class mask / untargeted mask). */
const againstMedian = (r: UntargetedRecord) => Math.log(median(r.targetedL1) / Math.max(r.untargetedL1, 1));
/** The form the scan uses (src/core/verdict.ts): ln(smallest per-class mask / untargeted mask). */
const againstSmallest = (r: UntargetedRecord) => Math.log(Math.min(...r.targetedL1) / Math.max(r.untargetedL1, 1));

if (values.analyse) {
  const records = readRecords<UntargetedRecord>(CACHE).sort((a, b) => againstSmallest(b) - againstSmallest(a));
  for (const r of records)
    console.log(
      `${r.name.padEnd(36)} ${r.role.padEnd(10)} ${r.family.padEnd(14)} against the smallest ${againstSmallest(r).toFixed(2).padStart(5)} (against the median ${againstMedian(r).toFixed(2).padStart(5)})  untargeted ${r.untargetedL1.toFixed(1).padStart(6)} px (${(100 * r.untargetedAsr).toFixed(0)} %)  per-class median ${median(r.targetedL1).toFixed(1).padStart(6)}`,
    );
  // Each form's threshold comes from the clean tuning models among these records by the shipped
  // recipe (thresholdLevel, as `npm run eval -- --fit` sets it); the other splits are judged by it.
  const cleanOther = records.filter((r) => r.family === 'clean' && r.role !== 'tuning');
  const allToAll = records.filter((r) => r.family === 'all-to-all');
  const others = records.filter((r) => r.family !== 'clean' && r.family !== 'all-to-all');
  for (const [name, statistic] of [
    ['against the smallest', againstSmallest],
    ['against the median', againstMedian],
  ] as const) {
    const cleanTuning = records.filter((r) => r.family === 'clean' && r.role === 'tuning').map(statistic);
    const threshold = thresholdLevel(cleanTuning, 0.5).suspicious;
    const above = (rs: UntargetedRecord[]) => rs.filter((r) => statistic(r) > threshold);
    console.log(
      `${name}: threshold ${threshold.toFixed(2)} (recipe on ${cleanTuning.length} clean tuning models, largest ${Math.max(...cleanTuning).toFixed(2)}); clean validation/test models above it: ${above(cleanOther).length} of ${cleanOther.length} (largest ${Math.max(...cleanOther.map(statistic)).toFixed(2)}); other backdoors above it: ${above(others).length} of ${others.length}; all-to-all above it: ${above(allToAll).length} of ${allToAll.length} (${allToAll.map((r) => `${r.name} [${r.role}] ${statistic(r).toFixed(2)}`).join(', ')}); AUROC all-to-all vs all clean ${auroc(allToAll.map(statistic), records.filter((r) => r.family === 'clean').map(statistic)).toFixed(3)}`,
    );
  }
}
