//! `kao studio`: a web page, served by the kao binary itself, where a designer browses
//! generated faces and tunes one with the StyleGAN controls. The page is embedded in the
//! binary; the HTTP API takes JSON and returns PNG (see README.md, "kao studio").
//!
//! Requests never touch the file system: the generator is loaded once at start, and a request
//! only names seeds and settings. One face renders at a time, using every core; up to
//! [`MAX_WAITING`] requests wait for their turn and later ones get 503.

pub mod api;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tracing::{info, warn};

use crate::generate::LoadedGenerator;
use crate::generate::weights::{BUNDLED_FILE, Weights};
use crate::model::Arch;
use crate::train::checkpoint::STATE_FILE;
use api::{FaceRequest, MAX_BODY_BYTES, MAX_PAGE_SEED, encode_png};

/// The page, with its styles, scripts and both languages' strings.
const PAGE: &str = include_str!("page.html");

/// Requests that may wait for the generator at once; more get 503 so memory stays bounded.
pub const MAX_WAITING: usize = 512;

/// Server state: the generator and the weights file it came from.
pub struct Studio {
    generator: Mutex<LoadedGenerator>,
    /// The generator weights file, made absolute, for the commands the page copies. A run
    /// folder would select whatever checkpoint is newest when the command runs. `None` is the
    /// bundled generator, which commands select by leaving out `--checkpoint`.
    weights: Option<PathBuf>,
    /// The run and checkpoint folder names, such as `style64/step-000007100`.
    label: String,
    /// The first 16 hex digits of the weights file's SHA-256.
    model_id: String,
    waiting: Semaphore,
    /// Whether the model takes style controls (StyleGAN) or only a seed (DCGAN).
    styles: bool,
}

/// Response body of `GET /api/model`.
#[derive(Serialize)]
struct ModelInfo {
    arch: &'static str,
    resolution: usize,
    /// False for DCGAN models, which take no style controls.
    styles: bool,
    checkpoint: String,
    /// Hash of the weights, which distinguishes models and checkpoints.
    model_id: String,
    levels: [&'static str; 3],
    noise_modes: [&'static str; 4],
    strength_min: f32,
    strength_max: f32,
    max_seed: u64,
}

impl Studio {
    /// Wraps a generator loaded from `weights`, which the copied commands name.
    pub fn new(generator: LoadedGenerator, weights: &Weights) -> Self {
        let model_id = Sha256::digest(weights.bytes()).iter().take(8).map(|byte| format!("{byte:02x}")).collect();
        let path = weights.path().map(|path| std::path::absolute(path).unwrap_or_else(|_| path.to_owned()));
        let label = match &path {
            Some(path) => checkpoint_label(path),
            None => BUNDLED_FILE.to_string(),
        };
        let styles = generator.has_styles();
        Self { generator: Mutex::new(generator), weights: path, label, model_id, waiting: Semaphore::new(MAX_WAITING), styles }
    }

    fn model_info(&self) -> ModelInfo {
        let generator = self.generator.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let config = &generator.config;
        ModelInfo {
            arch: match config.arch {
                Arch::Dcgan => "dcgan",
                Arch::StyleGan => "stylegan",
            },
            resolution: config.resolution,
            styles: generator.has_styles(),
            checkpoint: self.label.clone(),
            model_id: self.model_id.clone(),
            levels: ["coarse", "middle", "fine"],
            noise_modes: ["all", "coarse", "fine", "none"],
            strength_min: -2.0,
            strength_max: 2.0,
            max_seed: MAX_PAGE_SEED,
        }
    }

    /// Renders one face as PNG bytes with its settings in text chunks; returns the PNG and the
    /// render time in milliseconds.
    fn render(&self, request: &FaceRequest) -> Result<(Vec<u8>, f64), ApiError> {
        let generator = self.generator.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !generator.has_styles() {
            let fields = request.style_fields();
            if !fields.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "this DCGAN model takes only a seed; remove {} (style controls need a StyleGAN model)",
                    fields.join(", ")
                )));
            }
        }
        let started = Instant::now();
        let images = generator.render(&[request.seed], &request.controls()).map_err(|error| ApiError::bad_request(format!("{error:#}")))?;
        let milliseconds = started.elapsed().as_secs_f64() * 1000.0;
        drop(generator);

        // A DCGAN face depends on its seed alone, so its settings chunk records only that.
        let settings = match self.styles {
            true => serde_json::to_string(request).map_err(ApiError::internal)?,
            false => serde_json::json!({ "seed": request.seed }).to_string(),
        };
        let text = [
            ("Software", format!("kao {}", env!("CARGO_PKG_VERSION"))),
            ("kao:settings", settings),
            ("kao:command", request.command(self.weights.as_deref())),
        ];
        let png = encode_png(&images[0], &text).map_err(ApiError::internal)?;
        Ok((png, milliseconds))
    }
}

/// An error response: a status and a JSON body `{"error": message}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn bad_request(message: String) -> Self {
        Self { status: StatusCode::BAD_REQUEST, message }
    }

    fn internal(error: impl std::fmt::Display) -> Self {
        Self { status: StatusCode::INTERNAL_SERVER_ERROR, message: error.to_string() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        info!(status = self.status.as_u16(), "rejected a request: {}", self.message);
        let body = serde_json::json!({ "error": self.message });
        (self.status, axum::Json(body)).into_response()
    }
}

/// Builds the router: the page, the model description and the face endpoint.
pub fn router(studio: Arc<Studio>) -> Router {
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/api/face", post(face_handler).fallback(method_not_allowed))
        .route("/api/model", get(model_handler).fallback(method_not_allowed))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(studio)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError { status: StatusCode::NOT_FOUND, message: format!("no page or endpoint at {uri}; the API is GET /api/model and POST /api/face") }
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    let allowed = if uri.path() == "/api/face" { "POST" } else { "GET" };
    ApiError { status: StatusCode::METHOD_NOT_ALLOWED, message: format!("{method} is not allowed on {uri}; use {allowed}") }
}

async fn model_handler(State(studio): State<Arc<Studio>>) -> impl IntoResponse {
    axum::Json(studio.model_info())
}

async fn face_handler(
    State(studio): State<Arc<Studio>>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|rejection| ApiError {
        status: rejection.status(),
        message: match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => format!("request body over the limit of {MAX_BODY_BYTES} bytes; a face request is a small JSON object"),
            _ => format!("cannot read the request body: {rejection}"),
        },
    })?;
    let request = FaceRequest::parse(&body).map_err(ApiError::bad_request)?;
    let file_name = request.file_name(studio.styles);
    let command = request.command(studio.weights.as_deref());
    let rendering = studio.clone();
    let Ok(_permit) = studio.waiting.try_acquire() else {
        let message = format!("busy: {MAX_WAITING} requests are already waiting; retry in a moment");
        return Err(ApiError { status: StatusCode::SERVICE_UNAVAILABLE, message });
    };
    let (png, milliseconds) = tokio::task::spawn_blocking(move || rendering.render(&request))
        .await
        .map_err(ApiError::internal)??;

    let mut response = (StatusCode::OK, png).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The values are ASCII except for a checkpoint path with other characters. Such a header
    // is dropped rather than failing the face, because the PNG's text chunks still carry it.
    for (name, value) in [("x-kao-file-name", file_name), ("x-kao-command", command), ("x-kao-render-ms", format!("{milliseconds:.1}"))] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    Ok(response)
}

/// Serves the studio on `listener` until Ctrl-C.
/// Waits for Ctrl-C (SIGINT) or, on Unix, SIGTERM, the signal service managers stop with.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(error) => {
                warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the studio cleanly");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

pub async fn serve(listener: tokio::net::TcpListener, studio: Arc<Studio>) -> Result<()> {
    let address = listener.local_addr()?;
    if !address.ip().is_loopback() {
        warn!(%address, "kao studio is reachable from other machines on this address; it has no login, so bind to 127.0.0.1 unless that is intended");
    }
    // Printed on stdout, not logged, so scripts and tests can read the address. An
    // unspecified address (0.0.0.0) listens everywhere but cannot be opened as such.
    match address.ip().is_unspecified() {
        true => println!("kao studio: open http://127.0.0.1:{}/ (or this machine's address on the network)", address.port()),
        false => println!("kao studio: open http://{address}/"),
    }
    info!("press Ctrl-C to stop");
    axum::serve(listener, router(studio))
        .with_graceful_shutdown(stop_signal())
        .await
        .context("the studio server failed")?;
    info!("kao studio stopped");
    Ok(())
}

/// Serves the studio on `listener`, bound before the generator loaded so that a busy port
/// fails fast; blocks until Ctrl-C.
pub fn run(studio: Studio, listener: std::net::TcpListener) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("failed to start the server's runtime")?;
    runtime.block_on(async move {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        serve(listener, Arc::new(studio)).await
    })
}

/// Names a weights file for the page: a file inside RUN/checkpoints/step-N/ by its run and
/// step (`style64/step-000007100`), any other file by its name.
fn checkpoint_label(weights: &Path) -> String {
    let folders: Vec<String> = weights
        .ancestors()
        .skip(1)
        .filter_map(|folder| folder.file_name().map(|name| name.to_string_lossy().into_owned()))
        .filter(|name| name != "checkpoints")
        .take(2)
        .collect();
    match weights.parent().is_some_and(|folder| folder.join(STATE_FILE).is_file()) {
        true => folders.iter().rev().cloned().collect::<Vec<_>>().join("/"),
        false => weights.file_name().unwrap_or_default().to_string_lossy().into_owned(),
    }
}
