//! `kao studio` as a real server on a loopback port, with real checkpoints: the HTTP API, its
//! validation, exact regeneration from the copied command, and a bounded load test.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `kao studio` child process, killed on drop.
pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    /// Starts `kao studio` on a free loopback port and waits for its address line.
    pub fn start(checkpoint: &Path) -> Server {
        Self::start_with(&["--checkpoint", checkpoint.to_str().unwrap()])
    }

    /// Starts `kao studio` with the bundled generator.
    pub fn start_bundled() -> Server {
        Self::start_with(&[])
    }

    fn start_with(model: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kao"))
            .arg("studio")
            .args(model)
            .args(["--bind", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = lines.next().expect("kao studio printed its address").unwrap();
        let url = line.strip_prefix("kao studio: open ").unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Server { child, url: url.trim_end_matches('/').to_string() }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM, as a service manager stops a server, and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

/// Trains a tiny model for two steps with `kao train` and returns its run folder.
fn tiny_run(root: &Path, data: &Path, arch: &str) -> PathBuf {
    let run = root.join(arch);
    let mut args = vec!["train", "--data", data.to_str().unwrap(), "--output", run.to_str().unwrap()];
    args.extend(["--arch", arch, "--channels", "16", "--batch-size", "8", "--max-steps", "2", "--no-eval"]);
    let (ok, _, stderr) = common::kao(&args);
    assert!(ok, "{stderr}");
    run
}

/// Posts a face request; returns the status, the body and the named headers.
fn post_face(agent: &ureq::Agent, url: &str, body: &str) -> (u16, Vec<u8>, [Option<String>; 3]) {
    let mut response = agent.post(format!("{url}/api/face")).header("content-type", "application/json").send(body).unwrap();
    let header = |name: &str| response.headers().get(name).map(|value| value.to_str().unwrap().to_string());
    let headers = [header("x-kao-command"), header("x-kao-file-name"), header("content-type")];
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_vec().unwrap(), headers)
}

fn error_message(body: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(body).expect("errors are JSON");
    value["error"].as_str().expect("an error field").to_string()
}

/// Decodes a PNG and its tEXt chunks.
fn decode_png(bytes: &[u8]) -> (image::RgbImage, Vec<(String, String)>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let reader = decoder.read_info().unwrap();
    let text = reader.info().uncompressed_latin1_text.iter().map(|chunk| (chunk.keyword.clone(), chunk.text.clone())).collect();
    let image = image::load_from_memory(bytes).unwrap().to_rgb8();
    (image, text)
}

#[test]
fn face_png_matches_copied_command() {
    let Some(shared) = common::shared_faces_64() else { return };
    let root = tempfile::tempdir().unwrap();
    let data = common::small_dataset(&shared, root.path(), 16);
    let run = tiny_run(root.path(), &data, "stylegan");
    let server = Server::start(&run);
    let agent = agent();

    let page = agent.get(format!("{}/", server.url)).call().unwrap().body_mut().read_to_string().unwrap();
    assert!(page.contains("kao studio"), "{page}");
    let model: String = agent.get(format!("{}/api/model", server.url)).call().unwrap().body_mut().read_to_string().unwrap();
    let model: serde_json::Value = serde_json::from_str(&model).unwrap();
    assert_eq!((model["arch"].as_str(), model["resolution"].as_u64(), model["styles"].as_bool()), (Some("stylegan"), Some(64), Some(true)));
    assert_eq!(model["checkpoint"].as_str(), Some("stylegan/step-000000002"));
    assert_eq!(model["model_id"].as_str().map(str::len), Some(16));

    let request = r#"{"seed": 5, "truncation": -0.7, "coarse_strength": 1.2, "mix_seed": 9, "mix_levels": ["coarse"],
        "noise": "fine", "noise_seed": 3, "variation_seed": 11, "variation": 0.25}"#;
    let (status, png, [command, file_name, content_type]) = post_face(&agent, &server.url, request);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&png));
    assert_eq!(content_type.as_deref(), Some("image/png"));
    let (face, text) = decode_png(&png);
    assert_eq!(face.dimensions(), (64, 64));
    let settings = text.iter().find(|(keyword, _)| keyword == "kao:settings").expect("settings chunk");
    let settings: serde_json::Value = serde_json::from_str(&settings.1).unwrap();
    assert_eq!((settings["seed"].as_u64(), settings["mix_seed"].as_u64(), settings["variation_seed"].as_u64()), (Some(5), Some(9), Some(11)));
    let file_name = file_name.expect("a file name header");
    assert!(file_name.starts_with("kao-seed5_psi-0.7_coarse1.2_mix9-coarse_noise-fine"), "{file_name}");

    // The same request renders the same bytes, and the copied command writes the same face.
    assert_eq!(post_face(&agent, &server.url, request).1, png);
    let command = command.expect("a command header");
    // The command names the weights file the studio loaded, not the run folder, whose newest
    // checkpoint changes while training goes on.
    assert!(command.contains("/checkpoints/step-000000002/generator"), "{command}");
    let output = root.path().join("regenerated");
    let args: Vec<String> = command
        .strip_prefix("kao ")
        .unwrap()
        .replace("--output faces", &format!("--output {}", output.display()))
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let (ok, _, stderr) = common::kao(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ok, "{command}: {stderr}");
    let written: Vec<PathBuf> = std::fs::read_dir(&output).unwrap().map(|entry| entry.unwrap().path()).collect();
    assert_eq!(written.len(), 1);
    let regenerated = image::open(&written[0]).unwrap().to_rgb8();
    assert!(regenerated == face, "`{command}` wrote another face than the studio served");
}

#[test]
fn bundled_model_commands_omit_checkpoint() {
    let server = Server::start_bundled();
    let agent = agent();
    let model: String = agent.get(format!("{}/api/model", server.url)).call().unwrap().body_mut().read_to_string().unwrap();
    let model: serde_json::Value = serde_json::from_str(&model).unwrap();
    assert_eq!(model["checkpoint"].as_str(), Some("models/stylegan-64.safetensors"));

    let (status, png, [command, _, _]) = post_face(&agent, &server.url, r#"{"seed": 3, "truncation": 0.7}"#);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&png));
    let command = command.expect("a command header");
    assert_eq!(command, "kao generate --seed 3 --count 1 --output faces --truncation 0.7");

    let root = tempfile::tempdir().unwrap();
    let output = root.path().join("faces");
    let args = ["generate", "--seed", "3", "--count", "1", "--output", output.to_str().unwrap(), "--truncation", "0.7"];
    let (ok, _, stderr) = common::kao(&args);
    assert!(ok, "{stderr}");
    let regenerated = image::open(output.join("seed000003.png")).unwrap().to_rgb8();
    assert!(regenerated == decode_png(&png).0, "`{command}` wrote another face than the studio served");

    // SIGTERM stops the server cleanly, like Ctrl-C.
    let status = server.terminate();
    assert!(status.success(), "kao studio exited with {status} after SIGTERM");
}

#[test]
fn face_api_rejects_bad_requests() {
    let Some(shared) = common::shared_faces_64() else { return };
    let root = tempfile::tempdir().unwrap();
    let data = common::small_dataset(&shared, root.path(), 16);
    let stylegan = Server::start(&tiny_run(root.path(), &data, "stylegan"));
    let agent = agent();

    let cases = [
        (r#"{"seed": 1, "truncation": 5}"#, "invalid truncation 5: use a value from -2 to 2"),
        (r#"{"seed": 1, "fine_strength": -3}"#, "invalid fine_strength -3"),
        (r#"{"seed": 1, "noise": "loud"}"#, "unknown variant `loud`"),
        (r#"{"seed": 1, "path": "/etc/passwd"}"#, "unknown field `path`"),
        (r#"{"truncation": 1}"#, "missing field `seed`"),
        (r#"{"seed": 1, "mix_levels": ["coarse"]}"#, "mix_seed and mix_levels go together"),
        (r#"{"seed": 1, "variation": 2, "variation_seed": 4}"#, "invalid variation 2"),
        ("not json", "expected a JSON object"),
        ("[1, 2]", "expected a JSON object"),
        (r#"{"seed": 1, "mix_seed": 2, "mix_levels": ["coarse", "coarse"]}"#, "names a level twice"),
    ];
    for (body, expected) in cases {
        let (status, bytes, _) = post_face(&agent, &stylegan.url, body);
        assert_eq!(status, 400, "{body}");
        let message = error_message(&bytes);
        assert!(message.contains(expected), "{body}: {message}");
    }
    let oversized = format!(r#"{{"seed": 1, "noise_seed": 1{}}}"#, " ".repeat(20_000));
    let (status, bytes, _) = post_face(&agent, &stylegan.url, &oversized);
    assert_eq!(status, 413);
    assert!(error_message(&bytes).contains("over the limit of 16384 bytes"), "{}", error_message(&bytes));
    let mut response = agent.get(format!("{}/api/face", stylegan.url)).call().unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let message = error_message(&response.body_mut().read_to_vec().unwrap());
    assert!(message.contains("GET is not allowed on /api/face; use POST"), "{message}");
    let mut response = agent.get(format!("{}/api/faces", stylegan.url)).call().unwrap();
    assert_eq!(response.status().as_u16(), 404);
    assert!(error_message(&response.body_mut().read_to_vec().unwrap()).starts_with("no page or endpoint at /api/faces"));

    // A DCGAN model serves faces from a seed and rejects style settings by name.
    let dcgan = Server::start(&tiny_run(root.path(), &data, "dcgan"));
    let model: String = agent.get(format!("{}/api/model", dcgan.url)).call().unwrap().body_mut().read_to_string().unwrap();
    let model: serde_json::Value = serde_json::from_str(&model).unwrap();
    assert_eq!(model["styles"].as_bool(), Some(false));
    let (status, png, [command, file_name, _]) = post_face(&agent, &dcgan.url, r#"{"seed": 3}"#);
    assert_eq!(status, 200);
    // A DCGAN face depends on its seed alone, so its file name and settings record only the seed.
    assert_eq!(file_name.as_deref(), Some("kao-seed3.png"));
    let (_, text) = decode_png(&png);
    let settings = text.iter().find(|(keyword, _)| keyword == "kao:settings").expect("settings chunk");
    assert_eq!(settings.1, r#"{"seed":3}"#);
    let command = command.expect("a command header");
    assert!(command.ends_with("--seed 3 --count 1 --output faces"), "{command}");
    let (status, bytes, _) = post_face(&agent, &dcgan.url, r#"{"seed": 3, "truncation": 0.5, "noise": "none"}"#);
    assert_eq!(status, 400);
    assert!(error_message(&bytes).contains("this DCGAN model takes only a seed; remove truncation, noise"), "{}", error_message(&bytes));
}

/// Resident memory of process `pid` in KiB, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn concurrent_requests_all_succeed_with_bounded_memory() {
    let Some(shared) = common::shared_faces_64() else { return };
    let root = tempfile::tempdir().unwrap();
    let data = common::small_dataset(&shared, root.path(), 16);
    let server = Server::start(&tiny_run(root.path(), &data, "stylegan"));

    const CONCURRENT: usize = 300;
    let mut rss_after = Vec::new();
    for round in 0..3 {
        let started = Instant::now();
        let workers: Vec<_> = (0..CONCURRENT)
            .map(|index| {
                let url = server.url.clone();
                std::thread::spawn(move || {
                    let body = format!(r#"{{"seed": {}, "truncation": 0.7}}"#, round * CONCURRENT + index);
                    let sent = Instant::now();
                    let (status, png, _) = post_face(&agent(), &url, &body);
                    (status, png.len(), sent.elapsed())
                })
            })
            .collect();
        let mut latencies: Vec<Duration> = Vec::new();
        for worker in workers {
            let (status, bytes, latency) = worker.join().unwrap();
            assert_eq!(status, 200);
            assert!(bytes > 1000, "{bytes}-byte PNG");
            latencies.push(latency);
        }
        latencies.sort();
        let percentile = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
        rss_after.push(rss_kib(server.pid()));
        eprintln!(
            "round {round}: {CONCURRENT} concurrent requests in {:?}; latency p50 {:?} p90 {:?} p99 {:?}; server RSS {} MiB",
            started.elapsed(),
            percentile(50),
            percentile(90),
            percentile(99),
            rss_after[round] / 1024
        );
    }
    // The first round grows the allocator's pools; later rounds must reuse them.
    assert!(rss_after[2] <= rss_after[0] + rss_after[0] / 4 + 16 * 1024, "server memory grew: {rss_after:?} KiB");
}

/// A chromedriver child process on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Debian's chromedriver, or returns `None` with the reason printed when it is missing
/// (`.ci/run` installs the packages chromium and chromium-driver).
fn start_chromedriver() -> Option<Driver> {
    let binary = Path::new("/usr/bin/chromedriver");
    if !binary.is_file() || !Path::new("/usr/bin/chromium").is_file() {
        eprintln!("skipped: /usr/bin/chromedriver or /usr/bin/chromium is missing; install the Debian packages chromium and chromium-driver");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(binary).arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
    let deadline = Instant::now() + Duration::from_secs(30);
    while agent().get(format!("{}/status", driver.url)).call().is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(driver)
}

/// Runs `script` in the page until it returns true, for at most `seconds`.
async fn wait_for(client: &fantoccini::Client, script: &str, seconds: u64) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let value = client.execute(&format!("return Boolean({script});"), vec![]).await.unwrap();
        if value.as_bool() == Some(true) {
            return;
        }
        assert!(Instant::now() < deadline, "the page never satisfied: {script}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn text_of(client: &fantoccini::Client, script: &str) -> String {
    let value = client.execute(&format!("return String({script});"), vec![]).await.unwrap();
    value.as_str().unwrap().to_string()
}

/// Sets a form control's value and fires the events a user's change would.
async fn set_value(client: &fantoccini::Client, id: &str, value: &str) {
    let script = format!(
        "const e = document.getElementById('{id}'); e.value = '{value}'; \
         e.dispatchEvent(new Event('input', {{bubbles: true}})); e.dispatchEvent(new Event('change', {{bubbles: true}}));"
    );
    client.execute(&script, vec![]).await.unwrap();
}

/// Saves a screenshot of the page to `path` and checks that the first face in it is an image
/// with many colours rather than an empty or one-colour box.
async fn screenshot_showing_faces(client: &fantoccini::Client, path: &Path, face_selector: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(path, &png).unwrap();
    let rect = client
        .execute(
            &format!("const r = document.querySelector('{face_selector}').getBoundingClientRect(); const d = window.devicePixelRatio; return [r.x * d, r.y * d, r.width * d, r.height * d];"),
            vec![],
        )
        .await
        .unwrap();
    let rect: Vec<u32> = rect.as_array().unwrap().iter().map(|v| v.as_f64().unwrap().max(0.0) as u32).collect();
    let shot = image::load_from_memory(&png).unwrap().to_rgb8();
    let face = image::imageops::crop_imm(&shot, rect[0], rect[1], rect[2].max(8), rect[3].max(8)).to_image();
    let colours: std::collections::HashSet<[u8; 3]> = face.pixels().map(|p| p.0).collect();
    assert!(colours.len() > 200, "{}: the face at {rect:?} has only {} colours", path.display(), colours.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn studio_page_works_in_headless_chromium() {
    let Some(driver) = start_chromedriver() else { return };
    let root = tempfile::tempdir().unwrap();
    // The bundled generator draws real faces for the screenshots (docs/studio/ contains copies);
    // KAO_STUDIO_CHECKPOINT points the test at another 64 px StyleGAN run.
    let server = match std::env::var_os("KAO_STUDIO_CHECKPOINT") {
        Some(run) => Server::start(Path::new(&run)),
        None => Server::start_bundled(),
    };
    let downloads = root.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("studio-screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    let options = serde_json::json!({
        "binary": "/usr/bin/chromium",
        "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000", "--lang=en-US"],
        "prefs": { "download.default_directory": downloads.to_str().unwrap(), "download.prompt_for_download": false,
                   "intl.accept_languages": "en-US" },
    });
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), options);
    let client = fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .unwrap();

    // The grid: 12 faces, each loaded and labelled with its seed.
    client.goto(&format!("{}/", server.url)).await.unwrap();
    let faces_loaded = "[...document.querySelectorAll('#grid .face img')].filter(i => i.complete && i.naturalWidth > 0).length >= 12";
    wait_for(&client, faces_loaded, 120).await;
    assert_eq!(text_of(&client, "document.documentElement.lang").await, "en");
    let english_more = text_of(&client, "document.getElementById('more').textContent").await;
    screenshot_showing_faces(&client, &shots.join("grid.png"), "#grid .face img").await;

    // Open the first face in the editor.
    let seeds: Vec<String> = client
        .execute("return [...document.querySelectorAll('#grid .face')].map(f => f.dataset.seed);", vec![])
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|seed| seed.as_str().unwrap().to_string())
        .collect();
    client.find(fantoccini::Locator::Css("#grid .face")).await.unwrap().click().await.unwrap();
    wait_for(&client, "!document.getElementById('editor').hidden && document.getElementById('editor-image').naturalWidth > 0", 60).await;
    assert_eq!(text_of(&client, "document.getElementById('editor-seed').textContent").await.trim(), seeds[0]);

    // Negative style strength: the anti-face. Each change must render a new image.
    let image_changed = |before: &str| format!("document.getElementById('editor-image').src !== '{before}' && document.getElementById('editor-image').complete");
    let before = text_of(&client, "document.getElementById('editor-image').src").await;
    set_value(&client, "strength", "-1").await;
    wait_for(&client, &image_changed(&before), 60).await;

    // Mix in the coarse styles of the second face.
    let before = text_of(&client, "document.getElementById('editor-image').src").await;
    set_value(&client, "mix-seed", &seeds[1]).await;
    client.find(fantoccini::Locator::Id("mix-coarse")).await.unwrap().click().await.unwrap();
    wait_for(&client, &image_changed(&before), 60).await;
    wait_for(&client, "document.querySelectorAll('#variations .variation img').length >= 6", 60).await;

    // The copied command carries every setting once the mixed face has rendered (the seed's
    // input event renders once before the level's checkbox is ticked, so poll).
    let mix = format!("--mix-seed {} --mix-levels coarse", seeds[1]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let command = loop {
        client.find(fantoccini::Locator::Id("copy-command")).await.unwrap().click().await.unwrap();
        let command = text_of(&client, "document.getElementById('command').textContent").await;
        if command.contains(&mix) || Instant::now() > deadline {
            break command;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(command.contains(&mix), "{command}");
    assert!(command.contains("--truncation -1"), "{command}");
    screenshot_showing_faces(&client, &shots.join("editor.png"), "#editor-image").await;

    // A favourite keeps the face and lists what sets it apart from the plain face of its seed.
    client.find(fantoccini::Locator::Id("favourite")).await.unwrap().click().await.unwrap();
    wait_for(&client, "document.querySelectorAll('#favourites li').length === 1", 10).await;
    let label = text_of(&client, "document.querySelector('#favourites .favourite-label').textContent").await;
    assert_eq!(label, format!("Seed {}, ψ -1", seeds[0]));
    let extras = text_of(&client, "document.querySelector('#favourites .favourite-extras').textContent").await;
    assert_eq!(extras, format!("mix {} coarse", seeds[1]));

    // Spanish: every string switches, and the page declares its language.
    set_value(&client, "lang", "es").await;
    wait_for(&client, "document.documentElement.lang === 'es'", 10).await;
    let spanish_more = text_of(&client, "document.getElementById('more').textContent").await;
    assert_ne!(spanish_more, english_more);
    screenshot_showing_faces(&client, &shots.join("editor-es.png"), "#editor-image").await;

    // Download: a PNG named after its settings, with the settings inside.
    client.find(fantoccini::Locator::Id("download")).await.unwrap().click().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let file = loop {
        let done: Vec<PathBuf> = std::fs::read_dir(&downloads)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|extension| extension == "png"))
            .collect();
        if let Some(file) = done.into_iter().next() {
            break file;
        }
        assert!(Instant::now() < deadline, "no download arrived in {}", downloads.display());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(&format!("kao-seed{}_psi-1_", seeds[0])), "{name}");
    assert!(name.contains(&format!("mix{}-coarse", seeds[1])), "{name}");
    let (face, text) = decode_png(&std::fs::read(&file).unwrap());
    assert_eq!(face.dimensions(), (64, 64));
    let command = text.iter().find(|(keyword, _)| keyword == "kao:command").expect("a command chunk");
    assert!(command.1.contains("--truncation -1"), "{text:?}");

    // A seed typed by hand opens that face, beyond the range the grid draws from.
    set_value(&client, "open-seed", "123456789012345").await;
    client.find(fantoccini::Locator::Id("open-seed-button")).await.unwrap().click().await.unwrap();
    wait_for(&client, "document.getElementById('editor-seed').textContent === '123456789012345'", 30).await;

    client.close().await.unwrap();
    eprintln!("screenshots in {}", shots.display());
}
