//! Saving and loading module weights as safetensors files, named by module path
//! (for example `blocks.0.conv.weight`), with string metadata in the header.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Tensor, TensorData};
use half::f16;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::init::stable_ids;
use super::path::{ModulePath, named_tensors};
use crate::fsutil::write_atomic;

/// Float format of the values in a weights file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// 32-bit floats, as training writes them.
    F32,
    /// 16-bit floats: half the size, for shipped generators; loading widens them to f32.
    F16,
}

/// Writes every float parameter and running statistic of `module` to `path` as float32.
pub fn save_safetensors<M: Module>(module: &M, path: &Path, metadata: HashMap<String, String>) -> Result<()> {
    save_safetensors_as(module, path, metadata, Precision::F32)
}

/// Writes every float parameter and running statistic of `module` to `path` in `precision`.
pub fn save_safetensors_as<M: Module>(
    module: &M,
    path: &Path,
    metadata: HashMap<String, String>,
    precision: Precision,
) -> Result<()> {
    // `valid` folds pending BatchNorm running-statistic updates into the stored values first;
    // visiting the training module directly would save statistics one step old.
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = named_tensors(&module.valid())
        .into_iter()
        .map(|tensor| {
            let values = crate::model::tensor_values(tensor.values);
            let bytes = match precision {
                Precision::F32 => values.iter().flat_map(|value| value.to_le_bytes()).collect(),
                Precision::F16 => values.iter().flat_map(|value| f16::from_f32(*value).to_le_bytes()).collect(),
            };
            (tensor.path, tensor.shape, bytes)
        })
        .collect();
    let dtype = match precision {
        Precision::F32 => Dtype::F32,
        Precision::F16 => Dtype::F16,
    };
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(name, shape, bytes)| Ok((name.clone(), TensorView::new(dtype, shape.clone(), bytes)?)))
        .collect::<Result<_>>()?;
    let bytes = safetensors::tensor::serialize(views, Some(metadata))?;
    write_atomic(path, &bytes)
}

/// Reads the string metadata of safetensors bytes. Errors name them `name`.
pub fn metadata_of(bytes: &[u8], name: &str) -> Result<HashMap<String, String>> {
    let (_, metadata) = SafeTensors::read_metadata(bytes).with_context(|| format!("{name} is not a valid safetensors file"))?;
    Ok(metadata.metadata().clone().unwrap_or_default())
}

/// Replaces every parameter of `module` with the tensor of the same path in `path`. Missing
/// tensors and shape mismatches are errors naming the tensor.
pub fn load_safetensors<M: Module>(module: M, path: &Path) -> Result<M> {
    let bytes = std::fs::read(path).with_context(|| format!("failed to read {}", path.display()))?;
    load_safetensors_bytes(module, &bytes, &path.display().to_string())
}

/// Like [`load_safetensors`], from the bytes of a file that errors call `name`. Float16
/// tensors are widened to float32.
pub fn load_safetensors_bytes<M: Module>(module: M, bytes: &[u8], name: &str) -> Result<M> {
    let file = SafeTensors::deserialize(bytes).with_context(|| format!("{name} is not a valid safetensors file"))?;
    let mut loader = Loader { file: &file, path: ModulePath::default(), errors: Vec::new() };
    let module = module.map(&mut loader);
    if !loader.errors.is_empty() {
        let shown = loader.errors.iter().take(3).cloned().collect::<Vec<_>>().join("; ");
        let more = loader.errors.len().saturating_sub(3);
        let hint = if name.contains("discriminator") {
            "; this looks like a discriminator file: pass generator.safetensors or the run folder"
        } else {
            ""
        };
        bail!("{name} does not match this model: {shown}{}{hint}", if more > 0 { format!(" and {more} more") } else { String::new() });
    }
    Ok(stable_ids(module))
}

struct Loader<'a> {
    file: &'a SafeTensors<'a>,
    path: ModulePath,
    errors: Vec<String>,
}

impl ModuleMapper for Loader<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let name = self.path.joined();
        let view = match self.file.tensor(&name) {
            Ok(view) => view,
            Err(_) => {
                self.errors.push(format!("tensor {name} is missing"));
                return param;
            }
        };
        let (id, tensor, mapper) = param.consume();
        let values: Option<Vec<f32>> = match view.dtype() {
            Dtype::F32 => Some(view.data().chunks_exact(4).map(|chunk| f32::from_le_bytes(chunk.try_into().unwrap())).collect()),
            Dtype::F16 => {
                Some(view.data().chunks_exact(2).map(|chunk| f16::from_le_bytes(chunk.try_into().unwrap()).to_f32()).collect())
            }
            _ => None,
        };
        let Some(values) = values.filter(|_| view.shape() == tensor.dims()) else {
            self.errors.push(format!("tensor {name} is {:?} {:?}, the model expects F32 or F16 {:?}", view.dtype(), view.shape(), tensor.dims()));
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let loaded = Tensor::from_data(TensorData::new(values, view.shape().to_vec()), &tensor.device())
            .set_require_grad(tensor.is_require_grad());
        Param::from_mapped_value(id, loaded, mapper)
    }
}
