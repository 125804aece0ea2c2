// dual-encoder.json: a CLIP-style model as parts the gate already reads (tfjs layers or ONNX
// image encoder, text encoder and meta-net; .npy arrays) plus how they make zero-shot logits:
//   logits = logit_scale · cos(image embedding, class text embedding).
// The class text embeddings are given (`class_embeddings`), or made by the text encoder from the
// class names through `templates` (mean of the normalised template embeddings, as CLIP's
// zero-shot evaluation does) or through a `prompt_learner` (CoOp context vectors, optionally
// shifted per image by a CoCoOp meta-net).
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { InputError } from '../../errors.js';
import { readNpy } from '../../data/npy.js';
import { checkWeightPath, jsonDepth } from '../manifest.js';
import type { ResourceLimits } from '../limits.js';
import type { InputSpec } from '../gate-json.js';

export const DUAL_ENCODER_FILE = 'dual-encoder.json';
export const DUAL_ENCODER_FORMAT = 'backdoor-gate/dual-encoder';

const part = z.string().min(1);
const inputSpec = z
  .object({
    range: z.tuple([z.number(), z.number()]).refine(([lo, hi]) => hi > lo, 'range must be [low, high] with high > low'),
    mean: z.array(z.number()).optional(),
    std: z.array(z.number().positive()).optional(),
    layout: z.enum(['NCHW', 'NHWC']).optional(),
  })
  .strict();

const textTower = z
  .object({
    /** tfjs layers model or .onnx: [batch, context_length, token_dim] token embeddings → [batch, dim]. */
    encoder: part,
    /** .npy [vocab, token_dim]: the token embedding table. */
    token_embedding: part,
    /** One word per row of the table; prompts are lower-cased and split on spaces. */
    vocab: z.array(z.string().min(1)).min(1),
    /** Caption templates with `{}` for the class name (zero-shot prompts, and PAR's captions). */
    templates: z.array(z.string().includes('{}')).min(1).optional(),
    prompt_learner: z
      .object({
        /** .npy [n_ctx, token_dim]: learned context vectors put before the class name. */
        context: part,
        /** Optional tfjs layers model or .onnx: normalised image embedding [batch, dim] → [batch, token_dim], added to every context vector (CoCoOp). */
        meta_net: part.optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export const dualManifestSchema = z
  .object({
    format: z.literal(DUAL_ENCODER_FORMAT),
    version: z.literal(1),
    /** tfjs layers model or .onnx file: pixel images → [batch, dim]. */
    image_encoder: part,
    input: inputSpec.optional(),
    classes: z.array(z.string().min(1)).min(2),
    /** Multiplier of the cosine similarities (CLIP's exp(logit_scale)). */
    logit_scale: z.number().positive().max(1000),
    text: z.union([z.object({ class_embeddings: part }).strict(), textTower]),
  })
  .strict()
  .superRefine((m, ctx) => {
    if ('encoder' in m.text && !m.text.templates && !m.text.prompt_learner) {
      ctx.addIssue({ code: 'custom', path: ['text'], message: 'a text encoder needs templates or a prompt_learner to make the class prompts' });
    }
  });

export type DualManifest = z.infer<typeof dualManifestSchema>;
export type TextTowerSpec = z.infer<typeof textTower>;
export const hasTextEncoder = (m: DualManifest): m is DualManifest & { text: TextTowerSpec } => 'encoder' in m.text;

/**
 * How a dual encoder makes its class text embeddings: given outright, the text encoder on caption
 * templates, or a prompt learner's context vectors (CoOp), shifted per image by a meta-net
 * (CoCoOp). Where a backdoor can hide differs between them, so the gate's power is measured per kind.
 */
export const CLASS_PROMPT_KINDS = ['class-embeddings', 'templates', 'coop', 'cocoop'] as const;
export type ClassPromptKind = (typeof CLASS_PROMPT_KINDS)[number];

/** The kind of class prompts a manifest describes (a prompt learner wins over templates, as the logits do). */
export function classPromptKind(m: DualManifest): ClassPromptKind {
  if (!hasTextEncoder(m)) return 'class-embeddings';
  if (m.text.prompt_learner) return m.text.prompt_learner.meta_net ? 'cocoop' : 'coop';
  return 'templates';
}

export function parseDualManifest(text: string, file: string): DualManifest {
  if (jsonDepth(text) > 16) throw new InputError(file, 'nests JSON deeper than 16 levels');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new InputError(file, `is not valid JSON (${(err as Error).message})`);
  }
  const parsed = dualManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InputError(file, `is not a valid dual-encoder manifest: ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  }
  return parsed.data;
}

/** A part's path inside the manifest's directory (never outside it). */
export function partPath(dir: string, name: string, file: string): string {
  const full = path.join(dir, checkWeightPath(name, file));
  if (!existsSync(full)) throw new InputError(file, `names part '${name}', which does not exist`);
  const real = realpathSync(full);
  if (real === realpathSync(dir)) throw new InputError(file, `names part '${name}', which is the manifest's own directory`);
  if (!real.startsWith(realpathSync(dir) + path.sep)) throw new InputError(full, 'is a symbolic link pointing outside the model directory');
  return full;
}

/** A .npy part as float32 with the expected rank. */
export interface NpyPart {
  name: string;
  shape: number[];
  data: Float32Array;
  bytes: Buffer;
}

export function readNpyPart(dir: string, name: string, rank: number, file: string, limits: ResourceLimits): NpyPart {
  const full = partPath(dir, name, file);
  if (!statSync(full).isFile()) throw new InputError(full, 'is not a regular file');
  const arr = readNpy(full, limits.maxTensorElements);
  if (arr.shape.length !== rank) throw new InputError(full, `has shape [${arr.shape.join(', ')}]; expected rank ${rank}`);
  if (arr.dtype !== 'float32' && arr.dtype !== 'float64') throw new InputError(full, `holds ${arr.dtype} values; expected float32`);
  const data = Float32Array.from(arr.data);
  if (!data.every(Number.isFinite)) throw new InputError(full, 'holds NaN or infinite values');
  return { name, shape: arr.shape, data, bytes: readFileSync(full) };
}

export const DEFAULT_DUAL_INPUT: InputSpec = { range: [0, 1] };
