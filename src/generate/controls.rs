//! The character designer's StyleGAN controls: truncation and per-level style strength,
//! style mixing by level, and noise modes.
//!
//! Levels follow the StyleGAN paper. Coarse styles (4 and 8 px layers) set pose, hair and face
//! shape, middle styles (16 and 32 px) the facial features, and fine styles (64 px and up) the
//! colouring. At 64 px, coarse is ws 0-2, middle ws 3-6 and fine ws 7-9; at 128 px fine is
//! ws 7-11.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::model::stylegan::NoiseMode;

/// Allowed range of the truncation psi and of per-level strengths.
pub const STRENGTH_RANGE: std::ops::RangeInclusive<f32> = -2.0..=2.0;

/// Allowed range of a variation's step in w.
pub const VARIATION_RANGE: std::ops::RangeInclusive<f32> = -1.0..=1.0;

/// A group of synthesis layers that a control acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Layers at 4 and 8 px: pose, hair, face shape.
    Coarse,
    /// Layers at 16 and 32 px: facial features.
    Middle,
    /// Layers at 64 px and above: colouring and fine detail.
    Fine,
}

impl Level {
    /// Returns the level of a layer that renders at `size` pixels.
    pub fn of_size(size: usize) -> Level {
        match size {
            0..=8 => Level::Coarse,
            9..=32 => Level::Middle,
            _ => Level::Fine,
        }
    }
}

/// Output size in pixels of the layer that each w of `ws` drives, for a `resolution` model.
/// Index 0 drives the 4 px convolution; each later size has two convolutions, and the last
/// index drives the final toRGB layer.
pub fn ws_sizes(resolution: usize) -> Vec<usize> {
    let mut sizes = vec![4];
    let mut size = 8;
    while size <= resolution {
        sizes.extend([size, size]);
        size *= 2;
    }
    sizes.push(resolution);
    sizes
}

/// Returns true when a noise mode adds noise to a layer of `size` pixels. Coarse noise acts up to
/// 16 px (large-scale hair curls), fine noise from 32 px on (texture).
pub fn noise_applies(mode: NoiseMode, size: usize) -> bool {
    match mode {
        NoiseMode::All => true,
        NoiseMode::Coarse => size <= 16,
        NoiseMode::Fine => size >= 32,
        NoiseMode::None => false,
    }
}

/// Settings that shape one StyleGAN face beyond its seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Controls {
    /// Truncation psi: w = w_avg + psi (w - w_avg). 1 is the trained distribution, between 0
    /// and 1 less varied, above 1 exaggerated, below 0 the "anti-face".
    pub truncation: f32,
    /// Per-level psi overriding `truncation` for that level's layers.
    pub coarse_strength: Option<f32>,
    pub middle_strength: Option<f32>,
    pub fine_strength: Option<f32>,
    /// Second face whose styles replace the first's at `mix_levels`.
    pub mix_seed: Option<u64>,
    pub mix_levels: Vec<Level>,
    /// Layers that get noise.
    pub noise: NoiseMode,
    /// Seed of the noise maps; `None` derives it from the face's seed.
    pub noise_seed: Option<u64>,
    /// Seed of the face that a variation steps toward; with `variation`, w becomes
    /// `w + variation * (w_other - w_avg)` before mixing and truncation.
    #[serde(default)]
    pub variation_seed: Option<u64>,
    /// Step size of the variation, from -1 to 1: small values (about 0.2 to 0.3) keep the face
    /// recognisable while changing it.
    #[serde(default)]
    pub variation: f32,
}

impl Default for Controls {
    fn default() -> Self {
        Self {
            truncation: 1.0,
            coarse_strength: None,
            middle_strength: None,
            fine_strength: None,
            mix_seed: None,
            mix_levels: Vec::new(),
            noise: NoiseMode::All,
            noise_seed: None,
            variation_seed: None,
            variation: 0.0,
        }
    }
}

impl Controls {
    /// Checks ranges and combinations, naming the option and the fix.
    pub fn validate(&self) -> Result<()> {
        let strengths = [
            ("--truncation", Some(self.truncation)),
            ("--coarse-strength", self.coarse_strength),
            ("--middle-strength", self.middle_strength),
            ("--fine-strength", self.fine_strength),
        ];
        for (name, value) in strengths {
            if let Some(value) = value.filter(|value| !STRENGTH_RANGE.contains(value)) {
                bail!("invalid {name} {value}: use a value from -2 to 2");
            }
        }
        if self.mix_seed.is_some() && self.mix_levels.is_empty() {
            bail!("--mix-seed needs --mix-levels, for example --mix-levels coarse");
        }
        if self.mix_seed.is_none() && !self.mix_levels.is_empty() {
            bail!("--mix-levels needs --mix-seed, the face whose styles are mixed in");
        }
        if !(VARIATION_RANGE.contains(&self.variation)) {
            bail!("invalid --variation {}: use a step from -1 to 1, such as 0.25", self.variation);
        }
        if self.variation != 0.0 && self.variation_seed.is_none() {
            bail!("--variation needs --variation-seed, the face that the variation steps toward");
        }
        Ok(())
    }

    /// Lists the options set away from their defaults, which a DCGAN model cannot honour.
    pub fn changed_options(&self) -> Vec<&'static str> {
        let defaults = Controls::default();
        let changes = [
            ("--truncation", self.truncation != defaults.truncation),
            ("--coarse-strength", self.coarse_strength.is_some()),
            ("--middle-strength", self.middle_strength.is_some()),
            ("--fine-strength", self.fine_strength.is_some()),
            ("--mix-seed", self.mix_seed.is_some()),
            ("--noise", self.noise != defaults.noise),
            ("--noise-seed", self.noise_seed.is_some()),
            ("--variation-seed", self.variation_seed.is_some()),
        ];
        changes.into_iter().filter(|(_, changed)| *changed).map(|(name, _)| name).collect()
    }

    /// Returns the psi applied at a layer of `size` pixels.
    pub fn strength_at(&self, size: usize) -> f32 {
        let level_strength = match Level::of_size(size) {
            Level::Coarse => self.coarse_strength,
            Level::Middle => self.middle_strength,
            Level::Fine => self.fine_strength,
        };
        level_strength.unwrap_or(self.truncation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_sizes_match_num_ws() {
        assert_eq!(ws_sizes(64), [4, 8, 8, 16, 16, 32, 32, 64, 64, 64]);
        assert_eq!(ws_sizes(128).len(), crate::model::stylegan::num_ws(128));
    }

    #[test]
    fn levels_split_at_8_and_32_px() {
        let levels: Vec<Level> = ws_sizes(64).into_iter().map(Level::of_size).collect();
        assert_eq!(&levels[..3], [Level::Coarse; 3]);
        assert_eq!(&levels[3..7], [Level::Middle; 4]);
        assert_eq!(&levels[7..], [Level::Fine; 3]);
    }

    #[test]
    fn invalid_controls_name_the_option() {
        let far = Controls { truncation: 2.5, ..Controls::default() };
        assert!(far.validate().unwrap_err().to_string().contains("--truncation 2.5"));
        let unmixed = Controls { mix_levels: vec![Level::Coarse], ..Controls::default() };
        assert!(unmixed.validate().unwrap_err().to_string().contains("--mix-levels needs --mix-seed"));
    }
}
