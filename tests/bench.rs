//! `kao bench` through the binary: the JSON line that benches/compare.sh reads.

mod common;

use common::kao;

/// Runs `kao bench` with `args` and returns its JSON line.
fn bench(args: &[&str]) -> serde_json::Value {
    let mut full = vec!["bench", "--warmup", "0", "--steps", "1", "--threads", "2"];
    full.extend(args);
    let (ok, stdout, stderr) = kao(&full);
    assert!(ok, "kao bench {args:?} failed: {stderr}");
    assert_eq!(stdout.lines().count(), 1, "one JSON line on stdout, got: {stdout}");
    serde_json::from_str(stdout.trim()).expect("stdout is JSON")
}

#[test]
fn bench_reports_each_mode() {
    for (model, mode, batch) in [("dcgan-64", "train", 8), ("dcgan-64", "generate", 8), ("stylegan-64", "train", 4)] {
        let batch_text = batch.to_string();
        let result = bench(&["--model", model, "--mode", mode, "--batch", &batch_text]);
        assert_eq!(result["program"], "kao");
        assert_eq!(result["model"], model);
        assert_eq!(result["mode"], mode);
        assert_eq!(result["batch"], batch);
        assert_eq!(result["threads"], 2);
        assert_eq!(result["warmup"], 0);
        assert_eq!(result["device"], "cpu");
        assert_eq!(result["kernels"], "kao");
        assert!(result["images_per_second"].as_f64().is_some_and(|rate| rate > 0.0), "{result}");
        assert!(result["peak_rss_mib"].as_f64().is_some_and(|mib| mib > 1.0), "{result}");
    }
}

#[test]
fn bench_rejects_zero_steps() {
    let (ok, _, stderr) = kao(&["bench", "--steps", "0"]);
    assert!(!ok, "--steps 0 must fail");
    assert!(stderr.contains("invalid --steps 0"), "{stderr}");
}

#[test]
#[cfg(not(any(feature = "cuda", feature = "wgpu")))]
fn gpu_device_without_feature_names_fix() {
    for (device, feature) in [("cuda", "--features cuda"), ("wgpu", "--features wgpu")] {
        let (ok, _, stderr) = kao(&["bench", "--device", device, "--steps", "1"]);
        assert!(!ok, "--device {device} must fail in a CPU-only build");
        assert!(stderr.contains(feature), "--device {device}: {stderr}");
    }
}
