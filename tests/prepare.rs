//! `kao prepare` on real faces and on broken files the tests write themselves.

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageBuffer, Luma, Rgb, Rgba, RgbImage};
use kao::data::packed::{PackedFaces, PackedWriter};
use kao::data::prepare::prepare;
use kao::data::report::Report;
use kao::data::{IMAGES_DIR_NAME, PACKED_FILE_NAME, REPORT_FILE_NAME};

fn reasons_by_file(report: &Report) -> HashMap<String, String> {
    report
        .rejections
        .iter()
        .map(|entry| (Path::new(&entry.path).file_name().unwrap().to_string_lossy().into_owned(), entry.reason.clone()))
        .collect()
}

fn conversions_of(report: &Report, name: &str) -> Vec<String> {
    report
        .conversions
        .iter()
        .filter(|entry| entry.path.ends_with(name))
        .map(|entry| entry.from.clone())
        .collect()
}

/// Writes a PNG whose header claims `width` x `height` pixels, followed by a few bytes of image data:
/// the shape of a decompression bomb without its size.
fn png_bomb(path: &Path, width: u32, height: u32) {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    drop(encoder.write_header().unwrap());
    // The writer closes the file with a 12-byte IEND chunk on drop; the data must come first.
    bytes.truncate(bytes.len() - 12);
    for (kind, data) in [(*b"IDAT", vec![0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]), (*b"IEND", vec![])] {
        bytes.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&kind);
        hasher.update(&data);
        bytes.extend_from_slice(&kind);
        bytes.extend_from_slice(&data);
        bytes.extend_from_slice(&hasher.finalize().to_be_bytes());
    }
    fs::write(path, bytes).unwrap();
}

fn palette_png(path: &Path, face: &RgbImage) {
    let file = fs::File::create(path).unwrap();
    let mut encoder = png::Encoder::new(file, face.width(), face.height());
    encoder.set_color(png::ColorType::Indexed);
    // A 6x6x6 colour cube, with each pixel mapped to its nearest entry.
    let palette: Vec<u8> = (0..216u32).flat_map(|i| [(i / 36) as u8 * 51, (i / 6 % 6) as u8 * 51, (i % 6) as u8 * 51]).collect();
    encoder.set_palette(palette);
    let indices: Vec<u8> = face
        .pixels()
        .map(|p| {
            let level = |v: u8| (u32::from(v) + 25) / 51;
            (level(p[0]) * 36 + level(p[1]) * 6 + level(p[2])) as u8
        })
        .collect();
    encoder.write_header().unwrap().write_image_data(&indices).unwrap();
}

/// Writes real faces in several encodings plus broken files into `dir`.
fn write_mixed_folder(shared: &Path, dir: &Path) -> Vec<PathBuf> {
    let faces = common::first_faces(shared, 10);
    let nested = dir.join("nested/deeper");
    fs::create_dir_all(&nested).unwrap();
    for face in &faces[..4] {
        fs::copy(face, dir.join(face.file_name().unwrap())).unwrap();
    }
    // An exact copy under another name, in a subfolder: sorted after the original, so removed.
    fs::copy(&faces[0], nested.join("zz-copy.jpg")).unwrap();

    // A slightly brightened re-encode of an original: a near duplicate, not an exact one.
    let mut brighter = image::open(&faces[0]).unwrap().to_rgb8();
    brighter.pixels_mut().for_each(|p| p.0 = p.0.map(|v| v.saturating_add(3)));
    brighter.save(dir.join("zz-brighter.png")).unwrap();

    image::open(&faces[4]).unwrap().to_luma8().save(dir.join("gray.png")).unwrap();
    let face = image::open(&faces[5]).unwrap().to_rgb8();
    let rgba = ImageBuffer::from_fn(face.width(), face.height(), |x, y| {
        let p = face.get_pixel(x, y);
        Rgba([p[0], p[1], p[2], if x < 8 { 0 } else { 255 }])
    });
    rgba.save(dir.join("transparent-edge.png")).unwrap();
    let other = image::open(&faces[6]).unwrap().to_rgb8();
    let deep = ImageBuffer::<Rgb<u16>, Vec<u16>>::from_fn(other.width(), other.height(), |x, y| {
        let p = other.get_pixel(x, y);
        Rgb([u16::from(p[0]) * 257, u16::from(p[1]) * 257, u16::from(p[2]) * 257])
    });
    DynamicImage::ImageRgb16(deep).save(dir.join("deep.png")).unwrap();
    palette_png(&dir.join("palette.png"), &image::open(&faces[7]).unwrap().to_rgb8());
    image::open(&faces[8]).unwrap().save(dir.join("face.webp")).unwrap();
    let wide = image::open(&faces[9]).unwrap().resize_exact(150, 100, image::imageops::FilterType::Triangle);
    wide.save(dir.join("wide.bmp")).unwrap();
    wide.resize_exact(40, 48, image::imageops::FilterType::Triangle).save(dir.join("small.png")).unwrap();

    fs::write(dir.join("empty.jpg"), b"").unwrap();
    let jpeg = fs::read(&faces[1]).unwrap();
    fs::write(dir.join("truncated.jpg"), &jpeg[..jpeg.len() / 3]).unwrap();
    let mut png_bytes = Vec::new();
    face.write_to(&mut std::io::Cursor::new(&mut png_bytes), image::ImageFormat::Png).unwrap();
    fs::write(dir.join("truncated.png"), &png_bytes[..png_bytes.len() / 2]).unwrap();
    fs::write(dir.join("notes.png"), b"these are not pixels\n").unwrap();
    fs::write(dir.join("error-page.jpg"), b"<!DOCTYPE html><html><body>404 Not Found</body></html>").unwrap();
    png_bomb(&dir.join("bomb.png"), 100_000, 100_000);
    fs::write(dir.join("readme.txt"), b"not an image extension").unwrap();
    faces
}

#[test]
fn mixed_folder_report_names_each_reason() {
    let Some(shared) = common::shared_faces_64() else { return };
    let root = tempfile::tempdir().unwrap();
    let input = root.path().join("raw");
    fs::create_dir_all(&input).unwrap();
    let faces = write_mixed_folder(&shared, &input);

    let output = root.path().join("prepared");
    let report = prepare(&common::prepare_config(vec![input.clone()], output.clone())).unwrap();
    let reasons = reasons_by_file(&report);

    assert!(reasons["empty.jpg"].starts_with("empty file"), "{:?}", reasons["empty.jpg"]);
    assert!(reasons["truncated.jpg"].starts_with("corrupt or truncated"), "{:?}", reasons["truncated.jpg"]);
    assert!(reasons["truncated.png"].starts_with("corrupt or truncated"), "{:?}", reasons["truncated.png"]);
    assert!(reasons["notes.png"].starts_with("not an image"), "{:?}", reasons["notes.png"]);
    assert!(reasons["error-page.jpg"].starts_with("not an image"), "{:?}", reasons["error-page.jpg"]);
    assert!(reasons["small.png"].starts_with("too small: 40x48"), "{:?}", reasons["small.png"]);
    assert!(reasons["bomb.png"].starts_with("too large: 100000x100000"), "{:?}", reasons["bomb.png"]);
    assert_eq!(report.rejected, 7);
    assert_eq!(report.ignored, 1);
    assert_eq!(report.ignored_files.len(), 1);
    assert!(report.ignored_files[0].ends_with("readme.txt"), "{:?}", report.ignored_files);

    assert_eq!(conversions_of(&report, "gray.png"), ["grayscale"]);
    assert_eq!(conversions_of(&report, "transparent-edge.png"), ["rgba"]);
    assert_eq!(conversions_of(&report, "deep.png"), ["16-bit"]);
    assert_eq!(conversions_of(&report, "palette.png"), ["palette"]);

    assert_eq!(report.exact_duplicates, 1);
    assert_eq!(report.near_duplicates, 1);
    let near = report.duplicates.iter().find(|d| d.path.ends_with("zz-brighter.png")).expect("near copy reported");
    assert_eq!(near.kind, "near");
    assert!(near.duplicate_of.ends_with(faces[0].file_name().unwrap().to_str().unwrap()), "{near:?}");
    let copy = report.duplicates.iter().find(|d| d.path.ends_with("zz-copy.jpg")).expect("copy reported");
    assert_eq!(copy.kind, "exact");
    assert!(!copy.duplicate_of.ends_with("zz-copy.jpg"));

    // 4 originals, grayscale, RGBA, 16-bit, palette, WebP and the wide BMP.
    assert_eq!(report.kept, 10);
    assert_eq!(report.upscaled, 0);
    assert_eq!(report.scanned, 19);
    let images: Vec<_> = fs::read_dir(output.join(IMAGES_DIR_NAME)).unwrap().collect();
    assert_eq!(images.len(), report.kept);
    assert_eq!(report.kept_files.len(), report.kept);
    assert_eq!(report.kept_files[0].output, "images/000000.png");
    for kept in &report.kept_files {
        assert!(output.join(&kept.output).is_file(), "{kept:?}");
    }
    let first = image::open(output.join(IMAGES_DIR_NAME).join("000000.png")).unwrap();
    assert_eq!((first.width(), first.height()), (64, 64));

    let saved: Report = serde_json::from_slice(&fs::read(output.join(REPORT_FILE_NAME)).unwrap()).unwrap();
    assert_eq!(saved.kept, report.kept);
    assert!(!output.parent().unwrap().read_dir().unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains(".tmp-")));
}

#[test]
fn composited_alpha_is_white() {
    let root = tempfile::tempdir().unwrap();
    let input = root.path().join("raw");
    fs::create_dir_all(&input).unwrap();
    let transparent = ImageBuffer::from_fn(64, 64, |x, _| Rgba([200u8, 10, 10, if x < 32 { 0 } else { 255 }]));
    transparent.save(input.join("half.png")).unwrap();

    let output = root.path().join("prepared");
    prepare(&common::prepare_config(vec![input], output.clone())).unwrap();
    let kept = image::open(output.join(IMAGES_DIR_NAME).join("000000.png")).unwrap().to_rgb8();
    assert_eq!(kept.get_pixel(5, 5), &Rgb([255, 255, 255]));
    assert_eq!(kept.get_pixel(60, 5), &Rgb([200, 10, 10]));
}

#[test]
fn shared_64_set_keeps_pixel_unique_faces() {
    let Some(shared) = common::shared_faces_64() else { return };
    let root = tempfile::tempdir().unwrap();
    let output = root.path().join("faces64");
    let (ok, stdout, stderr) = common::kao(&[
        "prepare",
        shared.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--size",
        "64",
        "--no-near-duplicates",
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("kept 22969"), "{stdout}");

    let report: Report = serde_json::from_slice(&fs::read(output.join(REPORT_FILE_NAME)).unwrap()).unwrap();
    assert_eq!(report.scanned, 29_992);
    assert_eq!(report.kept, 22_969);
    assert_eq!(report.exact_duplicates, 7_023);
    assert_eq!(report.near_duplicates, 0);
    assert_eq!(report.rejected, 0);
    assert_eq!(report.duplicates.len(), 7_023);
    let packed = PackedFaces::open(&output.join(PACKED_FILE_NAME)).unwrap();
    assert_eq!(packed.len(), 22_969);
}

#[test]
fn existing_output_needs_force() {
    let root = tempfile::tempdir().unwrap();
    let input = root.path().join("raw");
    fs::create_dir_all(&input).unwrap();
    ImageBuffer::from_pixel(80, 80, Luma([90u8])).save(input.join("gray.png")).unwrap();
    let prepare_into = |output: &Path, force: bool| {
        let mut args = vec!["prepare", input.to_str().unwrap(), "--output", output.to_str().unwrap(), "--size", "64"];
        if force {
            args.push("--force");
        }
        common::kao(&args)
    };

    // A folder that kao prepare did not write is never replaced, with or without --force.
    let unrelated = root.path().join("thesis");
    fs::create_dir_all(&unrelated).unwrap();
    fs::write(unrelated.join("thesis.txt"), b"user data").unwrap();
    let (ok, _, stderr) = prepare_into(&unrelated, false);
    assert!(!ok);
    assert!(stderr.contains("already exists; pass --force"), "{stderr}");
    let (ok, _, stderr) = prepare_into(&unrelated, true);
    assert!(!ok);
    assert!(stderr.contains("--force replaces only a dataset written by kao prepare"), "{stderr}");
    assert!(unrelated.join("thesis.txt").exists());

    // A previous prepared dataset is replaced with --force.
    let output = root.path().join("prepared");
    let (ok, _, stderr) = prepare_into(&output, false);
    assert!(ok, "{stderr}");
    fs::write(output.join("stale.txt"), b"old run").unwrap();
    let (ok, _, stderr) = prepare_into(&output, true);
    assert!(ok, "{stderr}");
    assert!(!output.join("stale.txt").exists());
    assert!(output.join(PACKED_FILE_NAME).exists());
}

#[test]
fn output_inside_input_is_rejected() {
    let root = tempfile::tempdir().unwrap();
    let input = root.path().join("raw");
    fs::create_dir_all(&input).unwrap();
    ImageBuffer::from_pixel(80, 80, Luma([90u8])).save(input.join("gray.png")).unwrap();

    for output in [input.clone(), input.join("prepared"), root.path().to_owned()] {
        let (ok, _, stderr) =
            common::kao(&["prepare", input.to_str().unwrap(), "--output", output.to_str().unwrap(), "--force"]);
        assert!(!ok, "{}", output.display());
        assert!(stderr.contains("overlaps the input"), "{stderr}");
    }
    assert!(input.join("gray.png").exists());
}

#[test]
fn invalid_size_is_rejected_by_cli() {
    let (ok, _, stderr) = common::kao(&["prepare", ".", "--output", "/tmp/never", "--size", "100"]);
    assert!(!ok);
    assert!(stderr.contains("use 64 or 128"), "{stderr}");
}

#[test]
fn packed_file_round_trip() {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join(PACKED_FILE_NAME);
    let images: Vec<Vec<u8>> = (0..5u8).map(|i| (0..8 * 6 * 3).map(|j| (j as u8).wrapping_mul(i + 1)).collect()).collect();
    let mut writer = PackedWriter::create(&path, 8, 6).unwrap();
    for image in &images {
        writer.push(image).unwrap();
    }
    assert_eq!(writer.finish().unwrap(), 5);

    let packed = PackedFaces::open(&path).unwrap();
    assert_eq!((packed.len(), packed.height(), packed.width()), (5, 8, 6));
    for (index, image) in images.iter().enumerate() {
        assert_eq!(packed.image(index), image.as_slice());
    }

    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 7]).unwrap();
    let error = PackedFaces::open(&path).err().expect("truncated file is rejected").to_string();
    assert!(error.contains("truncated"), "{error}");
}

/// Writes the inputs that the mixed-folder test does not cover: odd shapes, CMYK, grey with
/// alpha, an animated GIF, a symlink loop and a file name that is not UTF-8.
fn write_odd_inputs(shared: &Path, dir: &Path) {
    let faces = common::first_faces(shared, 4);
    let face = image::open(&faces[0]).unwrap().to_rgb8();
    RgbImage::from_fn(16, 16, |x, y| *face.get_pixel(x, y)).save(dir.join("tiny16.png")).unwrap();
    RgbImage::from_fn(1, 10_000, |_, y| *face.get_pixel(0, y % 64)).save(dir.join("strip.png")).unwrap();

    let gray_alpha = ImageBuffer::from_fn(64, 64, |x, y| image::LumaA([face.get_pixel(x, y)[1], if y < 4 { 0 } else { 255 }]));
    gray_alpha.save(dir.join("gray-alpha.png")).unwrap();

    // CMYK as an Adobe JPEG: plain inverted RGB with no black, enough to exercise the path.
    let other = image::open(&faces[1]).unwrap().to_rgb8();
    let cmyk: Vec<u8> = other.pixels().flat_map(|p| [255 - p[0], 255 - p[1], 255 - p[2], 0]).collect();
    let encoder = jpeg_encoder::Encoder::new_file(dir.join("cmyk.jpg"), 95).unwrap();
    encoder.encode(&cmyk, other.width() as u16, other.height() as u16, jpeg_encoder::ColorType::Cmyk).unwrap();

    let frames: Vec<image::Frame> = faces[2..4]
        .iter()
        .map(|path| image::Frame::new(image::open(path).unwrap().to_rgba8()))
        .collect();
    let file = fs::File::create(dir.join("animated.gif")).unwrap();
    image::codecs::gif::GifEncoder::new(file).encode_frames(frames).unwrap();

    let looped = dir.join("loop");
    fs::create_dir_all(&looped).unwrap();
    std::os::unix::fs::symlink("..", looped.join("parent")).unwrap();

    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::OsStr::from_bytes(b"face-\xff\xfe.png");
    fs::copy(&faces[3], dir.join(name)).unwrap();
}

#[test]
fn odd_inputs_are_converted_or_rejected_with_reasons() {
    let Some(shared) = common::shared_faces_64() else { return };
    let root = tempfile::tempdir().unwrap();
    let input = root.path().join("raw");
    fs::create_dir_all(&input).unwrap();
    write_odd_inputs(&shared, &input);

    let output = root.path().join("prepared");
    let report = prepare(&common::prepare_config(vec![input.clone()], output.clone())).unwrap();
    let reasons = reasons_by_file(&report);
    assert!(reasons["tiny16.png"].starts_with("too small: 16x16"), "{:?}", reasons["tiny16.png"]);
    assert!(reasons["strip.png"].starts_with("too small: 1x10000"), "{:?}", reasons["strip.png"]);
    let looped = report.rejections.iter().find(|r| r.reason.starts_with("symlink loop")).expect("loop reported");
    assert!(looped.path.ends_with("parent"), "{looped:?}");

    assert_eq!(conversions_of(&report, "gray-alpha.png"), ["grayscale", "rgba"]);
    assert_eq!(conversions_of(&report, "cmyk.jpg"), ["cmyk"]);
    assert!(conversions_of(&report, "animated.gif").contains(&"animated".to_string()), "{:?}", report.conversions);
    // The name is reported with U+FFFD for the bytes that are not UTF-8, and the face is kept.
    assert!(report.kept_files.iter().any(|kept| kept.path.ends_with("face-\u{FFFD}\u{FFFD}.png")), "{:?}", report.kept_files);

    assert_eq!(report.kept, 4);
    for kept in &report.kept_files {
        let image = image::open(output.join(&kept.output)).unwrap();
        assert_eq!((image.width(), image.height(), image.color()), (64, 64, image::ColorType::Rgb8), "{kept:?}");
    }
    let packed = PackedFaces::open(&output.join(PACKED_FILE_NAME)).unwrap();
    assert_eq!(packed.len(), 4);
}

/// Starts `kao prepare` on all shared faces, sends `signal` as soon as its staging folder
/// appears (it is writing the dataset then), and returns its exit status and standard error.
fn signal_prepare(shared: &Path, output: &Path, signal: i32) -> (std::process::ExitStatus, String) {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_kao"))
        .args(["prepare", shared.to_str().unwrap(), "--output", output.to_str().unwrap(), "--size", "64"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let parent = output.parent().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while hidden_entries(parent).is_empty() {
        assert!(std::time::Instant::now() < deadline, "kao prepare never started writing");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: kill only sends a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let output = child.wait_with_output().unwrap();
    (output.status, String::from_utf8_lossy(&output.stderr).into_owned())
}

fn hidden_entries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect()
}

#[test]
fn interrupted_prepare_leaves_no_output_and_reruns() {
    use std::os::unix::process::ExitStatusExt;
    let Some(shared) = common::shared_faces_64() else { return };
    let root = tempfile::tempdir().unwrap();
    let output = root.path().join("prepared");

    // Ctrl-C while writing: kao stops, removes its staging folder and reports the interrupt.
    let (status, stderr) = signal_prepare(&shared, &output, libc::SIGINT);
    assert!(!status.success());
    assert!(stderr.contains("interrupted: nothing was written"), "{stderr}");
    assert!(!output.exists());
    assert!(hidden_entries(root.path()).is_empty(), "{:?}", hidden_entries(root.path()));

    // SIGKILL: no handler runs; the output path still does not exist, and the next run removes
    // the staging folder the killed one left.
    let (status, _) = signal_prepare(&shared, &output, libc::SIGKILL);
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(!output.exists());
    assert_eq!(hidden_entries(root.path()).len(), 1, "the killed run's staging folder");

    let input = root.path().join("raw");
    fs::create_dir_all(&input).unwrap();
    for face in common::first_faces(&shared, 5) {
        fs::copy(&face, input.join(face.file_name().unwrap())).unwrap();
    }
    let (ok, _, stderr) = common::kao(&["prepare", input.to_str().unwrap(), "--output", output.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let report: Report = serde_json::from_slice(&fs::read(output.join(REPORT_FILE_NAME)).unwrap()).unwrap();
    assert_eq!(report.kept, 5);
    assert!(hidden_entries(root.path()).is_empty(), "{:?}", hidden_entries(root.path()));
}
