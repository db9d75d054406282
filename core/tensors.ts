/**
 * Names for the TensorFlow.js tensor types in proximal's public signatures, so the docs of every
 * member can link them.
 */
import type * as tf from "@tensorflow/tfjs";

/** A tfjs tensor of any rank. */
export type Tensor = tf.Tensor;
/** A rank-0 tfjs tensor. */
export type Scalar = tf.Scalar;
/** A rank-1 tfjs tensor. */
export type Tensor1D = tf.Tensor1D;
/** A rank-2 tfjs tensor. */
export type Tensor2D = tf.Tensor2D;
/** A trainable tfjs variable. */
export type Variable = tf.Variable;
