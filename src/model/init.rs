//! Weight initialisation from kao's own random generator, and stable parameter ids.

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::tensor::{Tensor, TensorData};

use super::path::ModulePath;
use crate::rng::{KaoRng, derive_seed};

/// Standard deviation of DCGAN's initial weights (Radford et al. 2016).
const INIT_STD: f32 = 0.02;

/// Initial values of one parameter: `(mean, std)` of a normal draw (std 0 for a constant).
pub type InitRule = Option<(f32, f32)>;

/// Re-initialises every parameter the DCGAN way: convolution weights from N(0, 0.02),
/// BatchNorm scales from N(1, 0.02), shifts and biases zero. Running statistics are left as
/// they are. Draws come from `rng`, so the same seed gives the same network on every run.
pub fn dcgan_init<M: Module>(module: M, rng: &mut KaoRng) -> M {
    init_with(module, rng, |path| match path.rsplit('.').next() {
        Some("weight") => Some((0.0, INIT_STD)),
        Some("gamma") => Some((1.0, INIT_STD)),
        Some("beta" | "bias") => Some((0.0, 0.0)),
        _ => None,
    })
}

/// Re-initialises a StyleGAN generator or discriminator with equalised learning rate: stored
/// weights from N(0, 1 / lr_multiplier), style affine biases 1, noise strengths and other
/// biases 0, the learned constant from N(0, 1). The tracked w average is left at zero.
pub fn stylegan_init<M: Module>(module: M, rng: &mut KaoRng) -> M {
    init_with(module, rng, |path| {
        let name = path.rsplit('.').next().unwrap_or_default();
        let in_mapping = path.starts_with("mapping.layers");
        match name {
            "weight" if in_mapping => Some((0.0, (1.0 / super::stylegan::MAPPING_LR_MULTIPLIER) as f32)),
            "weight" | "constant" => Some((0.0, 1.0)),
            "bias" if path.ends_with("affine.bias") => Some((1.0, 0.0)),
            "bias" | "noise_strength" => Some((0.0, 0.0)),
            _ => None,
        }
    })
}

/// Replaces every float parameter for which `rule(path)` gives `(mean, std)` with draws from
/// N(mean, std) taken from `rng`, in module order.
pub fn init_with<M: Module>(module: M, rng: &mut KaoRng, rule: impl Fn(&str) -> InitRule) -> M {
    module.map(&mut RuleInit { rng, rule, path: ModulePath::default() })
}

struct RuleInit<'a, F> {
    rng: &'a mut KaoRng,
    rule: F,
    path: ModulePath,
}

impl<F: Fn(&str) -> InitRule> ModuleMapper for RuleInit<'_, F> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some((mean, std)) = (self.rule)(&self.path.joined()) else {
            return param;
        };
        let (id, tensor, mapper) = param.consume();
        let shape = tensor.shape();
        let values: Vec<f32> = self.rng.normal_vec(shape.num_elements()).into_iter().map(|v| mean + std * v).collect();
        let fresh = Tensor::from_data(TensorData::new(values, shape), &tensor.device())
            .set_require_grad(tensor.is_require_grad());
        Param::from_mapped_value(id, fresh, mapper)
    }
}

/// Gives every parameter an id derived from the module's type and the parameter's path, so
/// optimizer state saved by one process matches the parameters that another process loads.
pub fn stable_ids<M: Module>(module: M) -> M {
    module.map(&mut StableIds { namespace: std::any::type_name::<M>(), path: ModulePath::default() })
}

struct StableIds {
    namespace: &'static str,
    path: ModulePath,
}

impl ModuleMapper for StableIds {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (_, tensor, mapper) = param.consume();
        let id = ParamId::from(derive_seed(0, &format!("{}/{}", self.namespace, self.path.joined()), 0));
        Param::from_mapped_value(id, tensor, mapper)
    }
}
