// Many classes (after K-Arm, Shen et al., ICML 2021: most classes are hopeless targets, so do not
// spend the full budget on each). Every per-class scan costs K times its per-class budget; on a
// model with many classes that is hours. So above `allClassesUpTo` classes a scan runs twice:
//  1. a screen: every class at a small budget, which ranks the classes by how backdoor-like they
//     already look (the scan itself at a small budget, or the maximum-margin scan where the scan
//     moves too slowly to rank anything cheaply: mask inversion);
//  2. the full budget on two sets of classes: `reference` classes drawn at random (by seed), which
//     give the null the statistics compare a class with (the median and spread of "other
//     classes"), and the screen's `candidates` most suspicious classes, which are the ones a
//     backdoor's target would be among.
// The screened classes stay in the report, marked, and neither vote nor enter the null: their
// small-budget values would understate every class's natural triggers and so inflate the others'
// anomaly. The cost is the screen plus (reference + candidates) full classes, whatever K is. K-Arm
// interleaves the arms in a bandit; a screen then a fixed set is its simplest form, and keeps a
// class's full-budget result exactly what a scan of every class would give it (the scans start
// each class the same way whichever classes run), which a shard of classes needs too.
import { mulberry32, shuffleInPlace } from '../util/random.js';

export interface ClassSchedule {
  /** Models with at most this many classes scan every class at the full budget. */
  allClassesUpTo: number;
  /** Classes drawn at random that get the full budget: the null the others are compared with. */
  reference: number;
  /** The screen's most suspicious classes that also get the full budget. */
  candidates: number;
}

/**
 * Every class in full up to 48 classes: the benchmark (up to 43 classes) was measured that way.
 * Above, 12 reference classes (a 10-class model's null plus two) and 4 candidates.
 */
export const DEFAULT_SCHEDULE: ClassSchedule = { allClassesUpTo: 48, reference: 12, candidates: 4 };

/** `count` classes of K drawn without replacement, reproducibly from `seed`; sorted. */
export function referenceClasses(K: number, count: number, seed: number): number[] {
  const all = shuffleInPlace([...Array(K).keys()], mulberry32(seed ^ 0x5eed));
  return all.slice(0, Math.min(K, count)).sort((a, b) => a - b);
}

/** The classes that get the full budget: the reference draw and the top of the screen's ranking (most suspicious first); sorted. */
export function fullBudgetClasses(K: number, schedule: ClassSchedule, seed: number, ranking: readonly number[]): number[] {
  const chosen = new Set(referenceClasses(K, schedule.reference, seed));
  for (const c of ranking.slice(0, schedule.candidates)) chosen.add(c);
  return [...chosen].sort((a, b) => a - b);
}

/** Per class, the entry of a part that ran it in full, else a screened one (every shard screens alike); by class. */
export function combinePerClass<T extends { class: number; screened?: boolean }>(parts: readonly (readonly T[])[]): T[] {
  const byClass = new Map<number, T>();
  for (const entries of parts) for (const p of entries) if (!byClass.get(p.class) || (byClass.get(p.class)!.screened && !p.screened)) byClass.set(p.class, p);
  return [...byClass.values()].sort((a, b) => a.class - b.class);
}

/** Per-class entries of both runs, by class: the full run's where it ran, the screen's marked `screened` elsewhere. */
export function mergeScreened<T extends { class: number; screened?: boolean }>(full: readonly T[], screen: readonly T[]): T[] {
  return combinePerClass([full, screen.map((p) => ({ ...p, screened: true }))]);
}

/** A per-class array ([K × stride]) from the screen's, with the full run's rows where it ran. */
export function mergeRows(full: Float32Array, screen: Float32Array, classes: readonly number[], stride: number): Float32Array {
  const out = Float32Array.from(screen);
  for (const c of classes) out.set(full.subarray(c * stride, (c + 1) * stride), c * stride);
  return out;
}

/** How a scan runs under the schedule: a screen that ranks every class, the full budget on some classes, and how the two merge. */
export interface ScheduledScan<R, S> {
  /** Every class at a small budget. */
  screen(): Promise<S>;
  /** The screened classes, most suspicious first. */
  rank(screen: S): number[];
  /** The full budget on `classes` (every class when undefined). */
  run(classes?: readonly number[]): Promise<R>;
  /** One result over every class, the classes outside `classes` marked `screened`. */
  merge(full: R, screen: S, classes: readonly number[]): R;
}

/** Shard `index` (1-based) of `count`: one of the jobs a scan's per-class work is split over. */
export interface Shard {
  index: number;
  count: number;
}

/** A shard as a scan runs it: told which classes the whole scan gives the full budget and which of them are its own. */
export interface ShardPlan extends Shard {
  planned(all: readonly number[], ran: readonly number[]): void;
}

/**
 * The most shards that all get work on a K-class model: every class, or under the schedule the
 * full-budget classes (at least the reference draw or the candidates, whichever is more).
 */
export function usefulShards(K: number, schedule: ClassSchedule): number {
  return K <= schedule.allClassesUpTo ? K : Math.max(1, Math.min(K, Math.max(schedule.reference, schedule.candidates)));
}

/** The shard's share of `classes`: every count-th one from its index, so each shard gets as many, and as many large class ids, as the others. */
export function shardShare(classes: readonly number[], shard: Shard): number[] {
  return classes.filter((_, j) => j % shard.count === shard.index - 1);
}

/**
 * A shard with no class of a scan to run (more shards than the scan has full-budget classes, as
 * `--jobs` on a two-class model): it runs nothing of that scan, and its report plans no class.
 */
export class EmptyShare extends Error {
  constructor(shard: Shard, classes: number) {
    super(`shard ${shard.index}/${shard.count} has none of this scan's ${classes} full-budget classes`);
  }
}

/**
 * Runs `scan` on a K-class model: every class in full, or a screen and then the full budget on the
 * classes the schedule picks. A shard runs its share of those classes only; under the schedule
 * each shard screens every class itself (the screen is cheap and gives every shard the same
 * ranking, so the same classes), and its result marks the classes other shards run as screened.
 */
export async function runScheduled<R, S>(K: number, schedule: ClassSchedule, seed: number, scan: ScheduledScan<R, S>, shard?: ShardPlan): Promise<R> {
  const mine = (all: number[]) => {
    if (!shard) return all;
    const ran = shardShare(all, shard);
    shard.planned(all, ran);
    if (!ran.length) throw new EmptyShare(shard, all.length);
    return ran;
  };
  if (K <= schedule.allClassesUpTo) return shard ? scan.run(mine([...Array(K).keys()])) : scan.run();
  const screen = await scan.screen();
  const classes = mine(fullBudgetClasses(K, schedule, seed, scan.rank(screen)));
  return scan.merge(await scan.run(classes), screen, classes);
}
