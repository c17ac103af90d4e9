//! Parameter paths such as `blocks.0.conv.weight`, tracked while a visitor or mapper walks a
//! module.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;

/// The current module path during a walk. Enum variant names are left out, so a network keeps
/// the same parameter names whether or not it is wrapped in an architecture enum.
#[derive(Default)]
pub struct ModulePath {
    segments: Vec<Option<String>>,
}

impl ModulePath {
    /// Enters a field or variant; burn names enum containers `Enum:<type>`.
    pub fn enter(&mut self, name: &str, container_type: &str) {
        let is_variant = container_type.starts_with("Enum:");
        self.segments.push((!is_variant).then(|| name.to_string()));
    }

    /// Leaves the innermost field or variant.
    pub fn exit(&mut self) {
        self.segments.pop();
    }

    /// Returns the dotted path of the current position.
    pub fn joined(&self) -> String {
        self.segments.iter().flatten().cloned().collect::<Vec<_>>().join(".")
    }
}

/// One float parameter or running statistic of a module, flattened.
pub struct NamedTensor {
    pub path: String,
    pub shape: Vec<usize>,
    pub values: Tensor<1>,
}

/// Lists every float parameter and running statistic of `module` in module order.
pub fn named_tensors<M: Module>(module: &M) -> Vec<NamedTensor> {
    let mut collector = Collector { path: ModulePath::default(), tensors: Vec::new() };
    module.visit(&mut collector);
    collector.tensors
}

struct Collector {
    path: ModulePath,
    tensors: Vec<NamedTensor>,
}

impl ModuleVisitor for Collector {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let tensor = param.val();
        let shape = tensor.dims().to_vec();
        let values = tensor.reshape([shape.iter().product::<usize>()]);
        self.tensors.push(NamedTensor { path: self.path.joined(), shape, values });
    }
}
