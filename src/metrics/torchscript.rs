//! Reading the weights and layer settings of a TorchScript archive (`torch.jit.save`).
//!
//! The archive is a zip file: `<name>/data.pkl` pickles the module tree, whose tensors point at
//! raw little-endian storages in `<name>/data/<key>`. Only float32 tensors are read, which is
//! all the Inception network stores.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use anyhow::{Context, Result, bail};

use super::pickle::{self, Value};

/// A float32 tensor read from the archive, named by its module path (`layers.conv.weight`).
#[derive(Clone, Debug)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// The parameters and integer settings (strides, paddings) of a TorchScript module tree.
#[derive(Debug, Default)]
pub struct ScriptModule {
    pub tensors: Vec<NamedTensor>,
    /// Integer attributes by module path, for example `layers.conv.stride` -> `[2]`.
    pub settings: BTreeMap<String, Vec<i64>>,
}

/// Reads every tensor and integer setting of the TorchScript archive in `bytes`.
pub fn read(bytes: &[u8]) -> Result<ScriptModule> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).context("not a zip archive, so not a TorchScript file")?;
    let pickle_name = archive
        .file_names()
        .filter_map(|name| name.ok())
        .find(|name| name.ends_with("/data.pkl") && name.matches('/').count() == 1)
        .map(|name| name.into_owned())
        .context("no <name>/data.pkl inside the archive, so not a TorchScript file")?;
    let folder = pickle_name.trim_end_matches("data.pkl").to_owned();
    let root = pickle::parse(&entry_bytes(&mut archive, &pickle_name)?).with_context(|| format!("reading {pickle_name}"))?;

    let mut module = ScriptModule::default();
    let mut walker = Walker { archive: &mut archive, folder: &folder, module: &mut module };
    walker.visit_module("", &root)?;
    if module.tensors.is_empty() {
        bail!("{pickle_name} contains no tensors, so this is not a network file");
    }
    Ok(module)
}

/// Reads one archive entry completely.
pub fn entry_bytes<R: Read + std::io::Seek>(archive: &mut zip::ZipArchive<R>, name: &str) -> Result<Vec<u8>> {
    let mut entry = archive.by_name(name).with_context(|| format!("the archive has no entry {name}"))?;
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut bytes).with_context(|| format!("reading {name} from the archive"))?;
    Ok(bytes)
}

struct Walker<'a, R> {
    archive: &'a mut zip::ZipArchive<R>,
    folder: &'a str,
    module: &'a mut ScriptModule,
}

impl<R: Read + std::io::Seek> Walker<'_, R> {
    /// Visits a scripted module object: its state dict names parameters, submodules and settings.
    fn visit_module(&mut self, path: &str, object: &Value) -> Result<()> {
        let Value::Call { state: Some(state), .. } = object else {
            bail!("module {path:?} has no recorded state");
        };
        let Value::Dict(fields) = state.as_ref() else {
            bail!("module {path:?} has a state that is not a dict");
        };
        for (key, value) in fields {
            let Value::Str(key) = key else { continue };
            let name = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            self.visit_field(name, value)?;
        }
        Ok(())
    }

    fn visit_field(&mut self, name: String, value: &Value) -> Result<()> {
        let target = value.call_target().unwrap_or_default();
        if target == "torch._utils._rebuild_tensor_v2" {
            let tensor = self.read_tensor(&name, value)?;
            self.module.tensors.push(tensor);
        } else if target.starts_with("__torch__.") {
            self.visit_module(&name, value)?;
        } else if let Some(numbers) = integers(value) {
            // `training` is a bool and not an integer setting.
            self.module.settings.insert(name, numbers);
        }
        Ok(())
    }

    /// Reads a tensor from `_rebuild_tensor_v2(storage, offset, size, stride, ...)`.
    fn read_tensor(&mut self, name: &str, call: &Value) -> Result<NamedTensor> {
        let Value::Call { args, .. } = call else { unreachable!("checked by the caller") };
        let (Some(Value::Persistent(storage)), Some(Value::Int(offset)), Some(size), Some(stride)) =
            (args.first(), args.get(1), args.get(2).and_then(integers), args.get(3).and_then(integers))
        else {
            bail!("tensor {name} is not stored as (storage, offset, size, stride)");
        };
        let (key, dtype) = storage_key(storage).with_context(|| format!("tensor {name} has an unknown storage reference"))?;
        if dtype != "FloatStorage" {
            bail!("tensor {name} is stored as {dtype}; only float32 (FloatStorage) is supported");
        }
        let shape: Vec<usize> = size.iter().map(|&d| d as usize).collect();
        if stride != contiguous_strides(&shape) {
            bail!("tensor {name} is not contiguous (strides {stride:?}), which kao does not read");
        }

        let bytes = entry_bytes(self.archive, &format!("{}data/{key}", self.folder))?;
        let count: usize = shape.iter().product();
        let start = *offset as usize * 4;
        let Some(raw) = bytes.get(start..start + count * 4) else {
            bail!("tensor {name} needs {count} values but its storage {key} is shorter");
        };
        let values = raw.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect();
        Ok(NamedTensor { name: name.to_owned(), shape, values })
    }
}

/// Returns the storage key and type of `('storage', torch.FloatStorage, key, location, numel)`.
fn storage_key(id: &Value) -> Option<(String, String)> {
    let Value::Tuple(fields) = id else { return None };
    match (fields.first(), fields.get(1), fields.get(2)) {
        (Some(Value::Str(kind)), Some(Value::Global { name, .. }), Some(Value::Str(key))) if kind == "storage" => {
            Some((key.clone(), name.clone()))
        }
        _ => None,
    }
}

/// Reads an integer, or a tuple or list of integers, as a list. TorchScript pickles typed int lists
/// as `torch.jit._pickle.build_intlist([...])`.
fn integers(value: &Value) -> Option<Vec<i64>> {
    match value {
        Value::Call { args, .. } if value.call_target().as_deref() == Some("torch.jit._pickle.build_intlist") => {
            args.first().and_then(integers)
        }
        Value::Int(number) => Some(vec![*number]),
        Value::Tuple(items) | Value::List(items) => items
            .iter()
            .map(|item| match item {
                Value::Int(number) => Some(*number),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

fn contiguous_strides(shape: &[usize]) -> Vec<i64> {
    let mut strides = vec![1i64; shape.len()];
    for axis in (0..shape.len().saturating_sub(1)).rev() {
        strides[axis] = strides[axis + 1] * shape[axis + 1] as i64;
    }
    strides
}
