// Experiments behind docs/cleaning.md's "Judging the trial by a re-scan" and "Weighing the
// target's revival against the other classes'" (issue 21, lasting removal). `auto`'s trial fine-tune (src/clean/lasting.ts) calls a
// removal superficial when the recovered trigger's ASR on a re-tuned copy reaches 10 % and rose 5
// points. On the test split it fails models whose true trigger stays gone (the recovered trigger
// is partly a natural feature, which a fine-tune brings back too) and passes two whose true
// trigger returns. Two ways to tell the two apart, each weighing the target against the other
// classes instead of reading one trigger alone:
//   MODE=rescan   the gate's own re-scan of the re-tuned copy (and of the cleaned model), on the
//                 judging images;
//   MODE=classes  every class's triggers from the cleaning's first scan (ℓ∞ and mask, as
//                 recoveredTriggers gives the target's), measured like the trial measures the
//                 target's: on the trial's images, on the cleaned model and on its re-tuned copy.
//                 A natural feature's revival would be matched by other classes'.
//
// For each model cleaned by `npm run eval:clean -- --probes --judge-probes` (its report row in
// the JSON given, its cleaned model in the cache's out/), the cleaning set, the judging images and
// the trial are rebuilt as runClean builds them (seed 0, the default policy). The cleaned model on
// disk is the one written, after the trial's SAU round where the trial ran one.
//   MODE=classes tsx scripts/experiments/trial-revival.ts /tmp/diag/ecu-1.json [more eval:clean JSON files]
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { RELEARNED_ASR, RELEARNED_RISE, retunedCopy } from '../../src/clean/lasting.js';
import { atTarget, cleaningSets, DEFAULT_CLEAN_POLICY, scanForTriggers, type TriggerScan } from '../../src/clean/pipeline.js';
import { triggerAsr } from '../../src/clean/training.js';
import { recoveredTriggers } from '../../src/clean/triggers.js';
import { loadLabelledImages, loadProbeImages } from '../../src/data/sources.js';
import { selectBackend } from '../../src/engine/backend.js';
import { planRows } from '../../src/engine/memory.js';
import { MemoryLogger } from '../../src/logger.js';
import { loadModel } from '../../src/model/load.js';

interface EvalCleanRow {
  model: string;
  mode?: 'flagged' | 'forced';
  after?: { asr: number | null };
  retuned?: { asr: number | null };
  clean?: {
    verdictAfter?: string;
    flaggedTarget?: number;
    data?: { source: string; unlabelled?: { source: string } };
    retuneTrial?: { relearned: boolean; sau?: { after: { relearned: boolean } } };
  };
}

const SEED = 0;
const MODE = process.env.MODE ?? 'classes';

const brief = (s: TriggerScan) =>
  `${s.decision.verdict}${s.decision.suspectedTarget === null ? '' : ` ${s.decision.suspectedTarget}`} (trigger ${s.dense.suspectedTarget ?? '–'}, mask ${s.mask.suspectedTarget ?? '–'} ratio ${s.mask.ratio.toFixed(2)})`;

await selectBackend({ choice: 'wasm', logger: new MemoryLogger() });
const rows = process.argv.slice(2).flatMap((f) => (JSON.parse(readFileSync(f, 'utf8')) as { rows: EvalCleanRow[] }).rows);
for (const row of rows.filter((r) => r.mode === 'flagged' && r.clean?.data)) {
  const data = row.clean!.data!;
  const cache = path.dirname(path.dirname(data.source));
  const { model: original } = await loadModel(path.join('zoo', row.model));
  const { model: cleaned } = await loadModel(path.join(cache, 'out', row.model));
  // runClean's sets, from the same files and seed, labelled by the original.
  const { cleanSet, judge, trialSet } = cleaningSets(
    original,
    loadLabelledImages(data.source, { shape: original.inputShape, maxImages: 100_000, seed: SEED }),
    loadProbeImages(data.unlabelled!.source, { shape: original.inputShape, maxImages: 1000, seed: SEED }),
  );
  const plan = await planRows(cleaned);
  const t0 = performance.now();
  const trial = row.clean!.retuneTrial;
  const card = JSON.parse(readFileSync(path.join('zoo', row.model, 'zoo-card.json'), 'utf8')) as { attack: { target?: number } | null };
  const pct = (v: number | null | undefined) => (v === null || v === undefined ? '–' : (100 * v).toFixed(1));
  const known = `${row.model}: eval verdict ${row.clean!.verdictAfter}, trial ${trial ? ((trial.sau?.after ?? trial).relearned ? 'came back' : 'did not') : '–'}; true ASR ${pct(row.after?.asr)} → re-tuned ${pct(row.retuned?.asr)}; true target ${card.attack?.target ?? '– (clean)'}`;
  const record = {
    model: row.model,
    evalVerdict: row.clean!.verdictAfter,
    trialCameBack: trial ? (trial.sau?.after ?? trial).relearned : null,
    trueAfter: row.after?.asr,
    trueRetuned: row.retuned?.asr,
    target: card.attack?.target ?? null,
  };
  if (MODE === 'rescan') {
    const now = await scanForTriggers(cleaned, judge, plan, SEED, DEFAULT_CLEAN_POLICY);
    const { copy, done } = await retunedCopy(cleaned, cleanSet, SEED);
    const retuned = await scanForTriggers(copy, judge, plan, SEED, DEFAULT_CLEAN_POLICY);
    done();
    console.log(`${known}; re-scan: cleaned ${brief(now)}, re-tuned copy ${brief(retuned)}; ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    console.log(`JSON ${JSON.stringify({ ...record, cleaned: now.decision, retuned: retuned.decision })}`);
  } else {
    // The cleaning's first scan (on the images it cleans with) and its target, as runClean has them.
    const first = await scanForTriggers(original, cleanSet, plan, SEED, DEFAULT_CLEAN_POLICY);
    const cleanedAt = first.decision.suspectedTarget ?? row.clean!.flaggedTarget!;
    const { copy, done } = await retunedCopy(cleaned, cleanSet, SEED);
    const perClass = Array.from({ length: original.numClasses }, (_, c) => {
      const triggers = recoveredTriggers(original.inputShape, atTarget(first, c));
      const asr = (m: typeof cleaned) => Math.max(0, ...triggers.map((t) => triggerAsr(m, trialSet, t) ?? 0));
      return { class: c, cleaned: asr(cleaned), retuned: asr(copy) };
    });
    done();
    const at = perClass[cleanedAt];
    const others = perClass.filter((p) => p.class !== cleanedAt).map((p) => ({ ...p, rise: p.retuned - p.cleaned }));
    const rises = others.map((p) => p.rise).sort((x, y) => x - y);
    const top = others.reduce((a, b) => (b.rise > a.rise ? b : a));
    console.log(
      `${known}; cleaned at ${cleanedAt}: ${pct(at.cleaned)} → ${pct(at.retuned)} %; other classes' rise median ${pct(rises[rises.length >> 1])}, largest ${pct(top.rise)} (class ${top.class}: ${pct(top.cleaned)} → ${pct(top.retuned)}), ${others.filter((p) => p.retuned >= RELEARNED_ASR && p.rise >= RELEARNED_RISE).length} of ${others.length} would count as come back; ${((performance.now() - t0) / 1000).toFixed(0)} s`,
    );
    console.log(`JSON ${JSON.stringify({ ...record, cleanedAt, perClass })}`);
  }
  [original, cleaned].forEach((m) => m.dispose());
}
