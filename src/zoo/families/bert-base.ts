import { DataType } from '../../onnx/index.js';
import { checkSize, type ModelFamily, type TensorSpec } from '../family.js';
import type { Net } from '../net.js';
import { matmul, type LayerShape } from '../shapes.js';

interface BertConfig {
  layers: number;
  hidden: number;
  heads: number;
  intermediate: number;
  vocab: number;
  maxPositions: number;
  typeVocab: number;
}

/** BERT-base, uncased (Devlin et al. 2019). */
const BERT_BASE: BertConfig = {
  layers: 12,
  hidden: 768,
  heads: 12,
  intermediate: 3072,
  vocab: 30522,
  maxPositions: 512,
  typeVocab: 2,
};

const DEFAULT_SEQ_LEN = 128;
/** LayerNormalization needs opset 17. */
const BERT_OPSET = 17;
const LN_EPS = 1e-12;
/** BERT's initializer range (normal, std 0.02); a uniform of the same variance here. */
const EMBEDDING_SCALE = 0.02 * Math.sqrt(3);

interface BertOutputs {
  lastHiddenState: string;
  pooled: string;
}

/** Token + position + segment embeddings, summed and normalized. */
function embeddings(net: Net, cfg: BertConfig, seqLen: number, ids: string, types: string): string {
  const word = net.gather(net.uniform('word_embeddings', [cfg.vocab, cfg.hidden], EMBEDDING_SCALE), ids);
  const positions = net.int64s(
    'position_ids',
    Array.from({ length: seqLen }, (_, i) => i),
  );
  const pos = net.gather(
    net.uniform('position_embeddings', [cfg.maxPositions, cfg.hidden], EMBEDDING_SCALE),
    positions,
  );
  const seg = net.gather(
    net.uniform('token_type_embeddings', [cfg.typeVocab, cfg.hidden], EMBEDDING_SCALE),
    types,
  );
  return net.layerNorm(net.add2(net.add2(word, pos), seg), LN_EPS);
}

/** [1, seq, hidden] -> [1, heads, seq, headSize] (or [1, heads, headSize, seq] for keys). */
function splitHeads(net: Net, x: string, cfg: BertConfig, seqLen: number, keys: boolean): string {
  const headSize = cfg.hidden / cfg.heads;
  const split = net.reshape(x, [1, seqLen, cfg.heads, headSize]);
  return net.transpose(split, keys ? [0, 2, 3, 1] : [0, 2, 1, 3]);
}

function selfAttention(net: Net, cfg: BertConfig, seqLen: number, x: string, maskBias: string): string {
  const q = splitHeads(net, net.dense(x, cfg.hidden), cfg, seqLen, false);
  const k = splitHeads(net, net.dense(x, cfg.hidden), cfg, seqLen, true);
  const v = splitHeads(net, net.dense(x, cfg.hidden), cfg, seqLen, false);
  const scores = net.add2(net.div(net.matmul(q, k), net.scalar(Math.sqrt(cfg.hidden / cfg.heads))), maskBias);
  const context = net.matmul(net.softmax(scores, -1), v);
  const merged = net.reshape(net.transpose(context, [0, 2, 1, 3]), [1, seqLen, cfg.hidden]);
  return net.dense(merged, cfg.hidden);
}

function encoderLayer(net: Net, cfg: BertConfig, seqLen: number, x: string, maskBias: string): string {
  const attended = net.layerNorm(net.add2(selfAttention(net, cfg, seqLen, x, maskBias), x), LN_EPS);
  const ffn = net.dense(net.gelu(net.dense(attended, cfg.intermediate)), cfg.hidden);
  return net.layerNorm(net.add2(ffn, attended), LN_EPS);
}

/**
 * BERT encoder with batch 1 and a fixed sequence length, from plain opset-17 ops
 * (Gather, MatMul, Add, Softmax, LayerNormalization, Erf). Inputs `input_ids`,
 * `attention_mask`, `token_type_ids` (int64 [1, seq]); padding positions (mask 0) get a
 * -10000 bias on their attention scores, as in the reference implementation.
 */
function bert(net: Net, cfg: BertConfig, seqLen: number): BertOutputs {
  const ids = net.input('input_ids', [1, seqLen], DataType.INT64);
  const mask = net.input('attention_mask', [1, seqLen], DataType.INT64);
  const types = net.input('token_type_ids', [1, seqLen], DataType.INT64);
  const keep = net.reshape(net.cast(mask, DataType.FLOAT), [1, 1, 1, seqLen]);
  const maskBias = net.mul(net.sub(net.scalar(1), keep), net.scalar(-10000));
  let x = embeddings(net, cfg, seqLen, ids, types);
  for (let layer = 0; layer < cfg.layers; layer++) x = encoderLayer(net, cfg, seqLen, x, maskBias);
  const first = net.reshape(net.gather(x, net.int64s('cls_index', [0]), 1), [1, cfg.hidden]);
  const pooled = net.unary('Tanh', net.dense(first, cfg.hidden));
  return { lastHiddenState: x, pooled };
}

/** Per encoder layer Q, K, V, scores, context, output, FFN x2; then the pooler. */
function layerShapes(): LayerShape[] {
  const { layers, hidden, heads, intermediate } = BERT_BASE;
  const seq = DEFAULT_SEQ_LEN;
  const d = hidden / heads;
  const out: LayerShape[] = [];
  for (let l = 0; l < layers; l++) {
    out.push(matmul(seq, hidden, hidden), matmul(seq, hidden, hidden), matmul(seq, hidden, hidden));
    out.push(matmul(seq, d, seq, heads), matmul(seq, seq, d, heads));
    out.push(
      matmul(seq, hidden, hidden),
      matmul(seq, hidden, intermediate),
      matmul(seq, intermediate, hidden),
    );
  }
  out.push(matmul(1, hidden, hidden));
  return out;
}

const tokenInputs = (seq: number): TensorSpec[] =>
  ['input_ids', 'attention_mask', 'token_type_ids'].map((name) => ({
    name,
    datatype: 'INT64',
    shape: [1, seq],
  }));

export const family: ModelFamily = {
  name: 'bert-base',
  listOrder: 80,
  description: 'BERT-base encoder (12 x 768, 12 heads, FFN 3072), sequence length 128 by default',
  published: {
    parameters: 110e6,
    macs: 11.2e9,
    source:
      'Devlin et al. 2019: 110 M parameters; MACs at seq 128 counting every MatMul: 12 x (4sh^2 + 8sh^2 + 2s^2h) + h^2 = 11.2 G',
  },
  inputs: tokenInputs(DEFAULT_SEQ_LEN),
  outputs: [
    { name: 'last_hidden_state', datatype: 'FP32', shape: [1, DEFAULT_SEQ_LEN, BERT_BASE.hidden] },
    { name: 'pooler_output', datatype: 'FP32', shape: [1, BERT_BASE.hidden] },
  ],
  qosTargetMs: 130,
  opset: BERT_OPSET,
  build(net, options) {
    const seqLen = checkSize('seqLen', options.seqLen ?? DEFAULT_SEQ_LEN, 1, BERT_BASE.maxPositions);
    const { lastHiddenState, pooled } = bert(net, BERT_BASE, seqLen);
    net.output(lastHiddenState, 'last_hidden_state');
    net.output(pooled, 'pooler_output');
  },
  simulator: { layerShapes },
};
