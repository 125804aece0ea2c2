// A CLIP-style dual encoder behind ModelUnderTest: zero-shot logits = scale · cos(image, class
// text), differentiable w.r.t. the pixels (so every scan and trigger inversion runs unchanged)
// and w.r.t. whichever part a cleaner trains: the prompt learner (CLIP-Inspector's repair), or
// both towers (PAR).
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { writeNpy } from '../../data/npy.js';
import { InputError } from '../../errors.js';
import type { ModelUnderTest } from '../adapter.js';
import type { InputSpec } from '../gate-json.js';
import { ONNX_FILE } from '../read.js';
import type { Tower } from './tower.js';
import type { NetworkStructure } from '../structure.js';
import { classPromptKind, DUAL_ENCODER_FILE, hasTextEncoder, type ClassPromptKind, type DualManifest, type NpyPart } from './manifest.js';

export interface DualParts {
  manifest: DualManifest;
  /** The manifest's path, for messages. */
  file: string;
  /** Pixel images → [batch, dim] embeddings (its `logits` are the embedding). */
  image: ModelUnderTest;
  text?: Tower;
  metaNet?: Tower;
  tokenEmbedding?: NpyPart;
  context?: NpyPart;
  classEmbeddings?: NpyPart;
}

const normalize = <T extends tf.Tensor>(t: T): T => tf.div(t, tf.add(tf.norm(t, 2, -1, true), 1e-12)) as T;

/** Word ids of a prompt: lower-cased, split on spaces, every word in the vocabulary. */
export function tokenize(text: string, vocab: Map<string, number>, file: string, what: string): number[] {
  return text
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .map((w) => {
      const id = vocab.get(w);
      if (id === undefined) throw new InputError(file, `${what} '${text}' uses the word '${w}', which is not in the vocabulary`);
      return id;
    });
}

export class DualEncoderModel implements ModelUnderTest {
  readonly format = 'dual-encoder' as const;
  readonly inputShape: [number, number, number];
  readonly numClasses: number;
  readonly endsInSoftmax = false;
  readonly head = 'logits' as const;
  readonly decision = 'single-label' as const;
  readonly classNames: string[];
  readonly structure: NetworkStructure;
  readonly classPrompts: ClassPromptKind;
  readonly logitScale: number;
  readonly manifest: DualManifest;
  /** [vocab, token_dim]; trainable by PAR. */
  readonly tokens?: tf.Variable;
  /** [n_ctx, token_dim] CoOp context vectors. */
  readonly context?: tf.Variable;
  readonly contextLength: number = 0;
  readonly tokenDim: number = 0;
  private readonly vocab = new Map<string, number>();
  private readonly classIds: number[][] = [];
  private readonly templateIds: number[][][] = [];

  constructor(private readonly parts: DualParts) {
    const m = (this.manifest = parts.manifest);
    this.inputShape = parts.image.inputShape;
    this.structure = parts.image.structure;
    this.classPrompts = classPromptKind(m);
    this.numClasses = m.classes.length;
    this.classNames = m.classes;
    this.logitScale = m.logit_scale;
    const dim = parts.image.numClasses;
    if (parts.classEmbeddings && parts.classEmbeddings.shape[1] !== dim) {
      throw new InputError(parts.file, `class_embeddings have ${parts.classEmbeddings.shape[1]} dimensions but the image encoder outputs ${dim}`);
    }
    if (hasTextEncoder(m) && parts.text && parts.tokenEmbedding) {
      const shape = parts.text.inputShape;
      const out = parts.text.outputShape;
      if (shape.length !== 3 || !shape[1] || !shape[2])
        throw new InputError(parts.file, `the text encoder must take one [batch, context_length, token_dim] input; it takes [${shape.join(', ')}]`);
      this.contextLength = shape[1];
      this.tokenDim = shape[2];
      if (parts.tokenEmbedding.shape[1] !== this.tokenDim)
        throw new InputError(parts.file, `token_embedding rows have ${parts.tokenEmbedding.shape[1]} values; the text encoder reads ${this.tokenDim}`);
      if (out.at(-1) !== dim) throw new InputError(parts.file, `the text encoder outputs ${out.at(-1)} dimensions, the image encoder ${dim}`);
      m.text.vocab.forEach((w, i) => this.vocab.set(w.toLowerCase(), i));
      const nCtx = parts.context?.shape[0] ?? 0;
      for (const name of m.classes) this.classIds.push(this.fit(tokenize(name, this.vocab, parts.file, 'class name'), nCtx, `class name '${name}'`));
      for (const name of m.classes)
        this.templateIds.push(
          (m.text.templates ?? []).map((t) =>
            this.fit(tokenize(t.replace('{}', name), this.vocab, parts.file, 'prompt'), 0, `prompt '${t.replace('{}', name)}'`),
          ),
        );
      if (parts.context && parts.context.shape[1] !== this.tokenDim)
        throw new InputError(parts.file, `context vectors have ${parts.context.shape[1]} values; tokens have ${this.tokenDim}`);
      if (parts.metaNet) {
        const [i, o] = [parts.metaNet.inputShape, parts.metaNet.outputShape];
        if (i.at(-1) !== dim || o.at(-1) !== this.tokenDim)
          throw new InputError(
            parts.file,
            `the meta-net maps [${i.join(', ')}] → [${o.join(', ')}]; it must map the ${dim}-dim image embedding to a ${this.tokenDim}-dim token`,
          );
      }
      // Variables last: every check above has passed.
      this.tokens = tf.variable(tf.tensor2d(parts.tokenEmbedding.data, parts.tokenEmbedding.shape as [number, number]));
      if (parts.context) this.context = tf.variable(tf.tensor2d(parts.context.data, parts.context.shape as [number, number]));
    }
  }

  private fit(ids: number[], reserved: number, what: string): number[] {
    if (ids.length + reserved > this.contextLength)
      throw new InputError(this.parts.file, `${what} needs ${ids.length + reserved} tokens; the text encoder reads ${this.contextLength}`);
    return ids;
  }

  get inputSpec(): InputSpec {
    return this.parts.image.inputSpec;
  }
  get canSave(): boolean {
    return this.parts.image.canSave;
  }
  get hasPromptLearner(): boolean {
    return !!this.context;
  }
  get hasTextEncoder(): boolean {
    return !!this.parts.text;
  }
  get templates(): string[] {
    return hasTextEncoder(this.manifest) ? (this.manifest.text.templates ?? []) : [];
  }

  /** L2-normalised image embeddings [N, dim]. */
  encodeImages(x: tf.Tensor4D, training = false): tf.Tensor2D {
    return normalize(this.parts.image.logits(x, { training }));
  }

  /** [N, L, d] token embeddings (zero vectors after the words) → normalised text embeddings. */
  private encodeSequences(seq: tf.Tensor3D, training: boolean): tf.Tensor2D {
    return normalize(this.parts.text!.apply(seq, training) as tf.Tensor2D);
  }

  /** Rows of the token table for each id list, padded with zero vectors to `length`. */
  private embedIds(ids: number[][], length: number): tf.Tensor3D {
    const table = tf.concat([this.tokens!, tf.zeros([1, this.tokenDim])]);
    const pad = this.tokens!.shape[0];
    const idx = ids.flatMap((l) => [...l, ...new Array<number>(length - l.length).fill(pad)]);
    // A one-hot product, not tf.gather: gather's gradient needs UnsortedSegmentSum, which the wasm backend lacks.
    const rows = tf.matMul(tf.oneHot(tf.tensor1d(idx, 'int32'), pad + 1), table);
    return tf.reshape(rows, [ids.length, length, this.tokenDim]) as tf.Tensor3D;
  }

  /** Normalised embeddings of captions given as word ids (PAR's text side). */
  encodeTokenIds(ids: number[][], training = false): tf.Tensor2D {
    if (!this.parts.text) throw new InputError(this.parts.file, 'has no text encoder');
    return this.encodeSequences(this.embedIds(ids, this.contextLength), training);
  }

  tokenizeCaption(text: string): number[] {
    return this.fit(tokenize(text, this.vocab, this.parts.file, 'caption'), 0, `caption '${text}'`);
  }

  /**
   * Class text embeddings: [K, dim], or [N, K, dim] when a meta-net conditions the prompt on
   * each image (`image`: the normalised image embeddings).
   */
  classTexts(image: tf.Tensor2D, training = false): tf.Tensor {
    const p = this.parts;
    if (p.classEmbeddings) return normalize(tf.tensor2d(p.classEmbeddings.data, p.classEmbeddings.shape as [number, number]));
    if (!this.context) {
      // CLIP zero-shot: mean of the normalised template embeddings, renormalised.
      const T = this.templateIds[0].length;
      const all = this.encodeTokenIds(this.templateIds.flat(), training);
      return normalize(tf.mean(tf.reshape(all, [this.numClasses, T, -1]), 1));
    }
    const K = this.numClasses;
    const [M, d, L] = [this.context.shape[0], this.tokenDim, this.contextLength];
    const names = this.embedIds(this.classIds, L - M); // [K, L−M, d]
    if (!p.metaNet) {
      const prompts = tf.concat([tf.broadcastTo(tf.expandDims(this.context, 0), [K, M, d]), names], 1) as tf.Tensor3D;
      return this.encodeSequences(prompts, training);
    }
    const N = image.shape[0];
    const shift = p.metaNet.apply(image, training) as tf.Tensor2D; // [N, d]
    const ctx = tf.add(tf.expandDims(this.context, 0), tf.expandDims(shift, 1)); // [N, M, d]
    const prompts = tf.concat([tf.broadcastTo(tf.expandDims(ctx, 1), [N, K, M, d]), tf.broadcastTo(tf.expandDims(names, 0), [N, K, L - M, d])], 2);
    return tf.reshape(this.encodeSequences(tf.reshape(prompts, [N * K, L, d]) as tf.Tensor3D, training), [N, K, -1]);
  }

  logits(x: tf.Tensor4D, { training = false } = {}): tf.Tensor2D {
    return tf.tidy(() => {
      const v = this.encodeImages(x, training);
      const t = this.classTexts(v, training);
      const cos = t.rank === 2 ? tf.matMul(v, t as tf.Tensor2D, false, true) : tf.sum(tf.mul(tf.expandDims(v, 1), t), -1);
      return tf.mul(cos, this.logitScale) as tf.Tensor2D;
    });
  }

  /** What zero-shot cleaning trains: the prompt learner when there is one, else the image tower. */
  trainableVariables(): tf.Variable[] {
    if (this.context) return [this.context, ...(this.parts.metaNet?.variables() ?? [])];
    return this.parts.image.trainableVariables();
  }

  /** Both towers' weights, for PAR (the token table belongs to the text tower). */
  towerVariables(): { image: tf.Variable[]; text: tf.Variable[] } {
    const text = this.parts.text ? [...this.parts.text.variables(), this.tokens!] : [];
    return { image: this.parts.image.trainableVariables(), text };
  }

  /** Writes every part under `dir` and a manifest naming them (never over an existing model). */
  async save(dir: string, { overwrite = false } = {}): Promise<void> {
    const file = path.join(dir, DUAL_ENCODER_FILE);
    if (existsSync(file) && !overwrite) throw new InputError(file, 'already exists; refusing to overwrite it (choose another output directory)');
    mkdirSync(dir, { recursive: true });
    const p = this.parts;
    const m = structuredClone(this.manifest);
    await p.image.save(path.join(dir, 'image'), { overwrite });
    m.image_encoder = p.image.format === 'onnx' ? `image/${ONNX_FILE}` : 'image/model.json';
    if (hasTextEncoder(m) && p.text) {
      m.text.encoder = `text/${await p.text.save(path.join(dir, 'text'), overwrite)}`;
      writeNpy(path.join(dir, 'text', 'token_embedding.npy'), this.tokens!.dataSync() as Float32Array, this.tokens!.shape);
      m.text.token_embedding = 'text/token_embedding.npy';
      if (m.text.prompt_learner && this.context) {
        mkdirSync(path.join(dir, 'prompt'), { recursive: true });
        writeNpy(path.join(dir, 'prompt', 'context.npy'), this.context.dataSync() as Float32Array, this.context.shape);
        m.text.prompt_learner.context = 'prompt/context.npy';
        if (p.metaNet) {
          m.text.prompt_learner.meta_net = `prompt/meta-net/${await p.metaNet.save(path.join(dir, 'prompt', 'meta-net'), overwrite)}`;
        }
      }
    } else if ('class_embeddings' in m.text && p.classEmbeddings) {
      mkdirSync(path.join(dir, 'text'), { recursive: true });
      writeNpy(path.join(dir, 'text', 'class_embeddings.npy'), p.classEmbeddings.data, p.classEmbeddings.shape);
      m.text.class_embeddings = 'text/class_embeddings.npy';
    }
    writeFileSync(file, `${JSON.stringify(m, null, 2)}\n`);
  }

  dispose(): void {
    this.parts.image.dispose();
    this.parts.text?.dispose();
    this.parts.metaNet?.dispose();
    this.tokens?.dispose();
    this.context?.dispose();
  }
}
