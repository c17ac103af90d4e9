//! Exponential moving average of the generator's weights, the copy StyleGAN samples from.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::Tensor;

use crate::model::GeneratorNet;
use crate::model::path::{ModulePath, named_tensors};

/// Decay per step for a half-life of `half_life_images` images at `batch_size` images a step.
pub fn ema_beta(batch_size: usize, half_life_images: f64) -> f64 {
    0.5f64.powf(batch_size as f64 / half_life_images)
}

/// Moves every weight of `ema` towards `generator`'s: `ema = beta * ema + (1 - beta) * g`.
/// Running statistics (StyleGAN's tracked w average) are copied, since they are averages
/// already.
pub fn update(ema: GeneratorNet, generator: &GeneratorNet, beta: f64) -> GeneratorNet {
    let values = named_tensors(&generator.valid()).into_iter().map(|tensor| (tensor.path, tensor.values)).collect();
    ema.map(&mut Blend { path: ModulePath::default(), values, beta })
}

struct Blend {
    path: ModulePath,
    values: HashMap<String, Tensor<1>>,
    beta: f64,
}

impl ModuleMapper for Blend {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.path.joined();
        let Some(current) = self.values.remove(&path) else {
            return param;
        };
        let (id, tensor, mapper) = param.consume();
        let current = current.reshape(tensor.dims()).to_device(&tensor.device());
        let blended = if path.ends_with("w_avg") {
            current
        } else {
            tensor.mul_scalar(self.beta) + current.mul_scalar(1.0 - self.beta)
        };
        Param::from_mapped_value(id, blended, mapper)
    }
}
