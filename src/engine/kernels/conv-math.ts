// Flat-array convolution and pooling kernels (NHWC). The stock tfjs `cpu` kernels walk
// TensorBuffers index by index; these loops keep the innermost loop on contiguous channel
// runs and skip zero activations (ReLU nets are sparse), which is where the speed comes from.
// The loop nests are written out per kernel on purpose: a shared window iterator taking a
// callback puts a closure call in the innermost loop, which V8 does not inline reliably.

/** The subset of tfjs' Conv2DInfo these kernels read. */
export interface ConvGeometry {
  batchSize: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  outChannels: number;
  strideHeight: number;
  strideWidth: number;
  dilationHeight: number;
  dilationWidth: number;
  filterHeight: number;
  filterWidth: number;
  padInfo: { top: number; left: number };
}

/** y = conv2d(x, w); w is [fh, fw, inC, outC]. */
export function conv2dForward(x: Float32Array, w: Float32Array, g: ConvGeometry): Float32Array {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: O } = g;
  const y = new Float32Array(g.batchSize * OH * OW * O);
  for (let b = 0; b < g.batchSize; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const yOff = ((b * OH + oh) * OW + ow) * O;
        for (let fh = 0; fh < g.filterHeight; fh++) {
          const ih = oh * g.strideHeight + fh * g.dilationHeight - g.padInfo.top;
          if (ih < 0 || ih >= H) continue;
          for (let fw = 0; fw < g.filterWidth; fw++) {
            const iw = ow * g.strideWidth + fw * g.dilationWidth - g.padInfo.left;
            if (iw < 0 || iw >= W) continue;
            const xOff = ((b * H + ih) * W + iw) * C;
            const wBase = (fh * g.filterWidth + fw) * C * O;
            for (let c = 0; c < C; c++) {
              const xv = x[xOff + c];
              if (xv === 0) continue;
              const wOff = wBase + c * O;
              for (let o = 0; o < O; o++) y[yOff + o] += xv * w[wOff + o];
            }
          }
        }
      }
    }
  }
  return y;
}

/** dL/dw for y = conv2d(x, w). */
export function conv2dBackpropFilter(x: Float32Array, dy: Float32Array, g: ConvGeometry): Float32Array {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: O } = g;
  const dw = new Float32Array(g.filterHeight * g.filterWidth * C * O);
  for (let b = 0; b < g.batchSize; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const dyOff = ((b * OH + oh) * OW + ow) * O;
        for (let fh = 0; fh < g.filterHeight; fh++) {
          const ih = oh * g.strideHeight + fh * g.dilationHeight - g.padInfo.top;
          if (ih < 0 || ih >= H) continue;
          for (let fw = 0; fw < g.filterWidth; fw++) {
            const iw = ow * g.strideWidth + fw * g.dilationWidth - g.padInfo.left;
            if (iw < 0 || iw >= W) continue;
            const xOff = ((b * H + ih) * W + iw) * C;
            const dwBase = (fh * g.filterWidth + fw) * C * O;
            for (let c = 0; c < C; c++) {
              const xv = x[xOff + c];
              if (xv === 0) continue;
              const dwOff = dwBase + c * O;
              for (let o = 0; o < O; o++) dw[dwOff + o] += xv * dy[dyOff + o];
            }
          }
        }
      }
    }
  }
  return dw;
}

/** dL/dx for y = conv2d(x, w). */
export function conv2dBackpropInput(dy: Float32Array, w: Float32Array, g: ConvGeometry): Float32Array {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: O } = g;
  const dx = new Float32Array(g.batchSize * H * W * C);
  for (let b = 0; b < g.batchSize; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const dyOff = ((b * OH + oh) * OW + ow) * O;
        for (let fh = 0; fh < g.filterHeight; fh++) {
          const ih = oh * g.strideHeight + fh * g.dilationHeight - g.padInfo.top;
          if (ih < 0 || ih >= H) continue;
          for (let fw = 0; fw < g.filterWidth; fw++) {
            const iw = ow * g.strideWidth + fw * g.dilationWidth - g.padInfo.left;
            if (iw < 0 || iw >= W) continue;
            const dxOff = ((b * H + ih) * W + iw) * C;
            const wBase = (fh * g.filterWidth + fw) * C * O;
            for (let c = 0; c < C; c++) {
              const wOff = wBase + c * O;
              let acc = 0;
              for (let o = 0; o < O; o++) acc += w[wOff + o] * dy[dyOff + o];
              dx[dxOff + c] += acc;
            }
          }
        }
      }
    }
  }
  return dx;
}

/** y = depthwiseConv2d(x, w); w is [fh, fw, inC, mult], output channel c*mult+q. */
export function depthwiseForward(x: Float32Array, w: Float32Array, g: ConvGeometry): Float32Array {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: O } = g;
  const M = O / C;
  const y = new Float32Array(g.batchSize * OH * OW * O);
  for (let b = 0; b < g.batchSize; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const yOff = ((b * OH + oh) * OW + ow) * O;
        for (let fh = 0; fh < g.filterHeight; fh++) {
          const ih = oh * g.strideHeight + fh * g.dilationHeight - g.padInfo.top;
          if (ih < 0 || ih >= H) continue;
          for (let fw = 0; fw < g.filterWidth; fw++) {
            const iw = ow * g.strideWidth + fw * g.dilationWidth - g.padInfo.left;
            if (iw < 0 || iw >= W) continue;
            const xOff = ((b * H + ih) * W + iw) * C;
            const wOff = (fh * g.filterWidth + fw) * O;
            if (M === 1) {
              for (let c = 0; c < C; c++) y[yOff + c] += x[xOff + c] * w[wOff + c];
            } else {
              for (let c = 0; c < C; c++) {
                const xv = x[xOff + c];
                for (let q = 0; q < M; q++) y[yOff + c * M + q] += xv * w[wOff + c * M + q];
              }
            }
          }
        }
      }
    }
  }
  return y;
}

/** dL/dx for y = depthwiseConv2d(x, w). */
export function depthwiseBackpropInput(dy: Float32Array, w: Float32Array, g: ConvGeometry): Float32Array {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: O, filterHeight: FH, filterWidth: FW } = g;
  const { strideHeight: SH, strideWidth: SW, dilationHeight: DH, dilationWidth: DW } = g;
  const { top, left } = g.padInfo;
  const M = O / C;
  const dx = new Float32Array(g.batchSize * H * W * C);
  for (let b = 0; b < g.batchSize; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const dyOff = ((b * OH + oh) * OW + ow) * O;
        for (let fh = 0; fh < FH; fh++) {
          const ih = oh * SH + fh * DH - top;
          if (ih < 0 || ih >= H) continue;
          for (let fw = 0; fw < FW; fw++) {
            const iw = ow * SW + fw * DW - left;
            if (iw < 0 || iw >= W) continue;
            const dxOff = ((b * H + ih) * W + iw) * C;
            const wOff = (fh * FW + fw) * O;
            // Multiplier 1 (separable convs) gets a loop without the inner one.
            if (M === 1) for (let c = 0; c < C; c++) dx[dxOff + c] += w[wOff + c] * dy[dyOff + c];
            else
              for (let c = 0; c < C; c++) {
                let acc = 0;
                for (let q = 0; q < M; q++) acc += w[wOff + c * M + q] * dy[dyOff + c * M + q];
                dx[dxOff + c] += acc;
              }
          }
        }
      }
    }
  }
  return dx;
}

/** dL/dw for y = depthwiseConv2d(x, w). */
export function depthwiseBackpropFilter(x: Float32Array, dy: Float32Array, g: ConvGeometry): Float32Array {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: O } = g;
  const M = O / C;
  const dw = new Float32Array(g.filterHeight * g.filterWidth * O);
  for (let b = 0; b < g.batchSize; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const dyOff = ((b * OH + oh) * OW + ow) * O;
        for (let fh = 0; fh < g.filterHeight; fh++) {
          const ih = oh * g.strideHeight + fh * g.dilationHeight - g.padInfo.top;
          if (ih < 0 || ih >= H) continue;
          for (let fw = 0; fw < g.filterWidth; fw++) {
            const iw = ow * g.strideWidth + fw * g.dilationWidth - g.padInfo.left;
            if (iw < 0 || iw >= W) continue;
            const xOff = ((b * H + ih) * W + iw) * C;
            const dwOff = (fh * g.filterWidth + fw) * O;
            for (let c = 0; c < C; c++) {
              const xv = x[xOff + c];
              if (xv === 0) continue;
              for (let q = 0; q < M; q++) dw[dwOff + c * M + q] += xv * dy[dyOff + c * M + q];
            }
          }
        }
      }
    }
  }
  return dw;
}

/** dL/dx for y = maxPool(x): each output's gradient goes to the first maximum of its window. */
export function maxPoolBackprop(dy: Float32Array, x: Float32Array, g: ConvGeometry, dx: Float32Array = new Float32Array(x.length)): Float32Array {
  if (isPlain2x2(g)) return maxPool2x2Backprop(dy, x, g, dx);
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = g;
  // Window positions outside, channels inside: reads run along memory. The first maximum in
  // window order wins, as in tfjs' own kernel.
  const best = new Float32Array(C);
  const bestIdx = new Int32Array(C);
  for (let b = 0; b < g.batchSize; b++) {
    for (let oh = 0; oh < OH; oh++) {
      const h0 = oh * g.strideHeight - g.padInfo.top;
      for (let ow = 0; ow < OW; ow++) {
        const w0 = ow * g.strideWidth - g.padInfo.left;
        const dyOff = ((b * OH + oh) * OW + ow) * C;
        best.fill(-Infinity);
        bestIdx.fill(-1);
        for (let fh = 0; fh < g.filterHeight; fh++) {
          const ih = h0 + fh * g.dilationHeight;
          if (ih < 0 || ih >= H) continue;
          for (let fw = 0; fw < g.filterWidth; fw++) {
            const iw = w0 + fw * g.dilationWidth;
            if (iw < 0 || iw >= W) continue;
            const base = ((b * H + ih) * W + iw) * C;
            for (let c = 0; c < C; c++) {
              const v = x[base + c];
              if (v > best[c]) {
                best[c] = v;
                bestIdx[c] = base + c;
              }
            }
          }
        }
        for (let c = 0; c < C; c++) if (bestIdx[c] >= 0) dx[bestIdx[c]] += dy[dyOff + c];
      }
    }
  }
  return dx;
}

/** 2×2 windows at stride 2 that never leave the input: the pooling of nearly every CNN. */
const isPlain2x2 = (g: ConvGeometry) =>
  g.filterHeight === 2 &&
  g.filterWidth === 2 &&
  g.strideHeight === 2 &&
  g.strideWidth === 2 &&
  g.dilationHeight === 1 &&
  g.dilationWidth === 1 &&
  g.padInfo.top === 0 &&
  g.padInfo.left === 0 &&
  2 * g.outHeight <= g.inHeight &&
  2 * g.outWidth <= g.inWidth;

/** maxPoolBackprop for isPlain2x2 windows, unrolled (the same first-maximum rule, the same result). */
function maxPool2x2Backprop(dy: Float32Array, x: Float32Array, g: ConvGeometry, dx: Float32Array): Float32Array {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = g;
  const down = W * C;
  for (let b = 0; b < g.batchSize; b++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        const corner = ((b * H + 2 * oh) * W + 2 * ow) * C;
        const dyOff = ((b * OH + oh) * OW + ow) * C;
        for (let c = 0; c < C; c++) {
          // Window order (row by row); a strict > keeps the first maximum, and NaN never wins.
          const i00 = corner + c;
          const i01 = i00 + C;
          const i10 = i00 + down;
          const i11 = i10 + C;
          let best = -1;
          let v = -Infinity;
          if (x[i00] > v) {
            v = x[i00];
            best = i00;
          }
          if (x[i01] > v) {
            v = x[i01];
            best = i01;
          }
          if (x[i10] > v) {
            v = x[i10];
            best = i10;
          }
          if (x[i11] > v) best = i11;
          if (best >= 0) dx[best] += dy[dyOff + c];
        }
      }
  return dx;
}

/**
 * Whether every window of an average pool lies inside the input (no padding, so every window
 * averages over filterHeight·filterWidth pixels): where one leaves it, backends disagree on the
 * divisor, and avgPoolBackprop does not apply.
 */
export const avgPoolWindowsInside = (g: ConvGeometry): boolean =>
  g.padInfo.top === 0 &&
  g.padInfo.left === 0 &&
  g.dilationHeight === 1 &&
  g.dilationWidth === 1 &&
  (g.outHeight - 1) * g.strideHeight + g.filterHeight <= g.inHeight &&
  (g.outWidth - 1) * g.strideWidth + g.filterWidth <= g.inWidth;

/** The average pool's input gradient into `dx` (zeroed): each dy spread evenly over its window (windows avgPoolWindowsInside). */
export function avgPoolBackprop(
  dy: Float32Array,
  g: ConvGeometry,
  dx: Float32Array = new Float32Array(g.batchSize * g.inHeight * g.inWidth * g.inChannels),
): Float32Array {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, filterHeight: FH, filterWidth: FW } = g;
  const share = 1 / (FH * FW);
  if (g.strideHeight === FH && g.strideWidth === FW) {
    // Windows that tile the input (the usual 2×2 at stride 2): one write per pixel, in order.
    for (let b = 0; b < g.batchSize; b++)
      for (let ih = 0; ih < OH * FH; ih++) {
        const dyRow = (b * OH + Math.floor(ih / FH)) * OW * C;
        const dxRow = (b * H + ih) * W * C;
        for (let iw = 0; iw < OW * FW; iw++) {
          const src = dyRow + Math.floor(iw / FW) * C;
          const dst = dxRow + iw * C;
          for (let c = 0; c < C; c++) dx[dst + c] = dy[src + c] * share;
        }
      }
    return dx;
  }
  for (let b = 0; b < g.batchSize; b++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        const dyOff = ((b * OH + oh) * OW + ow) * C;
        for (let fh = 0; fh < FH; fh++)
          for (let fw = 0; fw < FW; fw++) {
            const base = ((b * H + oh * g.strideHeight + fh) * W + ow * g.strideWidth + fw) * C;
            for (let c = 0; c < C; c++) dx[base + c] += dy[dyOff + c] * share;
          }
      }
  return dx;
}

export type FusedActivation = 'linear' | 'relu' | 'relu6' | 'elu' | 'sigmoid' | 'leakyrelu';

/** Adds a per-channel bias and applies the activation in place (FusedConv2D epilogue). */
export function biasActivationInPlace(y: Float32Array, channels: number, bias: Float32Array | null, activation: FusedActivation, leakyAlpha: number): void {
  for (let i = 0; i < y.length; i++) {
    let v = y[i];
    if (bias) v += bias.length === 1 ? bias[0] : bias[i % channels];
    switch (activation) {
      case 'relu':
        v = v > 0 ? v : 0;
        break;
      case 'relu6':
        v = v < 0 ? 0 : v > 6 ? 6 : v;
        break;
      case 'elu':
        v = v >= 0 ? v : Math.exp(v) - 1;
        break;
      case 'sigmoid':
        v = 1 / (1 + Math.exp(-v));
        break;
      case 'leakyrelu':
        v = v >= 0 ? v : leakyAlpha * v;
        break;
      default:
        break;
    }
    y[i] = v;
  }
}
