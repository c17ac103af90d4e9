//! Stride-2 convolution kernels on host memory, for burn's CPU backend.
//!
//! burn Flex 0.22 multiplies per image, so a layer whose small side is a 4x4 feature map runs 64
//! products of 16 rows each at batch 64 and reads its weights 64 times. These kernels lay the
//! whole batch out as rows (im2col) or scatter whole-batch products back (col2im), so each
//! layer is one large matrix product from the `gemm` crate that burn Flex itself uses.

use rayon::prelude::*;

use super::conv::ChannelAffine;

/// Transposed convolution of `x` `[batch, in, h, w]` with `weight` `[in, out, 4, 4]` at stride 2
/// and padding 1, giving `[batch, out, 2h, 2w]`, followed by `affine` and ReLU when given.
pub fn conv_transpose2d_stride2(
    x: &[f32],
    [batch, channels, height, width]: [usize; 4],
    weight: &[f32],
    out_channels: usize,
    affine: Option<&ChannelAffine>,
    relu: bool,
) -> Vec<f32> {
    assert_eq!(weight.len(), channels * out_channels * 16, "weight must be [in, out, 4, 4]");
    let pixels = height * width;

    // Rows of one input pixel each: [batch * pixels, in].
    let mut rows = vec![0f32; batch * pixels * channels];
    rows.par_chunks_mut(pixels * channels).zip(x.par_chunks(channels * pixels)).for_each(|(rows, image)| {
        for (channel, plane) in image.chunks(pixels).enumerate() {
            for (pixel, &value) in plane.iter().enumerate() {
                rows[pixel * channels + channel] = value;
            }
        }
    });

    // Every input pixel times every kernel tap: [batch * pixels, 16 * out], ordered (kh, kw, out)
    // so that each tap's output channels are contiguous.
    let taps = 16 * out_channels;
    let mut tap_major = vec![0f32; channels * taps];
    for (input, kernels) in weight.chunks(out_channels * 16).enumerate() {
        for (output, kernel) in kernels.chunks(16).enumerate() {
            for (tap, &value) in kernel.iter().enumerate() {
                tap_major[input * taps + tap * out_channels + output] = value;
            }
        }
    }
    let mut products = vec![0f32; batch * pixels * taps];
    multiply(&mut products, &rows, &tap_major, [batch * pixels, channels, taps], false);

    // Each image is summed channels-last, where every add is a contiguous run of channels,
    // then written channels-first with the affine and ReLU applied.
    let (out_h, out_w) = (2 * height, 2 * width);
    let mut output = vec![0f32; batch * out_channels * out_h * out_w];
    output.par_chunks_mut(out_channels * out_h * out_w).zip(products.par_chunks(pixels * taps)).for_each(
        |(image, products)| {
            let summed = scatter_taps(products, [height, width], out_channels);
            for (channel, plane) in image.chunks_mut(out_h * out_w).enumerate() {
                let (scale, shift) = affine.map_or((1.0, 0.0), |a| (a.scale[channel], a.shift[channel]));
                for (value, sums) in plane.iter_mut().zip(summed.chunks(out_channels)) {
                    let y = sums[channel] * scale + shift;
                    *value = if relu { y.max(0.0) } else { y };
                }
            }
        },
    );
    output
}

/// Computes `dst = lhs x rhs` for row-major `lhs` `[m, k]` and `rhs` `[k, n]` (or `rhs^T` for a
/// row-major `rhs` `[n, k]` when `rhs_transposed`), on rayon's threads.
fn multiply(dst: &mut [f32], lhs: &[f32], rhs: &[f32], [m, k, n]: [usize; 3], rhs_transposed: bool) {
    assert_eq!(dst.len(), m * n, "output size");
    assert_eq!(lhs.len(), m * k, "left matrix size");
    assert_eq!(rhs.len(), k * n, "right matrix size");
    let threads = rayon::current_num_threads();
    let (rhs_cs, rhs_rs) = if rhs_transposed { (k as isize, 1) } else { (1, n as isize) };
    // SAFETY: the three slices hold exactly the row-major matrices that the sizes and strides
    // describe (checked above), and dst does not overlap the inputs.
    unsafe {
        gemm::gemm(
            m, n, k,
            dst.as_mut_ptr(), 1, n as isize, false,
            lhs.as_ptr(), 1, k as isize,
            rhs.as_ptr(), rhs_cs, rhs_rs,
            0.0, 1.0, false, false, false,
            gemm::Parallelism::Rayon(threads),
        );
    }
}

/// Adds every input pixel's taps to the output pixels they land on: input pixel (i, j) with tap
/// (kh, kw) lands on (2i + kh - 1, 2j + kw - 1). Returns the image `[2h, 2w, out]`.
fn scatter_taps(products: &[f32], [height, width]: [usize; 2], out_channels: usize) -> Vec<f32> {
    let (out_h, out_w) = (2 * height, 2 * width);
    let mut summed = vec![0f32; out_h * out_w * out_channels];
    for (pixel, row) in products.chunks(16 * out_channels).enumerate() {
        let (i, j) = (pixel / width, pixel % width);
        for kh in 0..4 {
            let Some(y) = (2 * i + kh).checked_sub(1).filter(|&y| y < out_h) else { continue };
            for kw in 0..4 {
                let Some(x) = (2 * j + kw).checked_sub(1).filter(|&x| x < out_w) else { continue };
                let source = &row[(kh * 4 + kw) * out_channels..(kh * 4 + kw + 1) * out_channels];
                let start = (y * out_w + x) * out_channels;
                for (sum, value) in summed[start..start + out_channels].iter_mut().zip(source) {
                    *sum += value;
                }
            }
        }
    }
    summed
}

/// Convolution of `x` `[batch, in, 2h, 2w]` with `weight` `[out, in, 4, 4]` at stride 2 and
/// padding 1, giving `[batch, out, h, w]`: every output pixel's window as one row, then one
/// product with the weights for the whole batch.
pub fn conv2d_stride2(x: &[f32], [batch, channels, in_h, in_w]: [usize; 4], weight: &[f32], out_channels: usize) -> Vec<f32> {
    assert_eq!(weight.len(), out_channels * channels * 16, "weight must be [out, in, 4, 4]");
    let (height, width) = (in_h / 2, in_w / 2);
    let (pixels, columns) = (height * width, channels * 16);

    let mut rows = vec![0f32; batch * pixels * columns];
    rows.par_chunks_mut(pixels * columns).zip(x.par_chunks(channels * in_h * in_w)).for_each(|(rows, image)| {
        gather_windows(image, [channels, height, width], rows);
    });
    let mut products = vec![0f32; batch * pixels * out_channels];
    multiply(&mut products, &rows, weight, [batch * pixels, columns, out_channels], true);

    // Channels-last products back to channels-first images.
    let mut output = vec![0f32; batch * out_channels * pixels];
    output.par_chunks_mut(out_channels * pixels).zip(products.par_chunks(pixels * out_channels)).for_each(
        |(image, products)| {
            for (pixel, values) in products.chunks(out_channels).enumerate() {
                for (channel, &value) in values.iter().enumerate() {
                    image[channel * pixels + pixel] = value;
                }
            }
        },
    );
    output
}

/// Rows of the matrix products per step, so that the shared dimension of the product is not
/// as small as one 4x4 feature map.
const MIN_PRODUCT_DEPTH: usize = 256;

/// Computes `sum over images of low_b [low_channels, h*w] x gather(high_b) [h*w, high_channels*16]`.
pub fn stride2_weight_grad(low: &[f32], low_shape: [usize; 4], high: &[f32], high_shape: [usize; 4]) -> Vec<f32> {
    let [batch, low_channels, height, width] = low_shape;
    let [high_batch, high_channels, high_h, high_w] = high_shape;
    assert_eq!([high_batch, high_h, high_w], [batch, 2 * height, 2 * width], "stride-2 shapes");
    let pixels = height * width;
    let columns = high_channels * 16;
    let images_per_step = MIN_PRODUCT_DEPTH.div_ceil(pixels).clamp(1, batch);

    let starts: Vec<usize> = (0..batch).step_by(images_per_step).collect();
    let partial_sums = starts.par_iter().fold(
        || vec![0f32; low_channels * columns],
        |mut sum, &first| {
            let images = images_per_step.min(batch - first);
            let depth = images * pixels;

            // low for these images as one [low_channels, images * pixels] matrix.
            let mut lhs = vec![0f32; low_channels * depth];
            for image in 0..images {
                let source = &low[(first + image) * low_channels * pixels..][..low_channels * pixels];
                for (channel, row) in source.chunks(pixels).enumerate() {
                    lhs[channel * depth + image * pixels..][..pixels].copy_from_slice(row);
                }
            }
            let mut rhs = vec![0f32; depth * columns];
            for image in 0..images {
                let plane = high_channels * high_h * high_w;
                let source = &high[(first + image) * plane..][..plane];
                gather_windows(source, [high_channels, height, width], &mut rhs[image * pixels * columns..][..pixels * columns]);
            }
            accumulate_product(&mut sum, &lhs, &rhs, [low_channels, depth, columns]);
            sum
        },
    );
    partial_sums.reduce(|| vec![0f32; low_channels * columns], |mut total, part| {
        total.iter_mut().zip(&part).for_each(|(t, p)| *t += p);
        total
    })
}

/// Writes the 4x4, stride-2, padding-1 windows of `image` `[channels, 2h, 2w]` as rows
/// `[h * w, channels * 16]`, taps ordered (channel, kh, kw); taps in the padding stay 0.
fn gather_windows(image: &[f32], [channels, height, width]: [usize; 3], rows: &mut [f32]) {
    let (high_h, high_w) = (2 * height, 2 * width);
    for (pixel, row) in rows.chunks_mut(channels * 16).enumerate() {
        let (i, j) = (pixel / width, pixel % width);
        for (channel, taps) in row.chunks_mut(16).enumerate() {
            let plane = &image[channel * high_h * high_w..][..high_h * high_w];
            for kh in 0..4 {
                let Some(y) = (2 * i + kh).checked_sub(1).filter(|&y| y < high_h) else { continue };
                for kw in 0..4 {
                    let Some(x) = (2 * j + kw).checked_sub(1).filter(|&x| x < high_w) else { continue };
                    taps[kh * 4 + kw] = plane[y * high_w + x];
                }
            }
        }
    }
}

/// Adds `lhs` `[m, k]` x `rhs` `[k, n]` (row-major) to `sum` `[m, n]` on the calling thread.
fn accumulate_product(sum: &mut [f32], lhs: &[f32], rhs: &[f32], [m, k, n]: [usize; 3]) {
    assert_eq!(sum.len(), m * n, "output size");
    assert_eq!(lhs.len(), m * k, "left matrix size");
    assert_eq!(rhs.len(), k * n, "right matrix size");
    // SAFETY: the slices hold exactly the row-major matrices the sizes and strides describe
    // (checked above), and sum does not overlap the inputs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            sum.as_mut_ptr(),
            1,
            n as isize,
            true,
            lhs.as_ptr(),
            1,
            k as isize,
            rhs.as_ptr(),
            1,
            n as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

