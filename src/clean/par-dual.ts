// PAR on CLIP-style dual encoders, as the official code does it (Singh, Croce & Hein, "Perturb
// and Recover", arXiv 2412.00727; github.com/nmndeep/PerturbAndRecover, train.py / losses.py):
//   u = norm(φ(x)), t = norm(ψ(c)), u⁰, t⁰ the same from the frozen poisoned model, same inputs;
//   L_CLIP = ½ [CE(s·U·Tᵀ, I) + CE(s·T·Uᵀ, I)] with the temperature s fixed (no gradient);
//   S_img = mean_n ‖u_n − u⁰_n‖², S_txt likewise; thr(S) = S if S ≤ τ else 0 (a constant gate);
//   L_PAR = L_CLIP − ½ (thr(S_img) + thr(S_txt)), τ = 2.15; both towers trained.
// AdamW (β 0.9/0.98, ε 1e-8, decoupled decay 1e-4 on ≥2-D weights only), learning rate per step
// linear from lr to lr/10 over the first half, then cosine down to 1e-9. Augmentation as the
// code: with p = 0.5 add non-negative noise clip(N(0, 0.2²), 0, 1), with p = 0.5 erase a square
// of 0.5–1 % of the image. The code erases with 0 in CLIP's normalised space (the channel mean);
// we erase with 0 in pixel space (black), and have not compared the two.
// Differences, and why:
// - The augmented views are drawn ahead (`views` per image) so the frozen model's embeddings are
//   computed once, not by a second copy of the model at every step (tfjs clones asynchronously).
// - Captions are the user's labels through the manifest's templates (synthetic pairs); PAR's
//   default is 250k CC3M pairs, which a release pipeline does not have.
// - The learning rate: the code's 3e-5 is for CLIP fine-tuned on 250k pairs for 10 epochs; a small
//   dual encoder cleaned from a few hundred pairs needs a larger one (DEFAULT_DUAL_PAR, measured).
import * as tf from '@tensorflow/tfjs';
import type { LabelledImageSet } from '../data/types.js';
import type { DualEncoderModel } from '../model/dual/adapter.js';
import { mulberry32, gaussian, shuffleInPlace } from '../util/random.js';
import { parLearningRate } from './par.js';
import type { CleanLog } from './unlearn.js';
import { plural } from '../util/words.js';

/** CLIP's symmetric contrastive loss for matched rows of normalised embeddings, fixed scale. */
export function clipLoss(u: tf.Tensor2D, t: tf.Tensor2D, scale: number): tf.Scalar {
  const logits = tf.mul(tf.matMul(u, t, false, true), scale) as tf.Tensor2D;
  const eye = tf.oneHot(tf.range(0, u.shape[0], 1, 'int32'), u.shape[0]);
  const ce = (l: tf.Tensor2D) => tf.mean(tf.neg(tf.sum(tf.mul(eye, tf.logSoftmax(l)), -1)));
  return tf.mul(tf.add(ce(logits), ce(tf.transpose(logits) as tf.Tensor2D)), 0.5) as tf.Scalar;
}

export interface DualParOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  finalLearningRate: number;
  tau: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Augmented views drawn per image (see above). */
  views: number;
  seed: number;
}

/** PAR's code defaults except the learning rate (3e-5 there; see the header), the batch (256 per GPU there) and the epochs (10 over 250k pairs there; 20 over a few hundred here: measured, README). */
export const DEFAULT_DUAL_PAR: DualParOptions = {
  epochs: 20,
  batchSize: 64,
  learningRate: 1e-3,
  finalLearningRate: 1e-9,
  tau: 2.15,
  weightDecay: 1e-4,
  beta1: 0.9,
  beta2: 0.98,
  epsilon: 1e-8,
  views: 4,
  seed: 8,
};

/** PAR's augmentation of one image in place: positive noise (p 0.5), then a small erased square (p 0.5). */
export function parAugment(img: Float32Array, h: number, w: number, c: number, rand: () => number, normal: () => number): void {
  if (rand() < 0.5) for (let i = 0; i < img.length; i++) img[i] = Math.min(1, img[i] + Math.min(1, Math.max(0, 0.2 * normal())));
  if (rand() < 0.5) {
    const side = Math.max(1, Math.round(Math.sqrt((0.005 + 0.005 * rand()) * h * w)));
    const y0 = Math.floor(rand() * (h - side + 1));
    const x0 = Math.floor(rand() * (w - side + 1));
    for (let y = y0; y < y0 + side; y++) for (let x = x0; x < x0 + side; x++) for (let k = 0; k < c; k++) img[(y * w + x) * c + k] = 0;
  }
}

/** Hand-written AdamW (tfjs has none): decoupled weight decay on ≥2-D weights, as torch.optim.AdamW. */
class AdamW {
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];
  private t = 0;
  constructor(
    private readonly vars: tf.Variable[],
    private readonly opts: DualParOptions,
  ) {
    this.m = vars.map((x) => tf.variable(tf.zerosLike(x), false));
    this.v = vars.map((x) => tf.variable(tf.zerosLike(x), false));
  }

  step(grads: Record<string, tf.Tensor>, lr: number): void {
    this.t++;
    const { beta1: b1, beta2: b2, epsilon, weightDecay } = this.opts;
    const c1 = 1 - b1 ** this.t;
    const c2 = 1 - b2 ** this.t;
    tf.tidy(() =>
      this.vars.forEach((x, i) => {
        const g = grads[x.name];
        if (!g) return;
        this.m[i].assign(tf.add(tf.mul(this.m[i], b1), tf.mul(g, 1 - b1)));
        this.v[i].assign(tf.add(tf.mul(this.v[i], b2), tf.mul(tf.square(g), 1 - b2)));
        const decayed = x.rank >= 2 ? tf.mul(x, 1 - lr * weightDecay) : x;
        const update = tf.div(tf.div(this.m[i], c1), tf.add(tf.sqrt(tf.div(this.v[i], c2)), epsilon));
        x.assign(tf.sub(decayed, tf.mul(update, lr)));
      }),
    );
  }

  dispose(): void {
    [...this.m, ...this.v].forEach((x) => x.dispose());
  }
}

/** What PAR on a dual encoder reports: the towers and pairs it trained on, and each tower's last mean distance. */
export interface DualParDetails {
  towers: string;
  pairs: string;
  finalEpochMeanDistance: { image: number; text: number };
}

export function parDual(model: DualEncoderModel, data: LabelledImageSet, options: Partial<DualParOptions> = {}): CleanLog<DualParDetails> {
  const opts = { ...DEFAULT_DUAL_PAR, ...options };
  if (!model.hasTextEncoder) throw new Error('PAR trains both towers: this dual encoder gives fixed class embeddings and no text encoder');
  const templates = model.templates;
  if (!templates.length) throw new Error('PAR needs image-caption pairs: add "templates" to dual-encoder.json so captions can be made from the labels');
  const t0 = performance.now();
  const { height: h, width: w, channels: c } = data;
  const n = h * w * c;
  const rand = mulberry32(opts.seed * 104729 + 1);
  const normal = gaussian(rand);
  // Views and captions, drawn once: row r = view (r / count) of image (r % count).
  const rows = opts.views * data.count;
  const views = new Float32Array(rows * n);
  const captions: number[][] = [];
  for (let r = 0; r < rows; r++) {
    const i = r % data.count;
    const img = data.x.slice(i * n, (i + 1) * n);
    parAugment(img, h, w, c, rand, normal);
    views.set(img, r * n);
    const name = model.classNames[data.labels[i]];
    captions.push(model.tokenizeCaption(templates[Math.floor(rand() * templates.length)].replace('{}', name)));
  }
  const dim = tf.tidy(() => model.encodeImages(tf.zeros([1, h, w, c])).shape[1]);
  const frozenImage = new Float32Array(rows * dim);
  const frozenText = new Float32Array(rows * dim);
  for (let s = 0; s < rows; s += 256) {
    const e = Math.min(rows, s + 256);
    tf.tidy(() => {
      frozenImage.set(model.encodeImages(tf.tensor4d(views.subarray(s * n, e * n), [e - s, h, w, c])).dataSync(), s * dim);
      frozenText.set(model.encodeTokenIds(captions.slice(s, e)).dataSync(), s * dim);
    });
  }

  const { image, text } = model.towerVariables();
  const vars = [...image, ...text];
  const optimizer = new AdamW(vars, opts);
  const perEpoch = Math.ceil(data.count / opts.batchSize);
  const total = opts.epochs * perEpoch;
  const order = [...Array(data.count).keys()];
  const epochLoss: number[] = [];
  const distances: Array<{ image: number; text: number }> = [];
  let step = 0;
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    shuffleInPlace(order, rand);
    let sum = 0;
    for (let s = 0; s < data.count; s += opts.batchSize) {
      const batchRows = order.slice(s, s + opts.batchSize).map((i) => Math.floor(rand() * opts.views) * data.count + i);
      if (batchRows.length < 2) continue; // a contrastive loss needs negatives
      const lr = parLearningRate(opts.learningRate, step, total, opts.finalLearningRate);
      tf.tidy(() => {
        const x = tf.tensor4d(
          batchRows.flatMap((r) => Array.from(views.subarray(r * n, (r + 1) * n))),
          [batchRows.length, h, w, c],
        );
        const pick = (f: Float32Array) =>
          tf.tensor2d(
            batchRows.flatMap((r) => Array.from(f.subarray(r * dim, (r + 1) * dim))),
            [batchRows.length, dim],
          );
        const [u0, t0e] = [pick(frozenImage), pick(frozenText)];
        const ids = batchRows.map((r) => captions[r]);
        let sImg = 0;
        let sTxt = 0;
        const { value, grads } = tf.variableGrads(() => {
          const u = model.encodeImages(x, true);
          const t = model.encodeTokenIds(ids, true);
          const dImg = tf.mean(tf.sum(tf.square(tf.sub(u, u0)), -1));
          const dTxt = tf.mean(tf.sum(tf.square(tf.sub(t, t0e)), -1));
          [sImg, sTxt] = [dImg.dataSync()[0], dTxt.dataSync()[0]];
          // The gates are constants: no gradient flows through the comparison (torch.where).
          const pert = tf.mul(tf.add(tf.mul(dImg, sImg <= opts.tau ? 1 : 0), tf.mul(dTxt, sTxt <= opts.tau ? 1 : 0)), 0.5);
          return tf.sub(clipLoss(u, t, model.logitScale), pert) as tf.Scalar;
        }, vars);
        optimizer.step(grads, lr);
        sum += value.dataSync()[0];
        distances.push({ image: sImg, text: sTxt });
      });
      step++;
    }
    epochLoss.push(sum / perEpoch);
  }
  optimizer.dispose();
  const last = distances.slice(-perEpoch);
  const mean = (k: 'image' | 'text') => last.reduce((a, d) => a + d[k], 0) / Math.max(1, last.length);
  return {
    method: 'par',
    summary: `PAR: ${plural(opts.epochs, 'epoch')} of perturb-and-recover in both towers, on labels captioned through ${templates.length} templates`,
    options: opts,
    steps: step,
    epochLoss,
    seconds: (performance.now() - t0) / 1000,
    details: {
      towers: 'image and text',
      pairs: `labels through ${templates.length} templates, ${opts.views} augmented views per image`,
      finalEpochMeanDistance: { image: mean('image'), text: mean('text') },
    },
  };
}
