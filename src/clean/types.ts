// The cleaning vocabulary that inputs are parsed into (settings.ts): no cleaning code here, so
// parsing inputs loads none of it.
export const CLEAN_METHODS = ['auto', 'unlearn', 'onp', 'sau', 'd3', 'par'] as const;
export type CleanMethod = (typeof CLEAN_METHODS)[number];

/** What `auto` runs on a tfjs layers classifier (ONNX models get trigger unlearning). */
export const AUTO_METHOD: Exclude<CleanMethod, 'auto'> = 'onp';

/** Fewer labelled images per class than this cannot clean or measure anything. */
export const MIN_IMAGES_PER_CLASS = 10;

/** Where a cleaned model whose re-scan passes is published. */
export type PublishTarget = { kind: 'release'; tag?: string } | { kind: 'artifact'; name?: string };
