//! DCGAN's stride-2 convolutions and rectifiers as a burn backend extension, with kao's own
//! kernels where burn Flex 0.22 is slow.
//!
//! Rectifiers: burn differentiates `leaky_relu` through a masked select whose Flex loop branches
//! on every element. Here the rectifier is one loop each way, which took half the time of burn's
//! LeakyReLU forward and backward (docs/benchmarks.md).
//!
//! burn 0.22 computes a convolution's weight gradient as another convolution, with batch and
//! channels swapped. On burn Flex that runs one matrix product per input channel whose left
//! side has only 16 rows (the 4x4 kernel taps), and perf showed it as the largest single cost
//! of a DCGAN-64 training step. Here the weight gradient is the textbook product instead:
//! `dW = sum over images of A x gather(B)`, where `gather` lays out the 4x4, stride-2 windows of
//! the high-resolution side as rows (im2col). Forward passes and input gradients stay burn's.
//!
//! Only burn Flex implements the extension; callers check [`super::conv::prefers_matmul_convolutions`]
//! first, and other devices use burn's own convolutions.

use burn::backend::ops::{ConvOptions, ConvTransposeOptions, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{DType, Tensor, TensorData};
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::CheckpointStrategy;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_autodiff::{Autodiff, NodeId};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::cpu_kernels;

/// Largest low-resolution feature map, in pixels, that goes through kao's whole-batch kernels
/// rather than burn's per-image ones. Measured at batch 64 on 2 cores (docs/benchmarks.md):
/// with 4x4 maps kao's kernels were faster, with 8x8 maps burn's.
pub const SMALL_MAP_PIXELS: usize = 16;

/// Slope of the rectifier at `x`: 1 where `x > 0`, `slope` elsewhere. A select rather than a
/// branch, so that the rectifier loops compile to vector instructions: the branching loops
/// were scalar and took 11% of a DCGAN-64 training step (docs/benchmarks.md).
#[inline(always)]
fn rectifier_gain(x: f32, slope: f32) -> f32 {
    if x > 0.0 { 1.0 } else { slope }
}

/// Convolution settings of every stride-2 layer: kernel 4, stride 2, padding 1.
fn conv_options() -> ConvOptions<2> {
    ConvOptions::new([2, 2], [1, 1], [1, 1], 1)
}

fn conv_transpose_options() -> ConvTransposeOptions<2> {
    ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1)
}

/// Operations that burn Flex runs with kao's kernels.
#[backend_extension(Flex, Autodiff)]
pub trait CpuOps: Backend {
    /// `max(x, 0) + slope * min(x, 0)`: ReLU for slope 0, LeakyReLU otherwise.
    fn rectify(x: FloatTensor<Self>, slope: f64) -> FloatTensor<Self>;

    /// Gradient of [`CpuOps::rectify`] at `x`: `grad` where `x > 0`, `slope * grad` elsewhere.
    fn rectify_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>, slope: f64) -> FloatTensor<Self>;

    /// Convolution of `x` `[batch, in, h, w]` with `weight` `[out, in, 4, 4]`.
    fn conv2d_stride2(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self>;

    /// Transposed convolution of `x` `[batch, in, h, w]` with `weight` `[in, out, 4, 4]`.
    fn conv_transpose2d_stride2(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self>;

    /// Weight gradient `[low_channels, high_channels, 4, 4]` of a stride-2 layer from its
    /// low-resolution side `low` `[batch, low_channels, h, w]` and high-resolution side `high`
    /// `[batch, high_channels, 2h, 2w]`. For a convolution, `low` is the output gradient and
    /// `high` the input; for a transposed convolution, `low` is the input and `high` the output
    /// gradient.
    fn stride2_weight_grad(low: FloatTensor<Self>, high: FloatTensor<Self>) -> FloatTensor<Self>;
}

impl CpuOps for Flex {
    fn rectify(x: FlexTensor, slope: f64) -> FlexTensor {
        let shape = x.shape();
        let x = float32(x);
        let slope = slope as f32;
        let mut output = vec![0f32; shape.num_elements()];
        output.par_chunks_mut(ELEMENTWISE_CHUNK).zip(x.storage::<f32>().par_chunks(ELEMENTWISE_CHUNK)).for_each(
            |(output, x)| {
                for (y, &x) in output.iter_mut().zip(x) {
                    *y = x * rectifier_gain(x, slope);
                }
            },
        );
        FlexTensor::from_data(TensorData::new(output, shape))
    }

    fn rectify_backward(x: FlexTensor, grad: FlexTensor, slope: f64) -> FlexTensor {
        let shape = grad.shape();
        let (x, grad) = (float32(x), float32(grad));
        let slope = slope as f32;
        let mut output = vec![0f32; shape.num_elements()];
        let inputs = x.storage::<f32>().par_chunks(ELEMENTWISE_CHUNK).zip(grad.storage::<f32>().par_chunks(ELEMENTWISE_CHUNK));
        output.par_chunks_mut(ELEMENTWISE_CHUNK).zip(inputs).for_each(|(output, (x, grad))| {
            for ((dx, &x), &g) in output.iter_mut().zip(x).zip(grad) {
                *dx = g * rectifier_gain(x, slope);
            }
        });
        FlexTensor::from_data(TensorData::new(output, shape))
    }

    fn conv2d_stride2(x: FlexTensor, weight: FlexTensor) -> FlexTensor {
        let [batch, _, height, width] = x.shape().dims();
        let [out_channels, _, _, _] = weight.shape().dims();
        if x.dtype() != DType::F32 || (height / 2) * (width / 2) > SMALL_MAP_PIXELS {
            return <Flex as ModuleOps<Flex>>::conv2d(x, weight, None, conv_options());
        }
        let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
        let shape = x.shape().dims();
        let output = cpu_kernels::conv2d_stride2(x.storage::<f32>(), shape, weight.storage::<f32>(), out_channels);
        FlexTensor::from_data(TensorData::new(output, [batch, out_channels, height / 2, width / 2]))
    }

    fn conv_transpose2d_stride2(x: FlexTensor, weight: FlexTensor) -> FlexTensor {
        let [batch, _, height, width] = x.shape().dims();
        let [_, out_channels, _, _] = weight.shape().dims();
        if x.dtype() != DType::F32 || height * width > SMALL_MAP_PIXELS {
            return <Flex as ModuleOps<Flex>>::conv_transpose2d(x, weight, None, conv_transpose_options());
        }
        let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
        let shape = x.shape().dims();
        let output =
            cpu_kernels::conv_transpose2d_stride2(x.storage::<f32>(), shape, weight.storage::<f32>(), out_channels, None, false);
        FlexTensor::from_data(TensorData::new(output, [batch, out_channels, 2 * height, 2 * width]))
    }

    fn stride2_weight_grad(low: FlexTensor, high: FlexTensor) -> FlexTensor {
        assert_eq!((low.dtype(), high.dtype()), (DType::F32, DType::F32), "kao trains in float32");
        let low_shape: [usize; 4] = low.shape().dims();
        let high_shape: [usize; 4] = high.shape().dims();
        let (low, high) = (low.to_contiguous(), high.to_contiguous());
        let grad = cpu_kernels::stride2_weight_grad(low.storage::<f32>(), low_shape, high.storage::<f32>(), high_shape);
        FlexTensor::from_data(TensorData::new(grad, [low_shape[1], high_shape[1], 4, 4]))
    }
}

impl<B: Backend + CpuOps, C: CheckpointStrategy> CpuOps for Autodiff<B, C> {
    fn rectify(x: FloatTensor<Self>, slope: f64) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Rectify;

        impl<B: Backend + CpuOps> Backward<B, 1> for Rectify {
            type State = (NodeId, f64);

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let [node_x] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(ops.state.0);
                if let Some(node) = node_x {
                    grads.register::<B>(node.id, B::rectify_backward(x, grad, ops.state.1));
                }
            }
        }

        match Rectify.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let state = (prep.checkpoint(&x), slope);
                prep.finish(state, B::rectify(x.into_primitive(), slope))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::rectify(x.into_primitive(), slope)),
        }
    }

    fn rectify_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>, slope: f64) -> FloatTensor<Self> {
        // Only Rectify's backward pass calls this, on the inner backend.
        let _ = (x, grad, slope);
        unreachable!("rectify_backward runs inside backward passes only")
    }

    fn conv2d_stride2(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Conv2dStride2;

        impl<B: Backend + CpuOps> Backward<B, 2> for Conv2dStride2 {
            type State = (NodeId, NodeId);

            fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let [node_x, node_weight] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(ops.state.0);
                let weight = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(ops.state.1);

                if let Some(node) = node_x {
                    // The input gradient of a stride-2 convolution is the transposed convolution of
                    // the output gradient with the same weights.
                    let x_grad = B::conv_transpose2d_stride2(grad.clone(), weight);
                    grads.register::<B>(node.id, x_grad);
                }
                if let Some(node) = node_weight {
                    grads.register::<B>(node.id, B::stride2_weight_grad(grad, x));
                }
            }
        }

        match Conv2dStride2.prepare::<C>([x.node(), weight.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let state = (prep.checkpoint(&x), prep.checkpoint(&weight));
                prep.finish(state, B::conv2d_stride2(x.into_primitive(), weight.into_primitive()))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv2d_stride2(x.into_primitive(), weight.into_primitive())),
        }
    }

    fn conv_transpose2d_stride2(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct ConvTranspose2dStride2;

        impl<B: Backend + CpuOps> Backward<B, 2> for ConvTranspose2dStride2 {
            type State = (NodeId, NodeId);

            fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let [node_x, node_weight] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(ops.state.0);
                let weight = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(ops.state.1);

                if let Some(node) = node_x {
                    // And the input gradient of a transposed convolution is the convolution.
                    let x_grad = B::conv2d_stride2(grad.clone(), weight);
                    grads.register::<B>(node.id, x_grad);
                }
                if let Some(node) = node_weight {
                    grads.register::<B>(node.id, B::stride2_weight_grad(x, grad));
                }
            }
        }

        match ConvTranspose2dStride2.prepare::<C>([x.node(), weight.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let state = (prep.checkpoint(&x), prep.checkpoint(&weight));
                prep.finish(state, B::conv_transpose2d_stride2(x.into_primitive(), weight.into_primitive()))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv_transpose2d_stride2(x.into_primitive(), weight.into_primitive())),
        }
    }

    fn stride2_weight_grad(low: FloatTensor<Self>, high: FloatTensor<Self>) -> FloatTensor<Self> {
        // Only the backward passes above call this, on the inner backend; a differentiable
        // version would need second-order gradients, which burn does not have.
        let _ = (low, high);
        unreachable!("stride2_weight_grad runs inside backward passes only")
    }
}

/// Elements per parallel task of the rectifier loops (256 KiB of float32).
const ELEMENTWISE_CHUNK: usize = 64 * 1024;

/// Returns `x` as contiguous float32, the only type kao trains in.
fn float32(x: FlexTensor) -> FlexTensor {
    assert_eq!(x.dtype(), DType::F32, "kao's CPU kernels take float32 tensors");
    x.to_contiguous()
}

/// LeakyReLU of `x` with `slope` for negative inputs (ReLU for `slope` 0).
pub fn leaky_relu(x: Tensor<4>, slope: f64) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as CpuOps>::rectify(x.into_dispatch(), slope))
}

/// Convolves `x` `[batch, in, h, w]` with `weight` `[out, in, 4, 4]` at stride 2 and padding 1.
pub fn conv2d_stride2(x: Tensor<4>, weight: Tensor<4>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as CpuOps>::conv2d_stride2(x.into_dispatch(), weight.into_dispatch()))
}

/// Transposed convolution of `x` `[batch, in, h, w]` with `weight` `[in, out, 4, 4]` at stride 2
/// and padding 1.
pub fn conv_transpose2d_stride2(x: Tensor<4>, weight: Tensor<4>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as CpuOps>::conv_transpose2d_stride2(
        x.into_dispatch(),
        weight.into_dispatch(),
    ))
}

#[cfg(test)]
mod tests {
    use burn::tensor::module::{conv_transpose2d, conv2d};
    use burn::tensor::{Device, Gradients};

    use super::*;
    use crate::model::conv::tests::{assert_close, compare, random};
    use crate::model::tensor_values;
    use crate::rng::KaoRng;

    #[test]
    fn conv_gradients_match_burn() {
        // Small outputs take kao's kernels; 40 images of 4x4 outputs sum the weight gradient over
        // three groups of 16 images; 8x8 outputs take burn's forward kernel.
        compare([5, 3, 8, 6], [7, 3, 4, 4], conv2d_stride2, |x, w| conv2d(x, w, None, conv_options()));
        compare([40, 2, 8, 8], [3, 2, 4, 4], conv2d_stride2, |x, w| conv2d(x, w, None, conv_options()));
        compare([3, 2, 16, 16], [4, 2, 4, 4], conv2d_stride2, |x, w| conv2d(x, w, None, conv_options()));
    }

    #[test]
    fn transposed_conv_gradients_match_burn() {
        compare([5, 3, 4, 3], [3, 7, 4, 4], conv_transpose2d_stride2, |x, w| {
            conv_transpose2d(x, w, None, conv_transpose_options())
        });
        compare([40, 2, 4, 4], [2, 3, 4, 4], conv_transpose2d_stride2, |x, w| {
            conv_transpose2d(x, w, None, conv_transpose_options())
        });
        compare([3, 2, 8, 8], [2, 4, 4, 4], conv_transpose2d_stride2, |x, w| {
            conv_transpose2d(x, w, None, conv_transpose_options())
        });
    }

    #[test]
    fn rectifiers_match_burn() {
        let device = Device::flex().autodiff();
        let mut rng = KaoRng::seed_from_u64(5);
        for slope in [0.0, 0.2] {
            let x = random(&mut rng, [2, 3, 4, 5], &device);
            let upstream = random(&mut rng, [2, 3, 4, 5], &device).detach();
            let expected = match slope == 0.0 {
                true => burn::tensor::activation::relu(x.clone()),
                false => burn::tensor::activation::leaky_relu(x.clone(), slope),
            };
            let actual = leaky_relu(x.clone(), slope);

            let burn_grads = (expected.clone() * upstream.clone()).sum().backward();
            let our_grads = (actual.clone() * upstream).sum().backward();
            let grad = |grads: &Gradients| tensor_values(x.grad(grads).expect("gradient"));
            assert_close(&format!("slope {slope} output"), tensor_values(actual), tensor_values(expected));
            assert_close(&format!("slope {slope} gradient"), grad(&our_grads), grad(&burn_grads));
        }
    }
}
