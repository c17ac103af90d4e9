//! The studio's HTTP API types: the face request (JSON in), its validation with messages that
//! name the field, and the PNG response with the settings in text chunks, a file name and the
//! equivalent `kao generate` command.

use std::io::Cursor;
use std::path::Path;

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::generate::controls::{Controls, Level, STRENGTH_RANGE, VARIATION_RANGE};
use crate::model::stylegan::NoiseMode;

/// Largest request body accepted, in bytes; a face request is about 300 bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Largest seed the page accepts, the largest integer JavaScript numbers hold exactly
/// (2^53 - 1); the API itself accepts any 64-bit seed.
pub const MAX_PAGE_SEED: u64 = (1 << 53) - 1;

/// Body of `POST /api/face`: one face and its settings. Every field but `seed` is optional.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaceRequest {
    /// Seed of the face's latent z.
    pub seed: u64,
    /// Truncation psi, from -2 to 2 (`--truncation`).
    #[serde(default = "default_truncation")]
    pub truncation: f32,
    /// Per-level psi overriding `truncation`, from -2 to 2.
    #[serde(default)]
    pub coarse_strength: Option<f32>,
    #[serde(default)]
    pub middle_strength: Option<f32>,
    #[serde(default)]
    pub fine_strength: Option<f32>,
    /// Seed of the face whose styles replace this one's at `mix_levels`.
    #[serde(default)]
    pub mix_seed: Option<u64>,
    #[serde(default)]
    pub mix_levels: Vec<Level>,
    /// Layers that get noise: all, coarse, fine or none.
    #[serde(default)]
    pub noise: Option<NoiseMode>,
    /// Seed of the noise maps; `null` uses the face's seed.
    #[serde(default)]
    pub noise_seed: Option<u64>,
    /// Seed of the face a variation steps toward, and the step from -1 to 1.
    #[serde(default)]
    pub variation_seed: Option<u64>,
    #[serde(default)]
    pub variation: f32,
}

fn default_truncation() -> f32 {
    1.0
}

impl FaceRequest {
    /// Parses a request body; the error names the field or the JSON problem.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        const EXPECTED: &str = "expected a JSON object such as {\"seed\": 42}";
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|error| format!("invalid request body ({EXPECTED}): {error}"))?;
        // serde would also read a struct from an array of its fields in order.
        if !value.is_object() {
            return Err(format!("invalid request body: {EXPECTED}"));
        }
        let request: FaceRequest = serde_json::from_value(value).map_err(|error| format!("invalid request body: {error}"))?;
        request.validate()?;
        Ok(request)
    }

    /// Checks each field's range and the fields that need each other.
    fn validate(&self) -> Result<(), String> {
        let strengths = [
            ("truncation", Some(self.truncation)),
            ("coarse_strength", self.coarse_strength),
            ("middle_strength", self.middle_strength),
            ("fine_strength", self.fine_strength),
        ];
        for (name, value) in strengths {
            if let Some(value) = value.filter(|value| !STRENGTH_RANGE.contains(value)) {
                return Err(format!("invalid {name} {value}: use a value from -2 to 2"));
            }
        }
        let unique: std::collections::HashSet<&Level> = self.mix_levels.iter().collect();
        if unique.len() != self.mix_levels.len() {
            return Err("mix_levels names a level twice; list each of coarse, middle and fine at most once".into());
        }
        if self.mix_seed.is_some() != !self.mix_levels.is_empty() {
            return Err("mix_seed and mix_levels go together: give both (for example mix_levels [\"coarse\"]) or neither".into());
        }
        if !VARIATION_RANGE.contains(&self.variation) {
            return Err(format!("invalid variation {}: use a step from -1 to 1, such as 0.25", self.variation));
        }
        if self.variation != 0.0 && self.variation_seed.is_none() {
            return Err("variation needs variation_seed, the face that the variation steps toward".into());
        }
        Ok(())
    }

    /// Returns the generator controls of this request.
    pub fn controls(&self) -> Controls {
        Controls {
            truncation: self.truncation,
            coarse_strength: self.coarse_strength,
            middle_strength: self.middle_strength,
            fine_strength: self.fine_strength,
            mix_seed: self.mix_seed,
            mix_levels: self.mix_levels.clone(),
            noise: self.noise.unwrap_or(NoiseMode::All),
            noise_seed: self.noise_seed,
            variation_seed: self.variation_seed,
            variation: self.variation,
        }
    }

    /// Names the request's style settings, which a DCGAN model cannot honour, as JSON fields.
    pub fn style_fields(&self) -> Vec<String> {
        // The command-line flags map one to one onto the fields: `--mix-seed` is `mix_seed`.
        let flags = self.controls().changed_options();
        flags.into_iter().map(|flag| flag.trim_start_matches("--").replace('-', "_")).collect()
    }

    /// Returns a download file name that lists the seed and, for a model with `styles`, every
    /// setting away from its default.
    pub fn file_name(&self, styles: bool) -> String {
        if !styles {
            return format!("kao-seed{}.png", self.seed);
        }
        let mut parts = vec![format!("kao-seed{}", self.seed), format!("psi{}", self.truncation)];
        let levels = [("coarse", self.coarse_strength), ("middle", self.middle_strength), ("fine", self.fine_strength)];
        parts.extend(levels.iter().filter_map(|(name, value)| value.map(|value| format!("{name}{value}"))));
        if let Some(seed) = self.mix_seed {
            let levels: Vec<&str> = self.mix_levels.iter().map(|level| level_name(*level)).collect();
            parts.push(format!("mix{seed}-{}", levels.join("+")));
        }
        parts.push(format!("noise-{}", noise_name(self.noise.unwrap_or(NoiseMode::All))));
        if let Some(seed) = self.noise_seed {
            parts.push(format!("noiseseed{seed}"));
        }
        if let Some(seed) = self.variation_seed {
            parts.push(format!("var{seed}x{}", self.variation));
        }
        format!("{}.png", parts.join("_"))
    }

    /// Returns the `kao generate` command that writes this face, for a generator at
    /// `checkpoint` (`None`: the bundled generator, which needs no `--checkpoint`).
    pub fn command(&self, checkpoint: Option<&Path>) -> String {
        let mut args = vec!["kao generate".to_string()];
        if let Some(checkpoint) = checkpoint {
            args.push(format!("--checkpoint {}", shell_quote(&checkpoint.display().to_string())));
        }
        args.push(format!("--seed {}", self.seed));
        args.push("--count 1 --output faces".to_string());
        if self.truncation != default_truncation() {
            args.push(format!("--truncation {}", self.truncation));
        }
        let levels = [("coarse", self.coarse_strength), ("middle", self.middle_strength), ("fine", self.fine_strength)];
        for (name, value) in levels {
            if let Some(value) = value {
                args.push(format!("--{name}-strength {value}"));
            }
        }
        if let Some(seed) = self.mix_seed {
            let levels: Vec<&str> = self.mix_levels.iter().map(|level| level_name(*level)).collect();
            args.push(format!("--mix-seed {seed} --mix-levels {}", levels.join(",")));
        }
        if let Some(noise) = self.noise.filter(|noise| *noise != NoiseMode::All) {
            args.push(format!("--noise {}", noise_name(noise)));
        }
        if let Some(seed) = self.noise_seed {
            args.push(format!("--noise-seed {seed}"));
        }
        if let Some(seed) = self.variation_seed {
            args.push(format!("--variation-seed {seed} --variation {}", self.variation));
        }
        args.join(" ")
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Coarse => "coarse",
        Level::Middle => "middle",
        Level::Fine => "fine",
    }
}

fn noise_name(noise: NoiseMode) -> &'static str {
    match noise {
        NoiseMode::All => "all",
        NoiseMode::Coarse => "coarse",
        NoiseMode::Fine => "fine",
        NoiseMode::None => "none",
    }
}

/// Quotes `text` for a POSIX shell when it contains anything beyond safe path characters.
fn shell_quote(text: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+:=@,".contains(c);
    match text.chars().all(safe) && !text.is_empty() {
        true => text.to_string(),
        false => format!("'{}'", text.replace('\'', r"'\''")),
    }
}

/// Encodes `image` as PNG with `text` entries as tEXt chunks (Latin-1 keywords and values).
pub fn encode_png(image: &RgbImage, text: &[(&str, String)]) -> Result<Vec<u8>, png::EncodingError> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(Cursor::new(&mut bytes), image.width(), image.height());
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    for (keyword, value) in text {
        encoder.add_text_chunk(keyword.to_string(), value.clone())?;
    }
    let mut writer = encoder.write_header()?;
    writer.write_image_data(image.as_raw())?;
    writer.finish()?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_errors_name_the_field() {
        let error = FaceRequest::parse(br#"{"seed": 1, "truncation": 5}"#).unwrap_err();
        assert_eq!(error, "invalid truncation 5: use a value from -2 to 2");
        let error = FaceRequest::parse(br#"{"seed": 1, "colour": 5}"#).unwrap_err();
        assert!(error.contains("unknown field `colour`"), "{error}");
        let error = FaceRequest::parse(br#"{"seed": -1}"#).unwrap_err();
        assert!(error.starts_with("invalid request body"), "{error}");
        let error = FaceRequest::parse(br#"{"seed": 1, "mix_seed": 2}"#).unwrap_err();
        assert!(error.starts_with("mix_seed and mix_levels go together"), "{error}");
        let error = FaceRequest::parse(b"[1, 2]").unwrap_err();
        assert!(error.contains("expected a JSON object"), "{error}");
        let error = FaceRequest::parse(br#"{"seed": 1, "mix_seed": 2, "mix_levels": ["fine", "coarse", "fine"]}"#).unwrap_err();
        assert!(error.starts_with("mix_levels names a level twice"), "{error}");
        let error = FaceRequest::parse(br#"{"seed": 1, "variation": 0.3}"#).unwrap_err();
        assert!(error.starts_with("variation needs variation_seed"), "{error}");
    }

    #[test]
    fn command_and_file_name_list_every_setting() {
        let body = br#"{"seed": 7, "truncation": -0.5, "coarse_strength": 0.8, "mix_seed": 9, "mix_levels": ["coarse", "fine"],
            "noise": "fine", "noise_seed": 3, "variation_seed": 11, "variation": 0.25}"#;
        let request = FaceRequest::parse(body).unwrap();
        assert_eq!(
            request.command(Some(Path::new("/runs/my run"))),
            "kao generate --checkpoint '/runs/my run' --seed 7 --count 1 --output faces --truncation -0.5 \
             --coarse-strength 0.8 --mix-seed 9 --mix-levels coarse,fine --noise fine --noise-seed 3 \
             --variation-seed 11 --variation 0.25"
        );
        assert_eq!(request.file_name(false), "kao-seed7.png");
        assert_eq!(request.file_name(true), "kao-seed7_psi-0.5_coarse0.8_mix9-coarse+fine_noise-fine_noiseseed3_var11x0.25.png");
    }
}
