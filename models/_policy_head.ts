// What `LmPolicy.evaluate` computes from the next-token logits: the log-probability of the taken
// token and the entropy of the policy, on the gradient tape. Two interchangeable versions:
// - `autodiffHead`, the readable reference: `tf.logSoftmax`, a one-hot product and a `tf.softmax`
//   for the entropy, differentiated by tfjs. On tfjs-wasm the log-softmax is a chain of
//   elementwise ops (`exp` alone is slow there) and its gradient repeats the chain.
// - `fusedHead`, one op with a hand-derived gradient: forward on WASM's vectorised `softmax`
//   kernel, logsumexp as max(x) − log(max(p)) (max(p) ≥ 1/V, so its log is accurate) and the
//   entropy as logsumexp − Σ p·x; backward
//     ∂ log p_a / ∂x = oneHot(a) − p,   ∂H / ∂x = −p ⊙ (log p + H) = −p ⊙ (x − (lse − H)).
//   Masked logits (−1e9) have p = 0 exactly, so they add nothing forward or backward.
// `fusedLogProb` is the log-prob half alone (∂/∂x = oneHot(a) − p), for callers without an entropy
// term (`completionLogProbs`). tests/lm_policy_test.ts pins them to the autodiff reference on wasm.
import * as tf from "@tensorflow/tfjs";

type Save = (tensors: tf.Tensor[]) => void;
type CustomGradientFunc = Parameters<typeof tf.customGrad>[0];

/** The head's outputs, one per row. */
export interface HeadOutputs {
  /** log softmax(logits)[action]. */
  logProb: tf.Tensor1D;
  /** −Σ softmax(logits) ⊙ log softmax(logits). */
  entropy: tf.Tensor1D;
}

/** The reference: tfjs ops, autodiffed. */
export function autodiffHead(logits: tf.Tensor2D, actions: Int32Array): HeadOutputs {
  const V = logits.shape[1];
  const logp = tf.logSoftmax(logits);
  const ids = tf.tensor1d(actions, "int32");
  const logProb = tf.sum(tf.mul(tf.oneHot(ids, V), logp), 1) as tf.Tensor1D;
  const entropy = tf.neg(tf.sum(tf.mul(tf.softmax(logits), logp), 1)) as tf.Tensor1D;
  return { logProb, entropy };
}

/** The same numbers as {@linkcode autodiffHead} from one op with a hand-written gradient. */
export function fusedHead(logits: tf.Tensor2D, actions: Int32Array): HeadOutputs {
  const [n] = logits.shape;
  const both = headOp(logits, tf.tensor1d(actions, "int32"));
  return {
    logProb: tf.reshape(tf.slice(both, [0, 0], [n, 1]), [n]) as tf.Tensor1D,
    entropy: tf.reshape(tf.slice(both, [0, 1], [n, 1]), [n]) as tf.Tensor1D,
  };
}

/** [log p_a, H] per row as one [N, 2] tensor (a custom gradient has one output). */
const headOp: (logits: tf.Tensor2D, actions: tf.Tensor1D) => tf.Tensor2D = tf.customGrad(
  ((x: tf.Tensor2D, actions: tf.Tensor1D, save: Save) => {
    const [n, v] = x.shape;
    const p = tf.softmax(x);
    const lse = tf.sub(tf.max(x, 1), tf.log(tf.max(p, 1)));
    // x_a, picked from the flattened logits: forward only (the gradient uses a one-hot).
    const picked = tf.gather(
      tf.reshape(x, [n * v]),
      tf.add(actions, tf.range(0, n * v, v, "int32")),
    );
    const entropy = tf.sub(lse, tf.sum(tf.mul(p, x), 1));
    // x − (lse − H) = log p + H, the entropy's gradient factor.
    save([x, p, tf.reshape(tf.sub(lse, entropy), [n, 1]), actions]);
    return {
      value: tf.stack([tf.sub(picked, lse), entropy], 1),
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
        const [xs, ps, shift, a] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
        const dLogProb = tf.slice(dy, [0, 0], [n, 1]), dEntropy = tf.slice(dy, [0, 1], [n, 1]);
        // dx = dLogProb·(oneHot(a) − p) − dEntropy·p ⊙ (x − shift). int32 one-hot, then cast:
        // tfjs-backend-wasm 4.22's OneHot writes int bits into a float32 output.
        const spread = tf.mul(ps, tf.add(dLogProb, tf.mul(dEntropy, tf.sub(xs, shift))));
        const taken = tf.mul(tf.cast(tf.oneHot(a, v), "float32"), dLogProb);
        return [tf.sub(taken, spread), tf.zerosLike(a)];
      },
    };
  }) as unknown as CustomGradientFunc,
) as unknown as (logits: tf.Tensor2D, actions: tf.Tensor1D) => tf.Tensor2D;

/** log softmax(logits)[action] per row, as {@linkcode fusedHead}'s `logProb` without the entropy. */
export const fusedLogProb: (logits: tf.Tensor2D, actions: tf.Tensor1D) => tf.Tensor1D = tf
  .customGrad(
    ((x: tf.Tensor2D, actions: tf.Tensor1D, save: Save) => {
      const [n, v] = x.shape;
      const p = tf.softmax(x);
      const lse = tf.sub(tf.max(x, 1), tf.log(tf.max(p, 1)));
      const flat = tf.add(actions, tf.range(0, n * v, v, "int32"));
      save([p, actions]);
      return {
        value: tf.sub(tf.gather(tf.reshape(x, [n * v]), flat), lse),
        gradFunc: (dy: tf.Tensor1D, saved: tf.Tensor[]) => {
          const [ps, a] = saved as [tf.Tensor2D, tf.Tensor1D];
          const onehot = tf.cast(tf.oneHot(a, v), "float32");
          return [tf.mul(tf.sub(onehot, ps), tf.reshape(dy, [n, 1])), tf.zerosLike(a)];
        },
      };
    }) as unknown as CustomGradientFunc,
  ) as unknown as (logits: tf.Tensor2D, actions: tf.Tensor1D) => tf.Tensor1D;
