//! The TF-Inception network "2015-12-05" up to its 2048-d pool3 features, as FID uses it.
//!
//! Layer names, kernel shapes, strides and paddings all come from the imported weights file;
//! this module only fixes how the blocks connect. Every conv is followed by batch norm (no
//! scale, epsilon 1e-3) and ReLU; the batch norm is folded into the conv's weight and bias at
//! load time, which gives the same function with fewer passes over the activations.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use burn::tensor::activation::relu;
use burn::tensor::module::{avg_pool2d, conv2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::SafeTensors;

use super::weights::SETTINGS_KEY;

/// The input side of the network, in pixels.
pub const INPUT_SIZE: usize = 299;

/// The length of a pool3 feature vector.
pub const FEATURE_DIM: usize = 2048;

/// Batch norm epsilon of the TF graph.
const BATCH_NORM_EPSILON: f64 = 1e-3;

/// The Inception network, ready to run on one device.
pub struct InceptionV3 {
    stem: Vec<Stage>,
    blocks: Vec<Mixed>,
}

enum Stage {
    Conv(ConvBn),
    /// 3x3 max pool, stride 2.
    MaxPool,
}

/// A conv with its folded batch norm and the ReLU after it.
struct ConvBn {
    weight: Tensor<4>,
    bias: Tensor<1>,
    options: ConvOptions<2>,
}

/// The mixed blocks, named by their GoogLeNet letters.
enum Mixed {
    /// 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avg pool-1x1.
    A { conv: ConvBn, tower: Vec<ConvBn>, tower_1: Vec<ConvBn>, tower_2: ConvBn },
    /// Grid reduction: 3x3/2 | 1x1-3x3-3x3/2 | max pool/2.
    B { conv: ConvBn, tower: Vec<ConvBn> },
    /// Factorised 7x7: 1x1 | 1x1-1x7-7x1 | 1x1-7x1-1x7-7x1-1x7 | avg pool-1x1.
    C { conv: ConvBn, tower: Vec<ConvBn>, tower_1: Vec<ConvBn>, tower_2: ConvBn },
    /// Grid reduction: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | max pool/2.
    D { tower: Vec<ConvBn>, tower_1: Vec<ConvBn> },
    /// Expanded filter bank; the last one pools with a 3x3 stride-1 max pool instead of average.
    E(Box<BlockE>),
}

struct BlockE {
    conv: ConvBn,
    tower_conv: ConvBn,
    tower_mixed: [ConvBn; 2],
    tower_1: Vec<ConvBn>,
    tower_1_mixed: [ConvBn; 2],
    tower_2_conv: ConvBn,
    max_pool: bool,
}

impl InceptionV3 {
    /// Loads the network from a file written by `kao weights import`.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("failed to read {}", path.display()))?;
        let weights = Weights::parse(&bytes, device).with_context(|| format!("{} is not a kao Inception weights file", path.display()))?;

        let stem = vec![
            Stage::Conv(weights.conv("conv")?),
            Stage::Conv(weights.conv("conv_1")?),
            Stage::Conv(weights.conv("conv_2")?),
            Stage::MaxPool,
            Stage::Conv(weights.conv("conv_3")?),
            Stage::Conv(weights.conv("conv_4")?),
            Stage::MaxPool,
        ];
        let blocks = (0..11).map(|index| weights.block(index)).collect::<Result<_>>()?;
        Ok(Self { stem, blocks })
    }

    /// Maps images, already resized to 299x299 and scaled to [-1, 1) (see `preprocess`), to
    /// their pool3 features: `[N, 3, 299, 299]` -> `[N, 2048]`.
    pub fn forward(&self, img: Tensor<4>) -> Tensor<2> {
        let [batch, channels, height, width] = img.dims();
        assert_eq!([channels, height, width], [3, INPUT_SIZE, INPUT_SIZE], "Inception takes [N, 3, 299, 299]");

        let mut x = img;
        for stage in &self.stem {
            x = match stage {
                Stage::Conv(conv) => conv.forward(x),
                Stage::MaxPool => max_pool(x, 2, 0),
            };
        }
        for block in &self.blocks {
            x = block.forward(x);
        }

        // The final 8x8 average pool over the 8x8 grid is a spatial mean.
        assert_eq!(x.dims(), [batch, FEATURE_DIM, 8, 8], "pool3 input");
        x.mean_dim(3).mean_dim(2).reshape([batch, FEATURE_DIM])
    }
}

impl ConvBn {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(conv2d(x, self.weight.clone(), Some(self.bias.clone()), self.options.clone()))
    }
}

fn chain(convs: &[ConvBn], x: Tensor<4>) -> Tensor<4> {
    convs.iter().fold(x, |x, conv| conv.forward(x))
}

fn max_pool(x: Tensor<4>, stride: usize, padding: usize) -> Tensor<4> {
    max_pool2d(x, MaxPoolOptions::new([3, 3]).with_stride([stride; 2]).with_padding([padding; 2]))
}

/// 3x3 average pool, stride 1, padding 1, averaging only the pixels inside the image.
fn avg_pool(x: Tensor<4>) -> Tensor<4> {
    let options = AvgPoolOptions::new([3, 3]).with_stride([1, 1]).with_padding([1, 1]).with_count_include_pad(false);
    avg_pool2d(x, options)
}

impl Mixed {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let branches = match self {
            Mixed::A { conv, tower, tower_1, tower_2 } | Mixed::C { conv, tower, tower_1, tower_2 } => vec![
                conv.forward(x.clone()),
                chain(tower, x.clone()),
                chain(tower_1, x.clone()),
                tower_2.forward(avg_pool(x)),
            ],
            Mixed::B { conv, tower } => vec![conv.forward(x.clone()), chain(tower, x.clone()), max_pool(x, 2, 0)],
            Mixed::D { tower, tower_1 } => vec![chain(tower, x.clone()), chain(tower_1, x.clone()), max_pool(x, 2, 0)],
            Mixed::E(block) => block.branches(x),
        };
        Tensor::cat(branches, 1)
    }
}

impl BlockE {
    fn branches(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        let a = self.tower_conv.forward(x.clone());
        let b = chain(&self.tower_1, x.clone());
        let pooled = match self.max_pool {
            true => max_pool(x.clone(), 1, 1),
            false => avg_pool(x.clone()),
        };
        vec![
            self.conv.forward(x),
            self.tower_mixed[0].forward(a.clone()),
            self.tower_mixed[1].forward(a),
            self.tower_1_mixed[0].forward(b.clone()),
            self.tower_1_mixed[1].forward(b),
            self.tower_2_conv.forward(pooled),
        ]
    }
}

/// The imported tensors and conv settings, read by layer name.
struct Weights<'a> {
    file: SafeTensors<'a>,
    settings: HashMap<String, Vec<i64>>,
    device: &'a Device,
}

impl<'a> Weights<'a> {
    fn parse(bytes: &'a [u8], device: &'a Device) -> Result<Self> {
        let (_, header) = SafeTensors::read_metadata(bytes)?;
        let settings = header.metadata().as_ref().and_then(|m| m.get(SETTINGS_KEY)).context("no conv settings in the metadata")?;
        let settings = serde_json::from_str(settings).context("conv settings are not valid JSON")?;
        Ok(Self { file: SafeTensors::deserialize(bytes)?, settings, device })
    }

    fn values(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>)> {
        let view = self.file.tensor(name).with_context(|| format!("tensor {name} is missing"))?;
        let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect();
        Ok((values, view.shape().to_vec()))
    }

    fn setting(&self, name: &str) -> Result<Vec<usize>> {
        let values = self.settings.get(name).with_context(|| format!("setting {name} is missing"))?;
        Ok(values.iter().map(|&v| v as usize).collect())
    }

    /// Loads conv `name` and folds its batch norm:
    /// `relu((conv(x, w) - mean) / sqrt(var + eps) + beta)` = `relu(conv(x, w * s) + beta - mean * s)`
    /// with `s = 1 / sqrt(var + eps)` per output channel.
    fn conv(&self, name: &str) -> Result<ConvBn> {
        let (mut weight, shape) = self.values(&format!("{name}.weight"))?;
        let (beta, _) = self.values(&format!("{name}.beta"))?;
        let (mean, _) = self.values(&format!("{name}.mean"))?;
        let (var, _) = self.values(&format!("{name}.var"))?;
        let [out_channels, ..] = shape[..] else { bail!("{name}.weight has no dimensions") };
        if shape.len() != 4 || [beta.len(), mean.len(), var.len()] != [out_channels; 3] {
            bail!("{name} has inconsistent shapes: weight {shape:?}, {} batch-norm values", beta.len());
        }

        let per_channel = weight.len() / out_channels;
        let mut bias = Vec::with_capacity(out_channels);
        for channel in 0..out_channels {
            let scale = 1.0 / (var[channel] as f64 + BATCH_NORM_EPSILON).sqrt();
            for value in &mut weight[channel * per_channel..(channel + 1) * per_channel] {
                *value = (*value as f64 * scale) as f32;
            }
            bias.push((beta[channel] as f64 - mean[channel] as f64 * scale) as f32);
        }

        let stride = self.setting(&format!("{name}.stride"))?;
        let padding = self.setting(&format!("{name}.padding"))?;
        let padding = match padding[..] {
            [both] => [both, both],
            [height, width] => [height, width],
            _ => bail!("{name}.padding has {} values", padding.len()),
        };
        let shape4 = [shape[0], shape[1], shape[2], shape[3]];
        Ok(ConvBn {
            weight: Tensor::from_data(TensorData::new(weight, shape4), self.device),
            bias: Tensor::from_data(TensorData::new(bias, [out_channels]), self.device),
            options: ConvOptions::new([stride[0]; 2], padding, [1, 1], 1),
        })
    }

    /// Loads the convs `prefix.conv`, `prefix.conv_1`, ... in order.
    fn tower(&self, prefix: &str) -> Result<Vec<ConvBn>> {
        let mut convs = vec![self.conv(&format!("{prefix}.conv"))?];
        while self.file.tensor(&format!("{prefix}.conv_{}.weight", convs.len())).is_ok() {
            convs.push(self.conv(&format!("{prefix}.conv_{}", convs.len()))?);
        }
        Ok(convs)
    }

    /// Loads mixed block `index` (0 to 10): three A, one B, four C, one D and two E.
    fn block(&self, index: usize) -> Result<Mixed> {
        let name = match index {
            0 => "mixed".to_owned(),
            _ => format!("mixed_{index}"),
        };
        let conv = |suffix: &str| self.conv(&format!("{name}.{suffix}"));
        let tower = |suffix: &str| self.tower(&format!("{name}.{suffix}"));
        Ok(match index {
            0..=2 => Mixed::A { conv: conv("conv")?, tower: tower("tower")?, tower_1: tower("tower_1")?, tower_2: conv("tower_2.conv")? },
            3 => Mixed::B { conv: conv("conv")?, tower: tower("tower")? },
            4..=7 => Mixed::C { conv: conv("conv")?, tower: tower("tower")?, tower_1: tower("tower_1")?, tower_2: conv("tower_2.conv")? },
            8 => Mixed::D { tower: tower("tower")?, tower_1: tower("tower_1")? },
            _ => Mixed::E(Box::new(BlockE {
                conv: conv("conv")?,
                tower_conv: conv("tower_conv")?,
                tower_mixed: [conv("tower_mixed_conv")?, conv("tower_mixed_conv_1")?],
                tower_1: vec![conv("tower_1_conv")?, conv("tower_1_conv_1")?],
                tower_1_mixed: [conv("tower_1_mixed_conv")?, conv("tower_1_mixed_conv_1")?],
                tower_2_conv: conv("tower_2_conv")?,
                max_pool: index == 10,
            })),
        })
    }
}
